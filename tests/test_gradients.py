"""kd.gradients: the per-step hook sees every step, only reads, and lays out zhang Fig. 1."""
import numpy as np
import pytest
import torch

import kd
from kd.gradients import GradientRecorder, per_epoch, stage_grid
from kd.train import fit


def tiny(seed: int = 0) -> kd.RunConfig:
    return kd.RunConfig(data=kd.DataConfig("cifar10", per_class=10, test_per_class=5),
                        model=kd.ModelConfig("resnet8"), seed=seed,
                        train=kd.TrainConfig(epochs=2, batch_size=25, lr=0.05, weight_decay=5e-4))


def test_recorder_sees_every_step_and_leaves_the_weights_bit_identical(tmp_path, monkeypatch):
    cfg = tiny()
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "plain"))
    plain = kd.run(cfg, progress=False)
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "recorded"))
    recorded = kd.run(cfg, progress=False, record_gradients=True)
    a, b = plain.model.state_dict(), recorded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert plain.metrics["final_acc"] == recorded.metrics["final_acc"]
    names, values = per_epoch(recorded.metrics)
    assert values.shape == (2, len(names)) and (values > 0).all() and np.isfinite(values).all()
    assert "stages.0.0.conv1.weight" in names and "classifier.weight" in names
    with pytest.raises(ValueError, match="record_gradients=True"):
        per_epoch(plain.metrics)
    # the plain run's cache entry has no gradients: asking for them trains it again, identically
    monkeypatch.setenv("KD_RUNS", str(tmp_path / "plain"))
    again = kd.run(cfg, progress=False, record_gradients=True)
    assert again.trained and all(torch.equal(again.model.state_dict()[k], a[k]) for k in a)
    assert per_epoch(again.metrics)[1].tolist() == values.tolist()
    assert not kd.run(cfg, progress=False, record_gradients=True).trained


def test_recorder_counts_steps_and_averages_the_mean_absolute_gradient():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    recorder = GradientRecorder(model)
    assert recorder.names == ["0.weight", "2.weight"]          # biases left out
    expected = []
    for step in range(3):
        model.zero_grad()
        model(torch.randn(5, 3)).pow(2).sum().backward()
        expected.append([model[0].weight.grad.abs().mean().item(), model[2].weight.grad.abs().mean().item()])
        recorder.after_backward(0, step)
    record = recorder.end_epoch(0)
    assert recorder.steps_seen == 3
    assert record["grad_abs_mean"] == pytest.approx(np.mean(expected, axis=0).tolist(), rel=1e-6)
    assert recorder.end_epoch(1)["grad_abs_mean"] == []        # a fresh sum each epoch


def test_fit_calls_the_hook_at_every_step():
    cfg = tiny()
    train, _ = kd.split(cfg.data)
    student = kd.models.build(cfg.model, 10, (3, 32, 32))
    recorder = GradientRecorder(student)
    loader = kd.DeviceLoader(train, 25, shuffle=True, augment="crop_flip")
    history = fit(kd.distill.Distiller(student), loader, None, cfg.train, 0, progress=False,
                     on_step=recorder)
    assert recorder.steps_seen == 2 * len(loader) == 8
    assert [len(h["grad_abs_mean"]) for h in history] == [len(recorder.names)] * 2


def test_stage_grid_is_one_row_per_stage_of_main_path_convs():
    student = kd.models.build(kd.ModelConfig("resnet14"), 10, (3, 32, 32))
    names = [n for n, p in student.named_parameters() if p.ndim > 1]
    values = np.arange(len(names), dtype=float)
    grid, rows, cols = stage_grid(names, values)
    assert grid.shape == (3, 4) and rows == ["stage 1", "stage 2", "stage 3"] and len(cols) == 4
    # stage 2's first conv is stages.1.0.conv1, whatever the shortcut's position
    assert grid[1, 0] == names.index("stages.1.0.conv1.weight")
    assert grid[2, 3] == names.index("stages.2.1.conv2.weight")
    assert not np.isnan(grid).any()
    with pytest.raises(ValueError, match="no residual-stage convs"):
        stage_grid(["0.weight"], np.ones(1))


def test_measured_computes_once_per_run_and_params(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_RUNS", str(tmp_path))
    cfg = tiny().with_(train__epochs=1)
    result = kd.run(cfg, progress=False)
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    assert kd.measured(result, "probe", {"images": 10}, compute) == {"n": 1}
    assert kd.measured(result, "probe", {"images": 10}, compute) == {"n": 1}     # cached
    assert kd.measured(result, "probe", {"images": 20}, compute) == {"n": 2}     # other params
    files = list((tmp_path / result.key / "measures").glob("probe-*.json"))
    assert len(files) == 2
    files[0].write_text("{not json")
    kd.measured(result, "probe", {"images": 10}, compute)
    kd.measured(result, "probe", {"images": 20}, compute)
    assert len(calls) == 3                                                        # one rewritten
