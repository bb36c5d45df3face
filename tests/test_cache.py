"""The run cache never loses or hides work: unreadable entries are reported, moved aside and
retrained; damaged files that still load are caught by their sha256; storage failures say what
happened in one line; two processes on one run train it once."""
import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import traceback
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import kd
from kd.cache import CorruptRunWarning, digest, record_digests, verify_entry

from conftest import interrupt_after, tiny_run


def _folder(result: kd.Result) -> Path:
    return kd.paths.runs_dir() / result.key


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _metrics_with(f: Path, **changes) -> None:
    metrics = json.loads((f / "metrics.json").read_text())
    (f / "metrics.json").write_text(json.dumps({**metrics, **changes}))


def _history_with(f: Path, epoch: int, **changes) -> None:
    metrics = json.loads((f / "metrics.json").read_text())
    metrics["history"][epoch].update(changes)
    (f / "metrics.json").write_text(json.dumps(metrics))


def _flip_tensor_byte(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor's bytes: the file still loads (torch
    keeps no checksum of them), with one weight changed."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
        offset = info.header_offset + 30 + name_length + extra_length + info.file_size // 2 + 3
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x40]))
    torch.load(path, weights_only=True)         # damaged, and still loadable


CORRUPTIONS = {
    "truncated model.pt": (lambda f: _truncate(f / "model.pt"), "model.pt cannot be loaded (RuntimeError"),
    "empty model.pt": (lambda f: (f / "model.pt").write_bytes(b""), "model.pt cannot be loaded (EOFError: empty file"),
    "model.pt of another network": (
        lambda f: torch.save({"weight": torch.zeros(3)}, f / "model.pt"), "model.pt does not fit the network"),
    "garbage metrics.json": (lambda f: (f / "metrics.json").write_text("{not json"), "metrics.json is not valid JSON"),
    "empty metrics.json object": (lambda f: (f / "metrics.json").write_text("{}"), "metrics.json lacks final_acc"),
    "metrics.json with a NaN": (
        lambda f: (f / "metrics.json").write_text(
            json.dumps({**json.loads((f / "metrics.json").read_text()), "final_acc": float("nan")})),
        "final_acc=nan is not a finite float"),
    "missing model.pt": (lambda f: (f / "model.pt").unlink(), "model.pt is missing"),
    "one flipped byte in model.pt's weights": (
        lambda f: _flip_tensor_byte(f / "model.pt"), "model.pt has sha256"),
    "final_acc 999": (lambda f: _metrics_with(f, final_acc=999), "final_acc=999 is not an accuracy in [0, 100]"),
    "a history test_acc 'x'": (lambda f: _history_with(f, 0, test_acc="x"), "history[0].test_acc='x' is not a finite number"),
    "a negative train_acc": (lambda f: _history_with(f, 1, train_acc=-3.0), "history[1].train_acc=-3.0 is not an accuracy"),
    "best_epoch 0": (lambda f: _metrics_with(f, best_epoch=0), "best_epoch=0 is not an epoch of 1..2"),
    "negative train_seconds": (lambda f: _metrics_with(f, train_seconds=-1.0), "train_seconds=-1.0 is negative"),
    "a sha256 record that is no digest": (lambda f: _metrics_with(f, sha256={"model.pt": "abc"}),
                                          "sha256={'model.pt': 'abc'} is not a record"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_an_unreadable_finished_entry_is_named_moved_aside_and_retrained(mnist, corruption):
    cfg = tiny_run()
    first = kd.run(cfg, progress=False)
    folder = _folder(first)
    damage, message = CORRUPTIONS[corruption]
    damage(folder)
    with pytest.warns(CorruptRunWarning) as caught:
        again = kd.run(cfg, progress=False)
    text = str(caught[0].message)
    assert message in text
    assert str(folder) in text and "seed 0, 2 epochs" in text and "training the run again" in text
    assert again.trained and again.final_acc == first.final_acc       # the same run, retrained
    moved = list((kd.paths.runs_dir() / ".corrupt").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(folder.name) and str(moved[0]) in text
    assert (moved[0] / "config.json").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        assert not kd.run(cfg, progress=False).trained                  # served from the cache again


def _measured(result: kd.Result) -> float:
    return kd.accuracy(result.model, kd.loader_for(kd.runner.evaluation_split(result.config.data)),
                       result.config.train.precision)


def test_a_model_swapped_with_another_seeds_is_caught_by_its_checksum(mnist):
    cfg = tiny_run()
    first, other = kd.run(cfg, progress=False), kd.run(cfg.with_(seed=1), progress=False)
    assert first.final_acc != other.final_acc
    shutil.copyfile(_folder(other) / "model.pt", _folder(first) / "model.pt")
    with pytest.warns(CorruptRunWarning, match="model.pt has sha256 .* the file was changed or replaced"):
        again = kd.run(cfg, progress=False)
    assert again.trained and again.final_acc == first.final_acc
    assert _measured(again) == again.final_acc                  # the model served is the one measured


def test_every_finished_entry_records_the_sha256_of_its_weights_and_serves_what_it_measured(mnist):
    cfg = tiny_run()
    first = kd.run(cfg, progress=False)
    folder = _folder(first)
    recorded = json.loads((folder / "metrics.json").read_text())["sha256"]
    assert recorded == {"model.pt": digest(folder / "model.pt")} == first.metrics["sha256"]
    assert verify_entry(folder) is None and verify_entry(folder, cfg) is None
    cached = kd.run(cfg, progress=False)
    assert not cached.trained and _measured(cached) == cached.final_acc == first.final_acc
    _flip_tensor_byte(folder / "model.pt")
    assert "model.pt has sha256" in verify_entry(folder)
    (folder / "config.json").write_text("{}")
    assert "config.json cannot be read" not in (verify_entry(folder) or "")    # {} is the default config
    assert "is not a folder" in verify_entry(folder / "model.pt")


def test_an_entry_written_before_checksums_is_served_and_gets_them_on_its_first_read(mnist):
    cfg = tiny_run()
    first = kd.run(cfg, progress=False)
    folder = _folder(first)
    old = {k: v for k, v in json.loads((folder / "metrics.json").read_text()).items() if k != "sha256"}
    (folder / "metrics.json").write_text(json.dumps(old))
    torch.save(torch.load(folder / "model.pt", weights_only=True), folder / "model.pt")   # torch.save by path
    assert verify_entry(folder) is None                      # no checksum yet: the other checks pass
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        served = kd.run(cfg, progress=False)
    assert not served.trained and served.final_acc == first.final_acc
    after = json.loads((folder / "metrics.json").read_text())
    assert after == {**old, "sha256": {"model.pt": digest(folder / "model.pt")}}
    assert record_digests(folder) == after                   # the same record, for runs moved by hand


def test_a_run_folder_replaced_by_a_file_is_moved_aside_and_trained_again(mnist):
    cfg = tiny_run()
    first = kd.run(cfg, progress=False)
    folder = _folder(first)
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    with pytest.warns(CorruptRunWarning, match="it is a file, not a run folder"):
        again = kd.run(cfg, progress=False)
    assert again.trained and again.final_acc == first.final_acc and folder.is_dir()
    moved = list((kd.paths.runs_dir() / ".corrupt").iterdir())
    assert len(moved) == 1 and moved[0].read_text() == "not a folder"


def _weights(result: kd.Result) -> dict:
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _interrupted(monkeypatch, cfg, epochs: int) -> tuple[dict, Path]:
    """The weights of `cfg` trained without a stop, and its folder as a run stopped after `epochs`."""
    reference = kd.run(cfg, progress=False)
    weights, folder = _weights(reference), _folder(reference)
    shutil.rmtree(folder)
    interrupt_after(cfg, epochs, monkeypatch)
    assert (folder / "checkpoint.pt").exists() and not (folder / "metrics.json").exists()
    kd.runner.RUNS_ASKED.pop(reference.key)          # so that the next run's record says if it resumed
    return weights, folder


def test_a_checkpoint_resumes_bit_identically_and_its_record_covers_a_stop_between_two_renames(mnist, monkeypatch):
    cfg = tiny_run(train__epochs=3)
    weights, folder = _interrupted(monkeypatch, cfg, 1)
    record = json.loads((folder / "checkpoint.sha256").read_text())
    assert record["sha256"] == digest(folder / "checkpoint.pt")
    # killed after the record of a new checkpoint was written, before that checkpoint replaced the old
    (folder / "checkpoint.sha256").write_text(json.dumps({"sha256": "0" * 64, "previous": record["sha256"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        resumed = kd.run(cfg, progress=False)
    assert resumed.trained and kd.runner.RUNS_ASKED[resumed.key][2] > 0          # resumed, not afresh
    assert _same(_weights(resumed), weights)
    assert not (folder / "checkpoint.pt").exists() and not (folder / "checkpoint.sha256").exists()


def test_a_flipped_checkpoint_byte_is_caught_and_the_run_starts_afresh(mnist, monkeypatch):
    cfg = tiny_run(train__epochs=3)
    weights, folder = _interrupted(monkeypatch, cfg, 2)
    _flip_tensor_byte(folder / "checkpoint.pt")
    with pytest.warns(CorruptRunWarning, match=r"checkpoint.pt cannot be resumed from \(ValueError: it has "
                                               r"sha256 .* recorded in checkpoint.sha256"):
        again = kd.run(cfg, progress=False)
    assert again.trained and kd.runner.RUNS_ASKED[again.key][2] == 0             # from epoch 1
    assert _same(_weights(again), weights)


def test_a_checkpoint_from_before_checksums_still_resumes(mnist, monkeypatch):
    cfg = tiny_run(train__epochs=3)
    weights, folder = _interrupted(monkeypatch, cfg, 1)
    (folder / "checkpoint.sha256").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        resumed = kd.run(cfg, progress=False)
    assert kd.runner.RUNS_ASKED[resumed.key][2] > 0 and _same(_weights(resumed), weights)


# ---------------------------------------------------------------------------- storage failures

def _full_disk(m: pytest.MonkeyPatch, name: str, after: int = 0) -> None:
    """Every write of `name` after the first `after` meets a full disk: its temporary file is
    /dev/full, where every write fails with ENOSPC, as on a full disk."""
    real, seen = tempfile.mkstemp, [0]

    def mkstemp(suffix=None, prefix=None, dir=None, text=False):
        fd, tmp = real(suffix=suffix, prefix=prefix, dir=dir, text=text)
        if prefix == f".{name}.":
            seen[0] += 1
            if seen[0] > after:
                os.close(fd)
                os.remove(tmp)
                os.symlink("/dev/full", tmp)
                fd = os.open(os.devnull, os.O_RDONLY)
        return fd, tmp
    m.setattr(kd.atomic.tempfile, "mkstemp", mkstemp)


@pytest.mark.parametrize("name", ["checkpoint.pt", "metrics.json"])
def test_a_full_disk_stops_the_run_with_one_line_and_it_resumes_once_there_is_room(mnist, monkeypatch, name):
    cfg = tiny_run(train__epochs=3)
    reference = kd.run(cfg, progress=False)
    weights, folder = _weights(reference), _folder(reference)
    shutil.rmtree(folder)
    with monkeypatch.context() as m:
        _full_disk(m, name, after=1 if name == "checkpoint.pt" else 0)
        with pytest.raises(kd.StorageError) as err:
            kd.run(cfg, progress=False)
    message = str(err.value)
    assert "\n" not in message and err.value.errno == errno.ENOSPC and isinstance(err.value, OSError)
    assert message.startswith(f"cannot write {folder / name}: no space left on device (the disk "
                              f"holding KD_RUNS={kd.paths.runs_dir()} is full); free space and run again")
    assert "resume from the last checkpoint" in message
    # papermill shows the exception's last line: that is the message, whole
    assert traceback.format_exception(err.value)[-1] == f"kd.atomic.StorageError: {message}\n"
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]          # no partial file left
    kd.runner.RUNS_ASKED.pop(reference.key)
    resumed = kd.run(cfg, progress=False)
    assert resumed.trained and _same(_weights(resumed), weights)
    assert kd.runner.RUNS_ASKED[resumed.key][2] > 0                     # it went on from its checkpoint


def test_torchs_own_write_failure_is_reported_as_a_full_disk(tmp_path):
    error = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2048 vs 1942")
    message = str(kd.atomic.storage_error("write", kd.paths.runs_dir() / "k" / "model.pt", error))
    assert message.startswith(f"cannot write {kd.paths.runs_dir() / 'k' / 'model.pt'}: torch could not "
                              f"write it (")
    assert "unexpected pos 2048 vs 1942" in message and "most likely because the disk is full" in message
    assert "free space and run again" in message
    assert kd.atomic.storage_error("write", tmp_path, RuntimeError("a bug")) is None


def _read_only(m: pytest.MonkeyPatch, root: Path) -> None:
    """Moves and new files under `root` fail as on a read-only file system."""
    def guard(real, *positions):
        def call(*args, **kw):
            if any(Path(args[i]).resolve().is_relative_to(root) for i in positions if i < len(args)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(args[positions[0]]))
            return real(*args, **kw)
        return call
    m.setattr(os, "replace", guard(os.replace, 0, 1))
    m.setattr(os, "mkdir", guard(os.mkdir, 0))
    real_mkstemp = tempfile.mkstemp
    m.setattr(kd.atomic.tempfile, "mkstemp",
              lambda *a, dir=None, **kw: guard(lambda d: real_mkstemp(*a, dir=d, **kw), 0)(dir))
    m.setattr(kd.cache, "open", guard(open, 0), raising=False)


def test_a_read_only_cache_serves_its_runs_and_reports_a_corrupt_entry_as_corrupt(mnist, monkeypatch):
    good, bad = tiny_run(), tiny_run(seed=1)
    kd.run(good, progress=False)
    _metrics_with(_folder(kd.run(bad, progress=False)), final_acc=999)
    with monkeypatch.context() as m:
        _read_only(m, kd.paths.runs_dir())
        with warnings.catch_warnings():
            warnings.simplefilter("error", CorruptRunWarning)
            assert not kd.run(good, progress=False).trained
            with pytest.raises(kd.StorageError) as corrupt:
                kd.run(bad, progress=False)
            with pytest.raises(kd.StorageError) as untrained:
                kd.run(tiny_run(seed=2), progress=False)
    message = str(corrupt.value)
    assert "\n" not in message and "is corrupt: metrics.json: final_acc=999 is not an accuracy" in message
    assert f"cannot be moved to {kd.paths.runs_dir() / '.corrupt'}/ (read-only file system" in message
    assert str(untrained.value).startswith(f"cannot create the lock file {kd.paths.runs_dir() / '.locks'}")
    assert "read-only file system" in str(untrained.value) and "point KD_RUNS at a writable folder" in str(untrained.value)


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_ON_REAL_STORAGE = textwrap.dedent("""
    import json, sys, warnings
    sys.path.insert(0, {tests!r})
    import kd
    from conftest import tiny_run
    for seed in {seeds}:
        try:
            r = kd.run(tiny_run(seed=seed), progress=False)
            print(json.dumps([seed, "trained" if r.trained else "served"]))
        except kd.StorageError as e:
            print(json.dumps([seed, str(e)]))
""")


@pytest.mark.skipif(not _unshare_works(), reason="needs `unshare -rm` to mount a small or read-only file system")
def test_a_real_full_and_a_real_read_only_file_system(mnist, tmp_path):
    """The same on real file systems, mounted in a private namespace: a 96 KiB tmpfs as
    KD_RUNS (full once a checkpoint is written), then the cache bind-mounted read-only."""
    runs = kd.paths.runs_dir()
    kd.run(tiny_run(), progress=False)
    _metrics_with(_folder(kd.run(tiny_run(seed=1), progress=False)), best_acc=101.0)
    full = tmp_path / "full"
    full.mkdir()
    script = lambda seeds: _ON_REAL_STORAGE.format(tests=str(Path(__file__).parent), seeds=seeds)
    shell = (f"mount -t tmpfs -o size=96k tmpfs {full} && KD_RUNS={full} {sys.executable} -c \"$1\" && "
             f"mount --bind {runs} {runs} && mount -o remount,ro,bind {runs} && "
             f"KD_RUNS={runs} {sys.executable} -c \"$2\"")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", shell, "sh", script([0]), script([0, 1, 2])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0][1].startswith(f"cannot write {full}/") and "no space left on device" in lines[0][1]
    assert lines[1] == [0, "served"]
    assert "is corrupt: metrics.json: best_acc=101.0 is not an accuracy" in lines[2][1]
    assert "read-only file system" in lines[2][1]
    assert "cannot create the lock file" in lines[3][1] and "read-only file system" in lines[3][1]
    assert all("\n" not in line[1] for line in lines)


@pytest.mark.parametrize("damage, message", [
    (lambda p: _truncate(p), "checkpoint.pt cannot be resumed from (RuntimeError"),
    (lambda p: p.write_bytes(b""), "checkpoint.pt cannot be resumed from (EOFError"),
    (lambda p: torch.save({"history": []}, p), "lacks distiller, optimizer, scheduler"),
])
def test_an_unreadable_checkpoint_is_named_moved_aside_and_the_run_starts_afresh(mnist, damage, message):
    cfg = tiny_run(train__epochs=3)
    reference = kd.run(cfg, progress=False)
    folder = _folder(reference)
    # make it an interrupted run: a checkpoint and no finished files
    (folder / "metrics.json").unlink()
    (folder / "model.pt").unlink()
    checkpoint = folder / "checkpoint.pt"
    torch.save({"distiller": {}, "optimizer": {}, "scheduler": {}, "history": [{}]}, checkpoint)
    damage(checkpoint)
    with pytest.warns(CorruptRunWarning, match=message.replace("(", r"\(").replace(")", r"\)")):
        again = kd.run(cfg, progress=False)
    assert again.trained and again.final_acc == reference.final_acc
    assert len(again.metrics["history"]) == 3


_TRAIN_ONE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import torch, kd
    from conftest import tiny_run
    torch.set_num_threads(1)
    cfg = tiny_run(train__epochs=6, data__per_class=300, model__hidden=(256,))
    print("ready", flush=True)
    sys.stdin.readline()                      # both start together
    start = time.time()
    r = kd.run(cfg, progress=False)
    print("trained" if r.trained else "loaded", r.final_acc, round(time.time() - start, 2), flush=True)
""")


def test_two_processes_asking_for_one_run_train_it_once(tmp_path):
    env = {**os.environ, "KD_RUNS": str(tmp_path / "runs")}
    script = _TRAIN_ONE.format(tests=str(Path(__file__).parent))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300) for p in procs]
    lines = [out.strip().split() for out, _ in outputs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    assert sorted(line[0] for line in lines) == ["loaded", "trained"]
    assert lines[0][1] == lines[1][1]                                  # the same accuracy
    waiting = [err for _, err in outputs if "waiting:" in err]
    assert len(waiting) == 1 and "is training" in waiting[0]
    assert "will go on when it has finished" in waiting[0] and "from the cache" not in waiting[0]


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path, mnist):
    """The lock is a flock: it dies with its process, so a lock file left behind is no lock."""
    cfg = tiny_run()
    key = f"{cfg.key()}-{kd.runner.device_tag(kd.default_device())}"
    lock = kd.paths.runs_dir() / ".locks" / f"{key}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("process 999999 on elsewhere since 00:00:00")
    killed = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, time
        f = open({str(lock)!r}, "a+"); fcntl.flock(f, fcntl.LOCK_EX); print("locked", flush=True)
        time.sleep(60)""")], stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "locked"
    killed.kill()
    killed.wait()
    assert kd.run(cfg, progress=False).trained
