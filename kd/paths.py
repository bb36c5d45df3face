"""Where kd keeps its files: data, runs, results and figures, all under the project root.

The root is `KD_ROOT` when set, else the nearest folder above the working directory that
holds kd's `pyproject.toml` (so notebooks find it from `notebooks/`), else the working
directory itself (a pip-installed kd in Colab).

`KD_RESULTS` and `KD_FIGURES` redirect result files and figures: `make reproduce` points them
at a staging folder and moves what a notebook wrote into results/ and figures/ only when the
whole notebook succeeded.
"""
from __future__ import annotations

import os
from pathlib import Path


def root() -> Path:
    if os.environ.get("KD_ROOT"):
        return Path(os.environ["KD_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and 'name = "kd"' in project.read_text():
            return folder
    return here


def data_dir() -> Path:
    return Path(os.environ["KD_DATA"]).resolve() if os.environ.get("KD_DATA") else root() / "data"


def runs_dir() -> Path:
    return Path(os.environ["KD_RUNS"]).resolve() if os.environ.get("KD_RUNS") else root() / "runs"


def results_dir() -> Path:
    return Path(os.environ["KD_RESULTS"]).resolve() if os.environ.get("KD_RESULTS") else root() / "results"


def figures_dir() -> Path:
    return Path(os.environ["KD_FIGURES"]).resolve() if os.environ.get("KD_FIGURES") else root() / "figures"


def display(path: Path) -> str:
    """How to name a file kd wrote: relative to the project, and a file in the staging folders
    of KD_RESULTS / KD_FIGURES under the name it gets once `make reproduce` moves it."""
    path = Path(path).resolve()
    for variable, final in (("KD_RESULTS", "results"), ("KD_FIGURES", "figures")):
        if os.environ.get(variable):
            try:
                return (Path(final) / path.relative_to(Path(os.environ[variable]).resolve())).as_posix()
            except ValueError:
                pass
    try:
        return path.relative_to(root()).as_posix()
    except ValueError:
        return str(path)
