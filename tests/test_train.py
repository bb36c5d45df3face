import json

import pytest
import torch

import kd
from kd import measure
from kd.train import lr_factor

from conftest import interrupt_after, tiny_run


def test_training_loss_falls_and_the_model_learns(mnist):
    result = kd.run(tiny_run(train__epochs=4), progress=False)
    losses = [h["loss"] for h in result.metrics["history"]]
    assert losses[-1] < 0.5 * losses[0]
    assert result.final_acc > 75.0          # 500 images, 4 epochs, test on all 10,000
    assert result.metrics["data"] == "mnist" and result.metrics["train_images"] == 500
    assert result.best_acc >= result.final_acc
    assert 1 <= result.metrics["best_epoch"] <= 4


def test_hinton_student_trains_from_a_teacher(mnist):
    teacher = tiny_run(model__hidden=(128,))
    student = tiny_run(method=kd.MethodConfig("hinton", T=4.0, alpha=0.9), teacher=teacher)
    result = kd.run(student, progress=False)
    losses = [h["loss_kd"] for h in result.metrics["history"]]
    assert losses[-1] < losses[0] and result.final_acc > 60.0
    assert kd.is_done(teacher, "cpu") and kd.is_done(student, "cpu")


def test_same_config_same_weights_and_the_cache_is_reused(mnist, monkeypatch):
    cfg = tiny_run(model__dropout=0.3)
    a = kd.run(cfg, progress=False)
    import kd.runner as run_module
    monkeypatch.setattr(run_module, "fit", lambda *a, **k: pytest.fail("a finished run was trained again"))
    b = kd.run(cfg, progress=False)
    assert a.metrics == b.metrics
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0)


def test_seed_changes_the_run():
    a, b = tiny_run(seed=0), tiny_run(seed=1)
    assert a.key() != b.key()
    assert kd.run(a, progress=False).final_acc != kd.run(b, progress=False).final_acc


def test_cache_key_covers_every_part_of_the_config():
    base = tiny_run(method=kd.MethodConfig("hinton"), teacher=tiny_run())
    variants = [base.with_(data__per_class=51), base.with_(model__hidden=(65,)),
                base.with_(method__T=3.0), base.with_(train__lr=0.01), base.with_(seed=3),
                base.with_(teacher=tiny_run(seed=9))]
    keys = {base.key()} | {v.key() for v in variants}
    assert len(keys) == 1 + len(variants)
    assert base.key() == tiny_run(method=kd.MethodConfig("hinton"), teacher=tiny_run()).key()
    assert base.with_(method__T=4).key() == base.with_(method__T=4.0).key()
    assert kd.config.from_dict(json.loads(json.dumps(base.to_dict()))) == base


def test_interrupted_run_resumes_from_its_last_epoch(mnist, tmp_path, monkeypatch):
    cfg = tiny_run(train__epochs=3, model__dropout=0.2)
    reference = kd.run(cfg, progress=False)
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "interrupted"))
    interrupt_after(cfg, 2, monkeypatch)
    assert not kd.is_done(cfg, "cpu")
    resumed = kd.run(cfg, progress=False)
    assert [h["test_acc"] for h in resumed.metrics["history"]] == \
        [h["test_acc"] for h in reference.metrics["history"]]
    for v, w in zip(resumed.model.state_dict().values(), reference.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0)


def test_a_budget_counts_the_training_its_run_cache_hides(mnist, tmp_path, monkeypatch):
    """A run trained here costs nothing before, however often it is asked for again; a
    cached one all its training seconds; a resumed one the epochs its checkpoint carried;
    each run counts once; and the budget line adds them to the wall time."""
    import time

    import kd.runner as run_module
    monkeypatch.setattr(run_module, "RUNS_ASKED", {})
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "budget"))
    start = time.perf_counter() - 600.0

    def before(*runs):
        wall, seconds = kd.spent_seconds(start, runs)
        assert 600.0 <= wall < 900.0
        return seconds

    here = kd.run(tiny_run(train__epochs=2), progress=False)
    again = kd.run(tiny_run(train__epochs=2), progress=False)
    assert here.trained and not again.trained and before(here) == before(again) == 0.0
    monkeypatch.setattr(run_module, "RUNS_ASKED", {})       # a later execution: served by the cache
    cached = kd.run(tiny_run(train__epochs=2), progress=False)
    # all its training seconds, as seconds of the whole machine (its threads' share of the cores)
    share = min(1.0, cached.metrics["threads"] / cached.metrics["cores"])
    assert before(cached, cached) == pytest.approx(cached.metrics["train_seconds"] * share) and share > 0
    assert cached.metrics["train_seconds"] > 0
    cfg = tiny_run(train__epochs=3, model__dropout=0.2)
    interrupt_after(cfg, 2, monkeypatch)
    resumed = kd.run(cfg, progress=False)
    history = resumed.metrics["history"]
    assert resumed.trained and before(resumed) == pytest.approx(sum(h["seconds"] for h in history[:2]))
    assert before(cached, resumed) == pytest.approx(before(cached) + before(resumed))
    assert kd.budget_line(start, 3600, [cached]).endswith(": within it")
    assert kd.budget_line(start, 300, [cached]).endswith(": over it by 5 min")
    with pytest.raises(ValueError, match="budget_s"):
        kd.budget_line(start, 0, [cached])
    line = kd.wall_time(start)        # the last cell's line: the machine, and the cache's hidden cost
    assert line.startswith("wall time 1") and kd.measure.machine() in line
    ahead = sum(share for here, _, share in run_module.RUNS_ASKED.values() if not here)
    assert ahead > 0 and f"{ahead / 60:.0f} min of this machine's time" in line


def test_a_checkpoint_without_gradients_restarts_when_they_are_asked_for(mnist, tmp_path, monkeypatch):
    """Interrupted without the gradient hook, resumed with it: the epochs already run have no
    record, so the run starts afresh, and still ends with the uninterrupted run's weights."""
    cfg = tiny_run(train__epochs=3)
    reference = kd.run(cfg, progress=False)
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "interrupted"))
    interrupt_after(cfg, 1, monkeypatch)
    resumed = kd.run(cfg, progress=False, record_gradients=True)
    assert [len(h["grad_abs_mean"]) > 0 for h in resumed.metrics["history"]] == [True] * 3
    for v, w in zip(resumed.model.state_dict().values(), reference.model.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0)


@pytest.mark.parametrize("schedule, step, expected", [
    ("constant", 57, 1.0), ("step", 9, 1.0), ("step", 10, 0.2), ("step", 30, 0.04),
    ("cosine", 0, 1.0), ("cosine", 50, 0.5), ("exp", 25, 0.2 ** 2),
    ("onecycle", 0, 0.0), ("onecycle", 25, 1.0), ("onecycle", 100, 0.0),
])
def test_lr_schedules(schedule, step, expected):
    cfg = kd.TrainConfig(epochs=10, schedule=schedule, milestones=(1, 3), gamma=0.2)
    assert lr_factor(cfg, step, steps_per_epoch=10) == pytest.approx(expected)


def test_adam_and_weight_decay_train(mnist):
    result = kd.run(tiny_run(train__optimizer="adam", train__lr=1e-3, train__weight_decay=1e-4),
                    progress=False)
    assert result.final_acc > 70.0


def test_zhang_table1_parameter_and_flop_counts():
    teacher = kd.build(kd.ModelConfig("mlp", (1200, 1200)), 10, (1, 28, 28))
    student = kd.build(kd.ModelConfig("mlp", (400,)), 10, (1, 28, 28))
    x = torch.zeros(4, 1, 28, 28)
    assert measure.count_params(teacher, include_bias=False) == 940800 + 1440000 + 12000
    assert measure.count_params(student, include_bias=False) == 313600 + 4000
    assert measure.count_macs(teacher, x) == 2_392_800
    assert measure.count_macs(student, x) == 317_600
    assert measure.count_params(teacher) == 2_392_800 + 1200 + 1200 + 10


def test_features_on_request():
    model = kd.build(kd.ModelConfig("mlp", (20, 10)), 10, (1, 28, 28))
    x = torch.randn(3, 1, 28, 28)
    out = model(x, features=True)
    assert isinstance(out, kd.Features)
    assert [s.shape for s in out.stages] == [(3, 20), (3, 10)]
    torch.testing.assert_close(out.logits, model(x))
    assert torch.equal(out.embedding, out.stages[-1])


def test_report_writes_the_result_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    report = kd.Report("10_x", "cpu", "mnist")
    row = report.row("Z1", "student accuracy", [98.0, 98.2, 98.4], paper=98.06)
    assert row["ours"] == pytest.approx(98.2) and row["std"] == pytest.approx(0.2) and row["n"] == 3
    report.claim("Z1", "KD helps", "held", "+0.5")
    assert report.save() == "results/10_x/cpu.json"
    saved = json.loads((tmp_path / "results" / "10_x" / "cpu.json").read_text())
    assert set(saved) == {"notebook", "profile", "data", "rows", "claims", "wall_seconds"}
    assert 0 <= saved["wall_seconds"] < 60
    assert set(saved["rows"][0]) == {"id", "quantity", "paper", "ours", "std", "n", "unit"}
    with pytest.raises(ValueError, match="finite"):
        report.row("Z1", "bad", float("nan"))


def test_cifar100_path_trains_on_the_synthetic_stand_in():
    """CIFAR-100 cannot be had offline: its code path (100 classes, colour, crop/flip on the
    device, a CIFAR ResNet) runs on a synthetic stand-in of the same shape."""
    cfg = kd.RunConfig(data=kd.DataConfig("cifar100-synthetic", per_class=20),
                       model=kd.ModelConfig("resnet8"),
                       train=kd.TrainConfig(epochs=3, batch_size=100, lr=0.05, weight_decay=5e-4))
    result = kd.run(cfg, progress=False)
    history = result.metrics["history"]
    assert result.metrics["data"] == "cifar100-synthetic" and result.metrics["train_images"] == 2000
    assert history[-1]["loss"] < history[0]["loss"]
    assert result.final_acc > 5.0            # chance is 1%


def test_precision_auto_follows_the_hardware_and_names_the_run_folder(mnist):
    from kd.runner import device_tag
    from kd.train import native_bf16, resolve_precision
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if native_bf16(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert device_tag(cpu) == f"cpu-{resolve_precision('auto', cpu)}"
    result = kd.run(tiny_run(), progress=False)
    assert result.key.endswith(device_tag(cpu))
    # an explicit precision is part of the hashed config: fp32 and bf16 never share a folder
    assert tiny_run(train__precision="fp32").key() != tiny_run(train__precision="bf16").key()


def test_teacher_runs_in_inference_mode_and_its_outputs_can_enter_a_loss():
    teacher = kd.build(kd.ModelConfig("resnet8"), 10, (3, 32, 32))
    student = kd.build(kd.ModelConfig("resnet8"), 10, (3, 32, 32))
    distiller = kd.Distiller(student, teacher)
    x = torch.randn(4, 3, 32, 32)
    out = distiller.run_teacher(x, features=True)
    assert not any(t.is_inference() for t in [out.logits, out.embedding, out.stem, *out.stages])
    loss = (student(x, features=True).stages[0] * out.stages[0]).sum()   # mul saves both operands
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_fit_puts_networks_in_channels_last():
    cfg = kd.RunConfig(data=kd.DataConfig("cifar100-synthetic", per_class=2, test_per_class=1),
                       model=kd.ModelConfig("resnet8"), train=kd.TrainConfig(batch_size=50))
    result = kd.run(cfg, progress=False)
    conv = result.model.stem[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)


def test_a_result_predicts_in_the_precision_it_was_trained_and_measured_in(mnist):
    test = kd.load("mnist", "test")
    loader = kd.loader_for(test)
    for precision in ("fp32", "bf16"):
        result = kd.run(tiny_run(train__precision=precision), progress=False)
        logits = result.predict(loader)
        assert 100.0 * (logits.argmax(1) == test.labels).float().mean().item() == result.final_acc
        assert torch.equal(logits, kd.predict(result.model, loader, precision))
    fp32 = kd.predict(result.model, loader, "fp32")
    assert not torch.equal(fp32, logits)        # bf16 logits differ from fp32 ones


def test_compiled_step_trains_like_the_eager_one(mnist):
    """torch.compile is opt-in (TrainConfig.compile); the compiled forward must train the same
    network to the same place, up to float rounding."""
    eager = kd.run(tiny_run(train__precision="fp32"), progress=False)
    compiled = kd.run(tiny_run(train__precision="fp32", train__compile=True), progress=False)
    assert eager.key != compiled.key
    torch.testing.assert_close([h["loss"] for h in compiled.metrics["history"]],
                               [h["loss"] for h in eager.metrics["history"]], rtol=1e-4, atol=0)
    assert abs(compiled.final_acc - eager.final_acc) <= 0.2


def test_under_papermill_a_run_prints_one_line_and_no_progress_bar(mnist, monkeypatch, capfd):
    monkeypatch.setenv("KD_PROGRESS", "line")
    result = kd.run(tiny_run(), name="tiny student")
    out, err = capfd.readouterr()
    assert err == ""
    assert out.splitlines() == [f"trained tiny student: {result.final_acc:.2f}% at the last of 2 epochs "
                                f"(best {result.best_acc:.2f}% at epoch {result.metrics['best_epoch']}) in "
                                f"{result.metrics['train_seconds']:.0f} s"]
    kd.run(tiny_run(), name="tiny student")            # from the cache: silent
    assert capfd.readouterr() == ("", "")
    monkeypatch.setenv("KD_PROGRESS", "bar")
    kd.run(tiny_run(seed=1), name="tiny student")
    assert "%|" in capfd.readouterr().err                 # interactive users keep a live bar
    monkeypatch.setenv("KD_PROGRESS", "loud")
    with pytest.raises(ValueError, match="KD_PROGRESS"):
        kd.run(tiny_run(seed=2))


def test_save_figure_names_the_file_by_profile(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.setenv("KD_ROOT", str(tmp_path))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert kd.save_figure(fig, "10_x", "cpu") == "figures/10_x.png"
    assert kd.save_figure(fig, "10_x", "smoke") == "figures/10_x-smoke.png"
    assert (tmp_path / "figures" / "10_x.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setenv("KD_FIGURES", str(tmp_path / "build" / "stage"))
    assert kd.save_figure(fig, "10_x", "cpu") == "figures/10_x.png"      # named as it will be
    assert (tmp_path / "build" / "stage" / "10_x.png").exists()
    plt.close(fig)


def test_adadelta_with_the_exp_schedule_is_the_mnist_examples_steplr(mnist):
    """The PyTorch MNIST example: Adadelta lr 1.0 (rho 0.9, eps 1e-6) and StepLR(step_size=1,
    gamma=0.7) stepped after every epoch; kd's "exp" schedule multiplies by gamma per epoch."""
    from kd.train import make_optimizer
    cfg = kd.TrainConfig(epochs=3, optimizer="adadelta", lr=1.0, schedule="exp", gamma=0.7)
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], cfg)
    assert isinstance(opt, torch.optim.Adadelta)
    assert opt.defaults["lr"] == 1.0 and opt.defaults["rho"] == 0.9 and opt.defaults["eps"] == 1e-6
    assert [lr_factor(cfg, e * 10 + k, 10) for e in range(3) for k in (0, 9)] == \
        pytest.approx([1, 1, 0.7, 0.7, 0.49, 0.49])
    result = kd.run(tiny_run(train__optimizer="adadelta", train__lr=1.0), progress=False)
    assert result.final_acc > 70.0
    with pytest.raises(ValueError, match="optimizer"):
        kd.TrainConfig(optimizer="rmsprop")


def test_kd_threads_sets_the_thread_count_and_a_bad_value_is_refused_naming_it(monkeypatch):
    import os
    import subprocess
    import sys
    monkeypatch.delenv("KD_THREADS", raising=False)
    assert kd.cpu_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("KD_THREADS", "1")
    assert kd.cpu_threads() == 1
    for bad in ("x", "0", "-2", "1.5"):
        monkeypatch.setenv("KD_THREADS", bad)
        with pytest.raises(ValueError, match="KD_THREADS"):
            kd.cpu_threads()
    env = {**os.environ, "KD_THREADS": "1"}      # a process told one thread uses one from its import of kd
    out = subprocess.run([sys.executable, "-c", "import torch; torch.set_num_threads(2); import kd; "
                          "print(torch.get_num_threads())"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
