"""The run cache never loses or hides work: unreadable entries are reported, moved aside and
retrained; two processes on one run train it once."""
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import kd
from kd.cache import CorruptRunWarning

from conftest import tiny_run


def _folder(result: kd.Result) -> Path:
    return kd.paths.runs_dir() / result.key


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


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
