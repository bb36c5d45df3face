"""Reading the run cache safely: checked entries, corrupt ones moved aside, one trainer per run.

A run folder `runs/<key>-<device>/` holds `config.json`, while training `checkpoint.pt` and
`checkpoint.sha256`, and once finished `model.pt` then `metrics.json`. Every file is checked
when it is read: one that cannot be read, lacks a field, holds a value out of range (an
accuracy outside [0, 100], a non-finite number) or whose bytes differ from the sha256
recorded when it was written (metrics.json's "sha256" for model.pt, checkpoint.sha256 for
the checkpoint) is never used. The folder is moved to `runs/.corrupt/<folder>-<time>/` with
a warning that names it, the run's config and what was wrong, and the run is trained again;
in a cache that cannot be written the entry is reported as corrupt in a StorageError. An
entry written before checksums (metrics.json without "sha256") passes the other checks and
gets its checksums on that first read.

`digest`, `verify_entry` and `record_digests` check and complete a finished run folder on
their own, for moving runs between machines.

Two processes asking for the same run: the first takes `runs/.locks/<key>.lock` with an
exclusive `flock` and trains; the second waits for the lock, saying who holds it, and then
goes on: it loads the finished run (or resumes it from its checkpoint, if the first stopped).
The stale-lock rule is the operating system's: a flock dies with the process that holds it
(kill -9 included), so a lock file left behind never blocks anyone.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import math
import numbers
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from . import paths
from .atomic import StorageError, make_dirs, save_json, save_torch, storage_error
from .config import RunConfig, from_dict

METRIC_FIELDS = {"final_acc": float, "best_acc": float, "best_epoch": int, "train_seconds": float,
                 "data": str, "history": list}
CHECKPOINT_FIELDS = ("distiller", "optimizer", "scheduler", "history")
DIGESTS = "sha256"            # metrics.json's record of the finished run's files: {name: sha256}
DIGESTED = ("model.pt",)      # the files it records
CHECKPOINT_DIGEST = "checkpoint.sha256"     # {"sha256": the checkpoint's, "previous": ...}


class CorruptRunWarning(UserWarning):
    """A run cache entry could not be used; it was moved aside and the run trains again."""


def describe(cfg: RunConfig) -> str:
    """A short account of a run's config for messages."""
    hidden = list(cfg.model.hidden) if cfg.model.hidden else ""
    teacher = f", teacher {cfg.teacher.model.arch}" if cfg.teacher is not None else ""
    return (f"{cfg.method.name} {cfg.model.arch}{hidden} on {cfg.data.name}, seed {cfg.seed}, "
            f"{cfg.train.epochs} epochs{teacher}")


def quarantine(folder: Path, cfg: RunConfig, desc: str, problem: str) -> Path:
    """Move a run folder to runs/.corrupt/ and warn, naming the folder, config and problem.
    Where it cannot be moved (a read-only cache), raise a StorageError that reports the entry
    as corrupt all the same."""
    base = paths.runs_dir() / ".corrupt" / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    dest, suffix = base, 1
    while dest.exists():
        dest, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, dest)
    except OSError as e:
        cause = storage_error("move it to", dest.parent, e)
        why = cause.cause if cause is not None else f"{type(e).__name__}: {e}"
        raise StorageError(f"run cache entry {folder} ({desc}: {describe(cfg)}) is corrupt: {problem}; "
                           f"it cannot be moved to {dest.parent}/ ({why}); remove it, or make the "
                           f"cache writable, and run again to train it again", e.errno, str(folder)) from e
    kept = "its config.json is there" if dest.is_dir() else "it was a file, not a folder"
    warnings.warn(f"run cache entry {folder} ({desc}: {describe(cfg)}) cannot be used: {problem}. "
                  f"Moved it to {dest} ({kept}) and training the run again.",
                  CorruptRunWarning, stacklevel=3)
    return dest


def digest(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _accuracy_problem(name: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return f"{name}={value!r} is not a finite number"
    if not 0.0 <= value <= 100.0:
        return f"{name}={value!r} is not an accuracy in [0, 100]"
    return None


def check_metrics(metrics: object, cfg: RunConfig) -> str | None:
    """What is wrong with a metrics.json's content, or None: every field there with its type,
    accuracies (final, best, each epoch's test and train) finite and in [0, 100], best_epoch in
    1..epochs, train_seconds finite and >= 0, one history record per epoch, and a "sha256"
    record, when there is one, of hex digests."""
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
    checks = [("final_acc", metrics["final_acc"]), ("best_acc", metrics["best_acc"])]
    for epoch, record in enumerate(history, 1):
        checks += [(f"history[{epoch - 1}].{k}", record[k]) for k in ("test_acc", "train_acc") if k in record]
    for name, value in checks:
        problem = _accuracy_problem(name, value)
        if problem is not None:
            return f"metrics.json: {problem}"
    if not 1 <= metrics["best_epoch"] <= cfg.train.epochs:
        return f"metrics.json: best_epoch={metrics['best_epoch']} is not an epoch of 1..{cfg.train.epochs}"
    if metrics["train_seconds"] < 0:
        return f"metrics.json: train_seconds={metrics['train_seconds']} is negative"
    recorded = metrics.get(DIGESTS, {})
    if not isinstance(recorded, dict) or not all(isinstance(k, str) and _is_digest(v) for k, v in recorded.items()):
        return f"metrics.json: {DIGESTS}={recorded!r} is not a record of files' sha256 digests"
    return None


def _read_finished(folder: Path, cfg: RunConfig) -> tuple[dict | None, bytes | None, str | None]:
    """(metrics, model.pt's bytes, problem) of a finished run folder; the bytes are those
    whose sha256 was checked, so that the weights served are the weights checked (on a
    sha256 mismatch they come back too, for a message that says more when they do not load)."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError) as e:
        return None, None, f"metrics.json is not valid JSON ({type(e).__name__}: {e})"
    problem = check_metrics(metrics, cfg)
    if problem is not None:
        return metrics, None, problem
    try:
        blob = (folder / "model.pt").read_bytes()
    except FileNotFoundError:
        return metrics, None, "metrics.json is there but model.pt is missing"
    except OSError as e:
        return metrics, None, f"model.pt cannot be read ({type(e).__name__}: {e})"
    expected = metrics.get(DIGESTS, {}).get("model.pt")
    got = hashlib.sha256(blob).hexdigest()
    if expected is not None and got != expected:
        return metrics, blob, (f"model.pt has sha256 {got[:16]}..., not the {expected[:16]}... recorded "
                               f"in metrics.json when the run wrote it: the file was changed or "
                               f"replaced since")
    return metrics, blob, None


def verify_entry(folder: Path, cfg: RunConfig | None = None) -> str | None:
    """What is wrong with a finished run folder, or None: metrics.json as `check_metrics`
    wants it (against `cfg`, else the folder's config.json), model.pt there and, where
    metrics.json records its sha256 (every entry written or read since checksums), with
    that sha256. The weights are not loaded (kd.run checks that they fit the network)."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if cfg is None:
        try:
            cfg = from_dict(json.loads((folder / "config.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"config.json cannot be read as a run config ({type(e).__name__}: {e})"
    return _read_finished(folder, cfg)[2]


def record_digests(folder: Path, metrics: dict | None = None) -> dict:
    """Record the sha256 of the finished run's files (model.pt) in its metrics.json, written
    atomically; returns the metrics with the record. An entry from before checksums gets
    them this way on its first read."""
    folder = Path(folder)
    if metrics is None:
        metrics = json.loads((folder / "metrics.json").read_text())
    metrics = {**metrics, DIGESTS: {name: digest(folder / name) for name in DIGESTED}}
    save_json(folder / "metrics.json", metrics)
    return metrics


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


def _not_a_folder(folder: Path, cfg: RunConfig, desc: str) -> bool:
    """Whether the run's folder is something else (a plain file): then it is moved aside."""
    if folder.exists() and not folder.is_dir():
        quarantine(folder, cfg, desc, "it is a file, not a run folder")
        return True
    return False


def load_finished(folder: Path, cfg: RunConfig, student: nn.Module, desc: str) -> dict | None:
    """The metrics of a finished run, its weights loaded into `student`; None when the run
    has not finished (or its entry was unusable and has been moved aside). An entry without
    checksums gets them (where the cache can be written)."""
    if _not_a_folder(folder, cfg, desc) or not (folder / "metrics.json").exists():
        return None          # unfinished (a run killed between model.pt and metrics.json resumes)
    metrics, blob, problem = _read_finished(folder, cfg)
    if blob is not None:             # what is wrong with the weights comes first, then the sha256
        try:
            weights = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except Exception as e:       # torch raises RuntimeError, EOFError, UnpicklingError, ...
            problem = f"model.pt cannot be loaded ({type(e).__name__}: {str(e).strip() or 'empty file'})"
        else:
            problem = _check_weights(weights, student) or problem
    if problem is not None:
        quarantine(folder, cfg, desc, problem)
        return None
    student.load_state_dict(weights)
    if DIGESTS not in metrics:            # written before checksums: record them now
        metrics = {**metrics, DIGESTS: {"model.pt": hashlib.sha256(blob).hexdigest()}}
        try:
            save_json(folder / "metrics.json", metrics)
        except OSError:                   # a read-only cache: checked, served, recorded later
            pass
    return metrics


def _checkpoint_digests(folder: Path) -> dict | None:
    """checkpoint.sha256's record, None for a checkpoint from before checksums."""
    path = folder / CHECKPOINT_DIGEST
    if not path.exists():
        return None
    recorded = json.loads(path.read_text())
    if not isinstance(recorded, dict) or not _is_digest(recorded.get("sha256")):
        raise ValueError(f"{CHECKPOINT_DIGEST} holds no sha256")
    return recorded


def save_checkpoint(folder: Path, state: dict) -> None:
    """Write checkpoint.pt atomically, its sha256 recorded in checkpoint.sha256 before it
    replaces the old checkpoint; the record keeps the old checkpoint's sha256 as "previous",
    so that a process killed between the two renames resumes from the old one."""
    try:
        previous = (_checkpoint_digests(folder) or {}).get("sha256")
    except (OSError, ValueError):
        previous = None
    save_torch(folder / "checkpoint.pt", state, before_replace=lambda tmp: save_json(
        folder / CHECKPOINT_DIGEST, {"sha256": digest(tmp), "previous": previous}))


def remove_checkpoint(folder: Path) -> None:
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    (folder / CHECKPOINT_DIGEST).unlink(missing_ok=True)


def load_checkpoint(folder: Path, cfg: RunConfig, distiller: nn.Module, desc: str) -> dict | None:
    """The state to resume from (applied to `distiller` as a check), or None to start afresh;
    an unusable checkpoint moves the folder aside."""
    checkpoint = folder / "checkpoint.pt"
    if _not_a_folder(folder, cfg, desc) or not checkpoint.exists():
        return None
    try:
        recorded = _checkpoint_digests(folder)
        blob = checkpoint.read_bytes()
        got = hashlib.sha256(blob).hexdigest()
        if recorded is not None and got not in (recorded["sha256"], recorded.get("previous")):
            raise ValueError(f"it has sha256 {got[:16]}..., not the {recorded['sha256'][:16]}... "
                             f"recorded in {CHECKPOINT_DIGEST} when the run wrote it: the file was "
                             f"changed or replaced since")
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
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
    if recorded is None or recorded["sha256"] != got:     # the record names the file resumed from
        save_json(folder / CHECKPOINT_DIGEST, {"sha256": got, "previous": None})
    return state


@contextlib.contextmanager
def run_lock(key: str, desc: str) -> Iterator[None]:
    """Hold runs/.locks/<key>.lock while training; wait, saying who holds it, if another
    process does."""
    path = paths.runs_dir() / ".locks" / f"{key}.lock"
    with exclusive(path, f"is training {desc}", "this process will go on when it has finished"):
        yield


@contextlib.contextmanager
def exclusive(path: Path, doing: str, then: str) -> Iterator[None]:
    """Hold an exclusive flock on `path` (made if missing) for the block, the file saying who
    holds it. When another process holds it, print one line, "waiting: <holder> <doing>
    (lock <path>); <then>", and wait. A lock that cannot be made raises a StorageError."""
    make_dirs(path.parent)
    try:
        f = open(path, "a+")
    except OSError as e:
        error = storage_error("create the lock file", path, e)
        if error is None:
            raise
        raise error from e
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            print(f"waiting: {holder} {doing} (lock {path}); {then}", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.truncate(0)
            f.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}")
            f.flush()
        except OSError as e:
            error = storage_error("write the lock file", path, e)
            if error is None:
                raise
            raise error from e
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
