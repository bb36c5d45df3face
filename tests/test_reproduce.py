import json
import os
import shutil
from pathlib import Path

import pytest

from kd import paths
from kd.reproduce import fingerprint, notebooks


def _notebook(path: Path, code: str, output: str = "", injected: str | None = None) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# claim"]},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": [code],
              "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}],
              "execution_count": None}]
    if injected is not None:
        cells.insert(2, {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                         "source": [injected], "outputs": [], "execution_count": None})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(root / "kd", tmp_path / "kd")
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    return tmp_path


def test_fingerprint_tracks_code_not_outputs_or_injected_parameters(project):
    nb = project / "notebooks" / "10_demo.ipynb"
    _notebook(nb, "PROFILE = 'cpu'")
    base = fingerprint(nb, "cpu")
    _notebook(nb, "PROFILE = 'cpu'", output="98.7", injected="PROFILE = 'cpu'")
    assert fingerprint(nb, "cpu") == base
    assert fingerprint(nb, "smoke") != base
    _notebook(nb, "PROFILE = 'paper'")
    assert fingerprint(nb, "cpu") != base


def test_fingerprint_tracks_kd_sources(project):
    nb = project / "notebooks" / "10_demo.ipynb"
    _notebook(nb, "x = 1")
    base = fingerprint(nb, "cpu")
    with open(project / "kd" / "losses.py", "a") as f:
        f.write("\n# changed\n")
    assert fingerprint(nb, "cpu") != base


def test_notebook_selection_by_number(project):
    for name in ("10_a.ipynb", "21_b.ipynb", "readme.ipynb"):
        _notebook(project / "notebooks" / name, "x = 1")
    assert [p.name for p in notebooks()] == ["10_a.ipynb", "21_b.ipynb"]
    assert [p.name for p in notebooks("21")] == ["21_b.ipynb"]
    assert [p.name for p in notebooks("10, 21")] == ["10_a.ipynb", "21_b.ipynb"]
    assert paths.root() == project


def test_reproduce_executes_in_place_leaving_the_profile_to_the_environment(project, capsys, monkeypatch):
    """A real papermill run on the kd kernel: the executed notebook keeps its outputs and
    the profile in its metadata, but no injected cell that would pin the profile for nbval."""
    from kd.reproduce import main
    nb = project / "notebooks" / "10_demo.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# claim"]},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None,
              "outputs": [], "source": ["import os\n", "PROFILE = os.environ.get('KD_PROFILE', 'cpu')"]},
             {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["import json, pathlib\n",
                         "out = pathlib.Path('..') / 'results' / '10_demo' / f'{PROFILE}.json'\n",
                         "out.parent.mkdir(parents=True, exist_ok=True)\n",
                         "out.write_text(json.dumps({'profile': PROFILE}))\n",
                         "print('ran under', PROFILE, os.environ.get('KD_PROFILE'))"]}]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                              "metadata": {"kernelspec": {"name": "kd", "display_name": "kd",
                                                          "language": "python"}}}))
    monkeypatch.setenv("KD_PROFILE", "smoke")
    assert main(["--profile", "paper"]) == 0
    assert os.environ["KD_PROFILE"] == "smoke"           # the caller's environment is restored
    executed = json.loads(nb.read_text())
    assert not [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert executed["metadata"]["papermill"]["parameters"] == {"PROFILE": "paper"}
    # no machine path: papermill's record names the notebook relative to the project
    assert executed["metadata"]["papermill"]["input_path"] == "notebooks/10_demo.ipynb"
    assert executed["metadata"]["papermill"]["output_path"] == "notebooks/10_demo.ipynb"
    assert str(project) not in nb.read_text()
    assert "ran under paper paper" in "".join(executed["cells"][2]["outputs"][0]["text"])
    assert json.loads((project / "results" / "10_demo" / "paper.json").read_text()) == {"profile": "paper"}
    assert main(["--profile", "paper"]) == 0
    assert "up to date, skipped" in capsys.readouterr().out
