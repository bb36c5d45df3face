"""kd.measure.inference_ratio: the teacher/student inference-time ratio of gupta Tables 1-2.

Exact answers come from a fake clock that each forward pass advances by the network's own
cost, so no exact answer depends on a shared machine's timing; one real timing only checks the
direction, with a margin of about a thousand in the work done."""
import pytest
import torch
from torch import nn

from kd import measure
from kd.measure import Speed, inference_ratio


class Clock:
    now = 0.0


class Costly(nn.Module):
    """A network whose forward pass takes `cost` seconds of the fake clock; it records the
    mode and the grad state it ran in."""

    def __init__(self, clock: Clock, cost: float):
        super().__init__()
        self.clock, self.cost, self.calls = clock, cost, []
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.cost
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(measure.time, "perf_counter", lambda: c.now)
    return c


def test_a_network_against_a_copy_of_itself_is_one(clock):
    net = Costly(clock, 0.002)
    twin = Costly(clock, 0.002)
    twin.load_state_dict(net.state_dict())
    speed = inference_ratio(net, twin, torch.randn(3, 4), repeats=4, rounds=2)
    assert isinstance(speed, Speed)
    assert speed == pytest.approx(Speed(0.002, 0.002, 1.0))


def test_ratio_is_teacher_over_student_in_eval_mode_without_grad(clock):
    teacher, student = Costly(clock, 0.05), Costly(clock, 0.01)
    teacher.train()
    student.eval()
    speed = inference_ratio(teacher, student, torch.randn(3, 4), repeats=5, rounds=3)
    assert speed == pytest.approx(Speed(0.05, 0.01, 5.0))
    assert len(teacher.calls) == len(student.calls) == 3 * (3 + 5)      # warm-up 3, then 5 timed
    assert set(teacher.calls) == set(student.calls) == {(False, False)}
    assert teacher.training and not student.training                      # modes come back


def test_a_much_larger_network_is_slower():
    def convs(channels: int, layers: int) -> nn.Module:
        body = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
        for _ in range(layers - 1):
            body += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))

    big, small = convs(64, 4), convs(4, 1)            # about 1000x the multiply-adds
    batch = torch.randn(4, 3, 16, 16)
    # a busy machine can stall one network's timed passes (seen: 2 measurements in 100 under a
    # second notebook's load); three tries make that a one-in-100,000 event
    assert any(inference_ratio(big, small, batch, repeats=5, rounds=3).ratio > 1 for _ in range(3))
    assert all(p.grad is None for p in big.parameters())


@pytest.mark.parametrize("batch, kwargs", [
    (torch.randn(0, 4), {}),
    (torch.randn(8), {}),
    (torch.ones(2, 4, dtype=torch.long), {}),
    ([[0.0]], {}),
    (torch.randn(2, 4), {"repeats": 0}),
    (torch.randn(2, 4), {"rounds": 1.5}),
])
def test_bad_input_raises(batch, kwargs):
    net = nn.Linear(4, 2)
    with pytest.raises(ValueError):
        inference_ratio(net, net, batch, **kwargs)


def test_networks_must_be_modules():
    with pytest.raises(TypeError):
        inference_ratio(lambda x: x, nn.Linear(4, 2), torch.randn(2, 4))


def test_the_machine_line_names_the_precision_auto_resolves_to(monkeypatch):
    """kd.machine says what "auto" trains in on the CPU: bf16 only where the CPU computes it
    natively (AVX512-BF16 or AMX), float32 elsewhere; and which CPU and kernels timed it."""
    from kd import train
    for native, expected in ((False, "precision auto = fp32"), (True, "precision auto = bf16")):
        monkeypatch.setattr(train.torch.cpu, "_is_avx512_bf16_supported", lambda: native)
        monkeypatch.setattr(train.torch.cpu, "_is_amx_tile_supported", lambda: False)
        line = measure.machine("cpu")
        assert line.startswith(f"cpu ({measure.cpu_name()}, ")
        assert line.endswith(expected)
        assert f"CPU kernels {torch.backends.cpu.get_cpu_capability()}" in line
