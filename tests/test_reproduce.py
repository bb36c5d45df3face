import json
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
