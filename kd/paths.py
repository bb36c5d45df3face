"""Where kd keeps its files: data, runs, results and figures, all under the project root.

The root is `KD_ROOT` when set, else the nearest folder above the working directory that
holds kd's `pyproject.toml` (so notebooks find it from `notebooks/`), else the working
directory itself (a pip-installed kd in Colab).
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
    return root() / "results"


def figures_dir() -> Path:
    return root() / "figures"
