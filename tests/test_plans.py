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
