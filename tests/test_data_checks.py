"""Datasets are checked when kd loads them: a modified, truncated or missing file is refused
with one message naming the file and the command that restores it. The content is hashed
once per process; nothing on disk is trusted instead."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kd
from kd import checksums
from kd import data as kdata

MNIST_RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


@pytest.fixture
def mnist_copy(tmp_path, monkeypatch) -> Path:
    """A data folder holding a copy of the decompressed MNIST files."""
    source = kd.paths.data_dir() / "MNIST" / "raw"
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_RAW:
        shutil.copyfile(source / name, raw / name)
    monkeypatch.setenv("KD_DATA", str(tmp_path / "data"))
    _new_process()
    yield raw
    _new_process()


def _new_process() -> None:
    """Forget what this process has read and verified, as a new process would."""
    kdata._load_cached.cache_clear()
    checksums._VERIFIED.clear()


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_an_intact_copy_loads_and_nothing_is_written_beside_it(mnist_copy):
    before = sorted(p.name for p in mnist_copy.parents[1].rglob("*"))
    assert len(kd.load("mnist", "train")) == 60000
    assert sorted(p.name for p in mnist_copy.parents[1].rglob("*")) == before      # no stamp on disk
    size, _, digest = checksums._VERIFIED[str((mnist_copy / "train-images-idx3-ubyte").resolve())]
    assert (size, digest) == (47040016, "6bbc9ace898e44ae57da46a324031adb")


def test_a_modified_file_with_its_size_and_mtime_put_back_is_refused_in_the_next_process(mnist_copy):
    """The walk-around of a size+mtime stamp: a process loads the data, the file is changed
    and its size and mtime put back; the next process hashes it and refuses it, and nothing
    is trained or cached under the clean data's key."""
    kd.load("mnist", "train")
    path = mnist_copy / "train-images-idx3-ubyte"
    stat = path.stat()
    _flip_byte(path, 20000)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    _new_process()
    cfg = kd.RunConfig(data=kd.DataConfig("mnist", per_class=5, test_per_class=5),
                       model=kd.ModelConfig("mlp", (8,)))
    with pytest.raises(kd.DatasetCorrupt, match="train-images-idx3-ubyte is not the file kd expects"):
        kd.run(cfg, progress=False)
    assert not kd.paths.runs_dir().exists() or not any(kd.paths.runs_dir().iterdir())


def test_the_content_check_costs_well_under_a_second_per_dataset(mnist_copy):
    """MNIST's four files (55 MB) are hashed in about 0.07 s on a 2-core CPU; the bound leaves
    room for a loaded machine. (The JPEG CIFAR-10 copy's arrays, 184 MB: about 0.12 s.)"""
    contents = [(mnist_copy / name).read_bytes() for name in MNIST_RAW]
    start = time.perf_counter()
    for name, content in zip(MNIST_RAW, contents):
        checksums.verify_file(mnist_copy / name, content)
    assert time.perf_counter() - start < 1.0
    assert len(checksums._VERIFIED) == 4


def test_ctrl_c_while_make_data_runs_prints_one_line(tmp_path):
    """Ctrl-C reaches the whole foreground process group: while kd imports torch, and while
    the mirror's restorer runs (in its own session, so that only kd reports)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "restore.py").write_text("import time\nprint('restoring', flush=True)\ntime.sleep(60)\n")
    env = {**os.environ, "KD_DATA": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    for wait_for in (None, "restoring"):
        proc = subprocess.Popen([sys.executable, "-m", "kd", "data", "--mirror", str(mirror), "mnist"],
                                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            if wait_for is None:                 # kd is importing torch: its libraries are loading
                deadline = time.time() + 60
                while "libtorch" not in Path(f"/proc/{proc.pid}/maps").read_text() and time.time() < deadline:
                    time.sleep(0.01)
            else:
                assert proc.stdout.readline().strip() == wait_for
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 130 and "Traceback" not in out, out
        lines = out.strip().splitlines()
        assert len(lines) == 1, out
        assert ("interrupted while kd was starting" if wait_for is None else "make data` again") in lines[0]


def test_a_flipped_byte_is_refused_naming_the_file_and_make_data(mnist_copy):
    kd.load("mnist", "train")                 # verified and stamped first
    kdata._load_cached.cache_clear()
    _flip_byte(mnist_copy / "train-images-idx3-ubyte", 5000)
    with pytest.raises(kd.DatasetCorrupt) as err:
        kd.load("mnist", "train")
    message = str(err.value)
    assert str(mnist_copy / "train-images-idx3-ubyte") in message
    assert "make data" in message and "modified or truncated" in message
    assert "6bbc9ace898e44ae57da46a324031adb" in message


def test_a_flip_that_keeps_the_size_and_mtime_of_the_stamp_is_still_caught_by_a_new_file(mnist_copy):
    """Any write changes the mtime; a file put back with the stamp's mtime but other bytes
    would pass the cheap check, so the stamp also requires the same size: here the size
    differs (truncated), and the file is hashed again."""
    kd.load("mnist", "train")
    kdata._load_cached.cache_clear()
    path = mnist_copy / "train-images-idx3-ubyte"
    stat = path.stat()
    data = path.read_bytes()
    path.write_bytes(data[:-16])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(kd.DatasetCorrupt, match="47,040,000 bytes"):
        kd.load("mnist", "train")


def test_a_truncated_file_is_refused_before_it_is_parsed(mnist_copy):
    path = mnist_copy / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(kd.DatasetCorrupt, match="train-labels-idx1-ubyte"):
        kd.load("mnist", "train")


def test_a_missing_label_file_names_it(mnist_copy):
    (mnist_copy / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(kd.DatasetMissing) as err:
        kd.load("mnist", "test")
    assert "t10k-labels-idx1-ubyte" in str(err.value) and "make data" in str(err.value)


def test_a_modified_cifar_copy_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "cifar10-jpeg75"
    folder.mkdir(parents=True)
    with np.load(kd.paths.data_dir() / "cifar10-jpeg75" / "test.npz") as z:
        images, labels = z["images"].copy(), z["labels"].copy()
    images[17, 3, 3, 1] ^= 1
    np.savez(folder / "test.npz", images=images, labels=labels)
    monkeypatch.setenv("KD_DATA", str(tmp_path / "data"))
    kdata._load_cached.cache_clear()
    try:
        with pytest.raises(kd.DatasetCorrupt, match=r"array 'images' \(10000, 32, 32, 3\)"):
            kd.load("cifar10", "test")
        (folder / "test.npz").write_bytes(b"PK\x03\x04 not really a zip")
        with pytest.raises(kd.DatasetCorrupt, match="cannot be read as an npz"):
            kd.load("cifar10", "test")
    finally:
        kdata._load_cached.cache_clear()
