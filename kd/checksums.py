"""Dataset files are checked against known checksums whenever kd reads them.

A modified or truncated file would otherwise train silently on other data under the same
cache key. Every file kd reads has a known digest: the official MNIST, CIFAR-10 and
CIFAR-100 md5s (the ones torchvision checks), and for the offline JPEG copy of CIFAR-10 the
sha256 of its decoded arrays (shared/data/restore.py checks the same). The content is hashed
once per process, every time a process reads the file: a size and mtime recorded on disk
would be trusted blindly (a modified file with its size and mtime put back passed), and
hashing costs little beside reading the file (MNIST's 55 MB about 0.07 s, the JPEG copy's
184 MB of decoded CIFAR-10 arrays about 0.12 s on a 2-core CPU). Within a process a file whose size and
mtime are unchanged since it was verified is not hashed again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import paths

# path under data/ -> (algorithm, digest of the file's bytes)
FILES: dict[str, tuple[str, str]] = {
    "MNIST/raw/train-images-idx3-ubyte": ("md5", "6bbc9ace898e44ae57da46a324031adb"),
    "MNIST/raw/train-labels-idx1-ubyte": ("md5", "a25bea736e30d166cdddb491f175f624"),
    "MNIST/raw/t10k-images-idx3-ubyte": ("md5", "2646ac647ad5339dbf082846283269ea"),
    "MNIST/raw/t10k-labels-idx1-ubyte": ("md5", "27ae3e4e09519cfbb04c329615203637"),
    "MNIST/raw/train-images-idx3-ubyte.gz": ("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "MNIST/raw/train-labels-idx1-ubyte.gz": ("md5", "d53e105ee54ea40749a09fcbcd1e9432"),
    "MNIST/raw/t10k-images-idx3-ubyte.gz": ("md5", "9fb629c4189551a2d022fa330f9573f3"),
    "MNIST/raw/t10k-labels-idx1-ubyte.gz": ("md5", "ec29112dd5afa0611ce80d1b7f02629c"),
    "cifar-10-batches-py/data_batch_1": ("md5", "c99cafc152244af753f735de768cd75f"),
    "cifar-10-batches-py/data_batch_2": ("md5", "d4bba439e000b95fd0a9bffe97cbabec"),
    "cifar-10-batches-py/data_batch_3": ("md5", "54ebc095f3ab1f0389bbae665268c751"),
    "cifar-10-batches-py/data_batch_4": ("md5", "634d18415352ddfa80567beed471001a"),
    "cifar-10-batches-py/data_batch_5": ("md5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    "cifar-10-batches-py/test_batch": ("md5", "40351d587109b95175f43aff81a1287e"),
    "cifar-100-python/train": ("md5", "16019d7e3df5f24257cddd939b257f8d"),
    "cifar-100-python/test": ("md5", "f0ef6b0ae62326f3e7ffdfab6717acfc"),
}
# npz under data/ -> sha256 of each decoded array's bytes (the npz bytes themselves vary)
ARRAYS: dict[str, dict[str, str]] = {
    "cifar10-jpeg75/train.npz": {
        "images": "5aaf8a2cf2e577ff4dbb15e4f368840fab5aca1812bcc69682005f8dc661d466",
        "labels": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253"},
    "cifar10-jpeg75/test.npz": {
        "images": "b7018a062865e9348a704e72416eb53c816b43cc8ac42ab43276a2b967508ab6",
        "labels": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5"},
}
# verified in this process: path -> (size, mtime_ns, digest)
_VERIFIED: dict[str, tuple[int, int, str]] = {}


class DatasetCorrupt(RuntimeError):
    """A dataset file differs from the official one; the message names it and the fix."""


def _relative(path: Path) -> str:
    return Path(path).resolve().relative_to(paths.data_dir().resolve()).as_posix()


def _still_verified(path: Path, expected: str) -> bool:
    """Whether this process has verified the file, unchanged since (size and mtime)."""
    stat = path.stat()
    return _VERIFIED.get(str(Path(path).resolve())) == (stat.st_size, stat.st_mtime_ns, expected)


def _record(path: Path, digest: str) -> None:
    stat = path.stat()
    _VERIFIED[str(Path(path).resolve())] = (stat.st_size, stat.st_mtime_ns, digest)


def _corrupt(path: Path, what: str) -> DatasetCorrupt:
    dataset = {"MNIST": "mnist", "cifar-10-batches-py": "cifar10", "cifar10-jpeg75": "cifar10",
               "cifar-100-python": "cifar100"}.get(_relative(path).split("/")[0], "")
    return DatasetCorrupt(
        f"{path} is not the file kd expects ({what}): it was modified or truncated, and training "
        f"on it would give wrong results. Restore it with `make data` from the project root "
        f"(python -m kd data --mirror ../shared/data), or delete it and run "
        f"`python -m kd data --download {dataset}`.")


def verify_file(path: Path, content: bytes | None = None) -> None:
    """Refuse a file whose bytes (`content` if already read) do not have the known digest.
    Files without a known digest pass."""
    path = Path(path)
    known = FILES.get(_relative(path))
    if known is None:
        return
    algorithm, expected = known
    if _still_verified(path, expected):
        return
    data = path.read_bytes() if content is None else content
    got = hashlib.new(algorithm, data).hexdigest()
    if got != expected:
        raise _corrupt(path, f"{len(data):,} bytes with {algorithm} {got}, expected {expected}")
    _record(path, expected)


def verify_arrays(path: Path, arrays: dict) -> None:
    """Refuse an npz whose decoded arrays do not have the known sha256s."""
    path = Path(path)
    known = ARRAYS.get(_relative(path))
    if known is None:
        return
    summary = hashlib.sha256(json.dumps(known, sort_keys=True).encode()).hexdigest()
    if _still_verified(path, summary):
        return
    for name, expected in known.items():
        if name not in arrays:
            raise _corrupt(path, f"it holds no array {name!r}")
        array = arrays[name]          # hashed in place: no copy of a contiguous array
        got = hashlib.sha256(array if array.flags.c_contiguous else array.tobytes()).hexdigest()
        if got != expected:
            raise _corrupt(path, f"array {name!r} {arrays[name].shape} has sha256 {got}, expected {expected}")
    _record(path, summary)
