"""kd.run_many on a real local Ray instance: the same weights as training one by one, a killed
worker retried from its checkpoint, a bad config refused before anything starts; moving
finished runs between caches (export/import) with their checksums."""
import json
import os
import signal
import threading
import time

import pytest
import torch

import kd
from kd import parallel

ray = pytest.importorskip("ray")

DATA = kd.DataConfig("mnist", per_class=40, test_per_class=10)
TEACHER = kd.RunConfig(data=DATA, model=kd.ModelConfig("mlp", (64,)), train=kd.TrainConfig(epochs=2, batch_size=40))
STUDENT = kd.RunConfig(data=DATA, model=kd.ModelConfig("mlp", (16,)), train=kd.TrainConfig(epochs=2, batch_size=40),
                       method=kd.MethodConfig("hinton"), teacher=TEACHER)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray instance of two one-thread workers for the module, its run cache shared."""
    runs = tmp_path_factory.mktemp("ray-runs")
    old = os.environ.get("KD_RUNS")
    os.environ["KD_RUNS"] = str(runs)
    parallel._start_ray(ray, 2, None, {"KD_RUNS": str(runs), "KD_PROGRESS": "off"}, 0)   # as run_many starts it
    yield runs
    ray.shutdown()
    if old is None:
        os.environ.pop("KD_RUNS")
    else:
        os.environ["KD_RUNS"] = old


def weights(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def test_a_plan_with_a_teacher_gives_the_weights_of_training_one_by_one(local_ray, tmp_path, monkeypatch):
    jobs = [kd.Job(STUDENT, "student"), kd.Job(TEACHER, "teacher"), kd.Job(STUDENT.with_(seed=1), "student 1")]
    on_ray = kd.run_many(jobs, workers=2)
    assert [r.config for r in on_ray] == [j.config for j in jobs]           # in the order given
    monkeypatch.setenv("KD_RUNS", str(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                                 # as each Ray task
    try:
        one_by_one = [kd.run(j.config, progress=False) for j in jobs]
    finally:
        torch.set_num_threads(threads)
    assert one_by_one[0].trained and one_by_one[2].trained      # the teacher: trained for the first student
    for a, b in zip(on_ray, one_by_one):
        wa, wb = weights(a), weights(b)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
        assert a.final_acc == b.final_acc


def _ray_worker_pids(runs) -> list[int]:
    """The processes running kd's Ray task (Ray titles them ray::_remote_train) for this test's
    Ray instance only: their environment carries its run cache (KD_RUNS), so a kd run_many of
    another process on the same machine is left alone."""
    from pathlib import Path
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"_remote_train" in (proc / "cmdline").read_bytes() and \
                    f"KD_RUNS={runs}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return [p for p in pids if p != os.getpid()]


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(local_ray):
    long = TEACHER.with_(train__epochs=6, data__per_class=300, seed=7)
    folder = local_ray / f"{long.key()}-{kd.runner.device_tag(kd.default_device())}"
    seen = {}

    def kill_after_first_checkpoint():
        deadline = time.time() + 240
        while time.time() < deadline and not (folder / "checkpoint.pt").exists():
            time.sleep(0.05)
        time.sleep(0.2)
        seen["history"] = torch.load(folder / "checkpoint.pt", weights_only=True)["history"]
        for pid in _ray_worker_pids(local_ray):
            os.kill(pid, signal.SIGKILL)
            seen["killed"] = pid

    killer = threading.Thread(target=kill_after_first_checkpoint)
    killer.start()
    result = kd.run_many([kd.Job(long, "long")], workers=2)[0]
    killer.join()
    assert "killed" in seen and len(seen["history"]) >= 1
    history = result.metrics["history"]
    assert len(history) == 6
    assert history[0] == seen["history"][0]           # the epoch before the kill was not trained again
    alone = kd.run(long.with_(seed=8), progress=False)   # a sanity anchor: an unrelated run trains fine
    assert alone.trained


def test_ctrl_c_stops_run_many_on_ray_within_seconds_saying_what_finished(tmp_path):
    """A SIGINT while Ray trains ends the caller, cancels the tasks and says in one line that
    finished runs stay and stopped ones resume."""
    import subprocess
    import sys
    long = TEACHER.with_(train__epochs=400, data__per_class=600, seed=11)
    code = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"   # a shell's background
            "import kd, json, sys; from kd.config import from_dict; cfg = from_dict(json.loads(sys.argv[1])); "  # job ignores it
            "kd.run_many([kd.Job(cfg, 'long')], workers=2)")
    env = {**os.environ, "KD_RUNS": str(tmp_path), "KD_PROGRESS": "off"}
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(long.to_dict())], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:              # wait until Ray has started the task
        lines.append(line)
        if line.startswith("training 1 run(s)"):
            break
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    start = time.time()
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.time() - start < 30 and proc.returncode != 0
    assert "run_many: interrupted; 0 run(s) finished and are in the run cache, 1 stopped" in out


def test_a_bad_config_is_refused_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_RUNS", str(tmp_path))
    bad = TEACHER.with_(data=kd.DataConfig("mnist", holdout=60_000))
    with pytest.raises(ValueError) as refused:
        kd.run(bad, progress=False)
    with pytest.raises(ValueError) as again:
        kd.run_many([kd.Job(TEACHER), kd.Job(bad)], workers=2)
    assert str(again.value) == str(refused.value) and "holdout=60000" in str(again.value)
    assert not list(tmp_path.glob("*-cpu-*"))          # the good run did not start either


def test_runs_move_between_caches_with_their_checksums(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "here"))
    trained = kd.run(STUDENT, progress=False)
    exported = parallel.export_runs([STUDENT], tmp_path / "runs.tar")
    assert len(exported) == 2                                                # the teacher comes along
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "there"))
    imported, present = parallel.import_runs(tmp_path / "runs.tar")
    assert sorted(imported) == sorted(exported) and present == []
    served = kd.run(STUDENT, progress=False)
    assert not served.trained and served.final_acc == trained.final_acc
    assert all(torch.equal(a, b) for a, b in zip(weights(served).values(), weights(trained).values()))
    again, already = parallel.import_runs(tmp_path / "runs.tar")          # a second import adds nothing
    assert again == [] and sorted(already) == sorted(exported)


def test_a_damaged_export_is_refused_naming_the_file(tmp_path, monkeypatch):
    import tarfile
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "here"))
    kd.run(TEACHER, progress=False)
    parallel.export_runs([TEACHER], tmp_path / "runs.tar")
    with tarfile.open(tmp_path / "runs.tar") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    name = next(n for n in members if n.endswith("model.pt"))
    blob = bytearray(members[name])
    blob[len(blob) // 2] ^= 0xFF
    members[name] = bytes(blob)
    import io
    with tarfile.open(tmp_path / "bad.tar", "w") as tar:
        for n, b in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(b)
            tar.addfile(info, io.BytesIO(b))
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "there"))
    with pytest.raises(ValueError, match="model.pt does not match its sha256"):
        parallel.import_runs(tmp_path / "bad.tar")
    assert not list((tmp_path / "there").glob("*-cpu-*")) if (tmp_path / "there").exists() else True


def test_closure_orders_teachers_and_first_stages_first_and_shares_them():
    init = STUDENT.with_(method=kd.MethodConfig("fitnet"), teacher=TEACHER.with_(model=kd.ModelConfig("mlp", (64,))))
    order = parallel.closure([STUDENT, STUDENT.with_(seed=1), TEACHER])
    assert [c.key() for c in order] == [TEACHER.key(), STUDENT.key(), STUDENT.with_(seed=1).key()]
