"""Reading the run cache safely: checked entries, corrupt ones moved aside, one trainer per run.

A run folder `runs/<key>-<device>/` holds `config.json`, while training `checkpoint.pt`, and
once finished `model.pt` then `metrics.json`. Every file is checked when it is read: one that
cannot be read, or lacks a field, is never used. The folder is moved to
`runs/.corrupt/<folder>-<time>/` with a warning that names it, the run's config and what was
wrong, and the run is trained again.

Two processes asking for the same run: the first takes `runs/.locks/<key>.lock` with an
exclusive `flock` and trains; the second waits for the lock and then loads the finished run.
The stale-lock rule is the operating system's: a flock dies with the process that holds it
(kill -9 included), so a lock file left behind never blocks anyone.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

from torch import nn

from . import paths
from .atomic import load_torch
from .config import RunConfig

METRIC_FIELDS = {"final_acc": float, "best_acc": float, "best_epoch": int, "train_seconds": float,
                 "data": str, "history": list}
CHECKPOINT_FIELDS = ("distiller", "optimizer", "scheduler", "history")


class CorruptRunWarning(UserWarning):
    """A run cache entry could not be used; it was moved aside and the run trains again."""


def describe(cfg: RunConfig) -> str:
    """A short account of a run's config for messages."""
    hidden = list(cfg.model.hidden) if cfg.model.hidden else ""
    teacher = f", teacher {cfg.teacher.model.arch}" if cfg.teacher is not None else ""
    return (f"{cfg.method.name} {cfg.model.arch}{hidden} on {cfg.data.name}, seed {cfg.seed}, "
            f"{cfg.train.epochs} epochs{teacher}")


def quarantine(folder: Path, cfg: RunConfig, desc: str, problem: str) -> Path:
    """Move a run folder to runs/.corrupt/ and warn, naming the folder, config and problem."""
    base = paths.runs_dir() / ".corrupt" / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest, suffix = base, 1
    while dest.exists():
        dest, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, dest)
    warnings.warn(f"run cache entry {folder} ({desc}: {describe(cfg)}) cannot be used: {problem}. "
                  f"Moved it to {dest} (its config.json is there) and training the run again.",
                  CorruptRunWarning, stacklevel=3)
    return dest


def _check_metrics(metrics: object, cfg: RunConfig) -> str | None:
    """What is wrong with a metrics.json's content, or None."""
    if not isinstance(metrics, dict):
        return f"metrics.json holds a {type(metrics).__name__}, not an object"
    missing = [k for k in METRIC_FIELDS if k not in metrics]
    if missing:
        return f"metrics.json lacks {', '.join(missing)}"
    for name, kind in METRIC_FIELDS.items():
        value = metrics[name]
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok or isinstance(value, bool) or (kind is float and not math.isfinite(value)):
            return f"metrics.json: {name}={value!r} is not a finite {kind.__name__}"
    history = metrics["history"]
    if len(history) != cfg.train.epochs or not all(isinstance(h, dict) and "test_acc" in h for h in history):
        return (f"metrics.json: its history has {len(history)} epochs with test accuracy, "
                f"the config {cfg.train.epochs}")
    return None


def _check_weights(weights: object, model: nn.Module) -> str | None:
    """What keeps `weights` from loading into `model` whole, or None (checked first, so that a
    bad file never loads half its tensors into the network before failing)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if not isinstance(weights, dict):
        return f"model.pt holds a {type(weights).__name__}, not a state dict"
    got = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    if got != expected:
        wrong = sorted(set(got) ^ set(expected)) or [k for k in expected if got[k] != expected[k]]
        return f"model.pt does not fit the network ({len(wrong)} keys differ, e.g. {wrong[:3]})"
    return None


def load_finished(folder: Path, cfg: RunConfig, student: nn.Module, desc: str) -> dict | None:
    """The metrics of a finished run, its weights loaded into `student`; None when the run
    has not finished (or its entry was unusable and has been moved aside)."""
    model, metrics_file = folder / "model.pt", folder / "metrics.json"
    if not metrics_file.exists():
        return None          # unfinished (a run killed between model.pt and metrics.json resumes)
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as e:
        quarantine(folder, cfg, desc, f"metrics.json is not valid JSON ({type(e).__name__}: {e})")
        return None
    problem = _check_metrics(metrics, cfg)
    if problem is None and not model.exists():
        problem = "metrics.json is there but model.pt is missing"
    if problem is None:
        try:
            weights = load_torch(model)
        except Exception as e:       # torch raises RuntimeError, EOFError, UnpicklingError, ...
            problem = f"model.pt cannot be loaded ({type(e).__name__}: {str(e).strip() or 'empty file'})"
        else:
            problem = _check_weights(weights, student)
    if problem is None:
        student.load_state_dict(weights)
    if problem is not None:
        quarantine(folder, cfg, desc, problem)
        return None
    return metrics


def load_checkpoint(folder: Path, cfg: RunConfig, distiller: nn.Module, desc: str) -> dict | None:
    """The state to resume from (applied to `distiller` as a check), or None to start afresh;
    an unusable checkpoint moves the folder aside."""
    checkpoint = folder / "checkpoint.pt"
    if not checkpoint.exists():
        return None
    try:
        state = load_torch(checkpoint)
        missing = [k for k in CHECKPOINT_FIELDS if not isinstance(state, dict) or k not in state]
        if missing:
            raise KeyError(f"it lacks {', '.join(missing)}")
        if not isinstance(state["history"], list) or not 1 <= len(state["history"]) <= cfg.train.epochs:
            raise ValueError(f"its history of {len(state['history'])} epochs does not fit "
                             f"{cfg.train.epochs} epochs")
        distiller.load_learnable_state_dict(state["distiller"])
    except Exception as e:
        quarantine(folder, cfg, desc, f"checkpoint.pt cannot be resumed from "
                                      f"({type(e).__name__}: {str(e).strip() or 'empty file'})")
        return None
    return state


@contextlib.contextmanager
def run_lock(key: str, desc: str) -> Iterator[None]:
    """Hold runs/.locks/<key>.lock while training; wait, saying who holds it, if another
    process does."""
    path = paths.runs_dir() / ".locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            print(f"waiting: {holder} is training {desc} (lock {path}); this process will load "
                  f"it from the cache when it has finished", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
