"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A write that fails for want of storage (a full disk, a read-only file system, no permission)
raises `StorageError`, whose message is one line: what could not be written, where, why and
what to do; the temporary file is removed and the old file is left as it was.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from . import paths


class StorageError(OSError):
    """A file kd writes (or a folder it makes or moves) could not be written: the message is
    one line naming what failed, the path, the cause and what to do (under papermill, the
    last line of a notebook's error). A subclass of OSError, not RuntimeError, because it is
    one: code that already handles an OSError (a read-only data folder, say) goes on handling
    it, and `errno` and `filename` are those of the underlying error (ENOSPC for torch's own
    write failures on a full disk)."""

    def __init__(self, message: str, code: int | None = None, filename: str | None = None,
                 cause: str = ""):
        super().__init__(message)
        self.errno, self.filename = code, filename
        self.cause = cause or message       # why, in words ("no space left on device (...)")

    def __str__(self) -> str:
        return self.args[0]


# torch's C++ writer reports a short write in its own words, not as an OSError
_TORCH_WRITE_FAILURES = ("unexpected pos", "iostream error", "file write failed",
                         "PytorchStreamWriter failed")
_CAUSES = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
           errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
           errno.EPERM: "operation not permitted"}


def _holder(path: Path) -> tuple[str, str]:
    """(what holds `path`: "KD_RUNS=<folder>" or the folder, the environment variable that
    moves it or "")."""
    path = Path(path).resolve()
    for variable, folder in (("KD_RUNS", paths.runs_dir()), ("KD_DATA", paths.data_dir()),
                             ("KD_RESULTS", paths.results_dir()), ("KD_FIGURES", paths.figures_dir())):
        if path == folder or folder in path.parents:
            return f"{variable}={folder}", variable
    return str(path.parent), ""


def storage_error(action: str, path: Path, error: BaseException) -> StorageError | None:
    """The one-line StorageError for `error`, met while trying to `action` (e.g. "write")
    `path`; None when `error` is not a storage failure (a bug, a bad object to save)."""
    if isinstance(error, StorageError):
        return error
    torch_failure = isinstance(error, RuntimeError) and any(s in str(error) for s in _TORCH_WRITE_FAILURES)
    code = error.errno if isinstance(error, OSError) else None
    if torch_failure:       # the OSError torch met, when it kept it
        code = next((c.errno for c in (error.__cause__, error.__context__) if isinstance(c, OSError)), None)
    elif code is None:
        return None
    holder, variable = _holder(path)
    in_runs = variable == "KD_RUNS"
    again = "run again" + (": finished runs are kept and finished epochs resume from the last "
                           "checkpoint" if in_runs else "")
    elsewhere = f"point {variable} at a writable folder" if variable else "write somewhere writable"
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and torch_failure):
        if code is None:
            try:
                free = f"{shutil.disk_usage(_existing(path)).free / 2**20:,.0f} MiB free"
            except OSError:
                free = "free space unknown"
            cause = (f"torch could not write it ({str(error).strip().splitlines()[-1]}; {free} on "
                     f"the disk holding {holder}), most likely because the disk is full")
        else:
            cause = f"{_CAUSES[code]} (the disk holding {holder} is full)"
        fix = f"free space and {again}"
    elif code == errno.EROFS:
        cause = f"read-only file system ({holder})"
        fix = f"{elsewhere}" + (" (finished runs are still served from a read-only cache; "
                                "training needs to write)" if in_runs else "")
    elif code in (errno.EACCES, errno.EPERM):
        cause = f"{_CAUSES[code]} ({holder})"
        fix = f"make {_existing(path)} writable for this user or {elsewhere}"
    else:
        cause = f"{os.strerror(code)} ({errno.errorcode.get(code, code)}, {holder})"
        fix = f"check the disk and {again}"
    return StorageError(f"cannot {action} {paths.display(path)}: {cause}; {fix}", code, str(path), cause)


def _existing(path: Path) -> Path:
    """The nearest folder at or above `path` that exists."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if folder.is_dir():
            return folder
    return path


def make_dirs(path: Path) -> Path:
    """mkdir -p, a failure raised as a StorageError."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        error = storage_error("create the folder", path, e)
        if error is None:
            raise
        raise error from e
    return path


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`. A
    storage failure raises a StorageError (the temporary file removed, `path` unchanged)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        error = storage_error("write", path, e)
        if error is None:
            raise
        raise error from e
    finally:
        if tmp is not None and os.path.lexists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass


def save_json(path: Path, obj: Any) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n"))


def save_torch(path: Path, obj: Any, before_replace: Callable[[Path], None] | None = None) -> None:
    """torch.save, atomically. The file is written through a Python file object, so that a
    full disk surfaces as OSError(ENOSPC), not as torch's "unexpected pos". `before_replace`
    sees the complete temporary file before it replaces `path` (kd.cache records its sha256)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
        if before_replace is not None:
            before_replace(tmp)
    write_atomic(path, write)


def load_torch(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)
