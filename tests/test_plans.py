"""kd.studies: every notebook's plan, its pinned run keys, and the package's import graph."""
import json
from pathlib import Path

import pytest

from kd import studies

PINNED = json.loads((Path(__file__).parent / "plan_keys_cpu.json").read_text())


@pytest.mark.parametrize("nb", sorted(PINNED))
def test_cpu_plan_keys_are_pinned(nb):
    """Moving code must not change a run key: the `cpu` plan of every notebook gives the keys
    pinned in plan_keys_cpu.json (regenerate that file only when keys change on purpose, and
    say so in the commit)."""
    got = [[j.config.key(), j.record_gradients] for j in studies.plan(nb, "cpu")]
    assert got == PINNED[nb]


def test_every_numbered_notebook_but_the_scoreboard_has_a_plan():
    notebooks = sorted(p.name[:2] for p in (Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert [nb for nb in notebooks if nb != "00"] == studies.notebook_numbers()


def test_unknown_notebook_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="nb='99' has no plan; allowed: 01, 10"):
        studies.plan("99", "cpu")


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_noise_setting_is_an_arm_of_its_notebook_over_its_own_seeds(profile):
    for nb in studies.notebook_numbers():
        planned = {j.config.key() for j in studies.plan(nb, profile, noise_runs=False)}
        for setting, (control, seeds) in studies.noise_settings(nb, profile).items():
            assert control.key() in planned, f"notebook {nb}: noise setting {setting!r} is not an arm it trains"
            jobs = studies.noise_jobs(nb, setting, profile)
            assert [j.config for j in jobs] == [control.with_(seed=s) for s in seeds] and len(set(seeds)) >= 2
            assert {j.config.key() for j in jobs} <= {j.config.key() for j in studies.plan(nb, profile)}


NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name[:2])
def test_a_notebook_gets_its_noise_only_from_its_own_settings(path):
    """No noise number typed in or borrowed: a notebook's kd.Noise comes from
    kd.studies.noise(<its own number>, ...), never from kd.Noise(...), Noise.of, seed_noise or
    another notebook's settings."""
    import re
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    for banned in ("Noise(", "Noise.of(", "seed_noise(", "noise_std"):
        assert banned not in code, f"{path.name} builds or passes a noise itself ({banned})"
    for nb in re.findall(r"studies\.noise\(\s*[\"']?(\d\d)", code):
        assert nb == path.name[:2], f"{path.name} borrows notebook {nb}'s noise"
    for match in re.finditer(r"studies\.noise\(\s*([A-Za-z_]\w*)", code):      # the notebook's own NB variable
        assert re.search(rf"^{match.group(1)}(\s*,\s*\w+)*\s*=\s*[\"']{path.name[:2]}[\"']", code, re.M), \
            f"{path.name}: studies.noise({match.group(1)}, ...) must name this notebook"
