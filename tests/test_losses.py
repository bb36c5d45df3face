import math

import pytest
import torch

import kd
from kd import losses
from kd.data import Batch


def hand_kd(s: torch.Tensor, t: torch.Tensor, T: float) -> float:
    """T^2 * mean over the batch of sum_k p_t,k (log p_t,k - log p_s,k), written out."""
    total = 0.0
    for zs, zt in zip(s.tolist(), t.tolist()):
        es = [math.exp(v / T) for v in zs]
        et = [math.exp(v / T) for v in zt]
        ps = [v / sum(es) for v in es]
        pt = [v / sum(et) for v in et]
        total += sum(b * (math.log(b) - math.log(a)) for a, b in zip(ps, pt))
    return T * T * total / len(s)


@pytest.mark.parametrize("T", [1.0, 4.0, 10.0])
def test_hinton_kd_matches_hand_computation(T):
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert losses.hinton_kd(s, t, T).item() == pytest.approx(hand_kd(s, t, T), rel=1e-5)


def test_hinton_kd_detaches_the_teacher_itself():
    """No gradient reaches the teacher's logits, even when the caller forgets to detach them."""
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    losses.hinton_kd(s, t, 4.0).backward()
    assert t.grad is None
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_hinton_kd_is_batchmean_not_elementwise_mean():
    """Pitfall: KL with reduction='mean' divides by batch x classes as well."""
    s, t = torch.randn(8, 10), torch.randn(8, 10)
    per_example = torch.stack([losses.hinton_kd(s[i:i + 1], t[i:i + 1], 2.0) for i in range(8)])
    assert losses.hinton_kd(s, t, 2.0).item() == pytest.approx(per_example.mean().item(), rel=1e-5)


def test_hinton_kd_minimum_zero_where_student_equals_teacher_and_shift_invariant():
    t = torch.randn(5, 10)
    assert losses.hinton_kd(t.clone(), t, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.hinton_kd(t + 3.0, t, 4.0).item() == pytest.approx(0.0, abs=1e-5)
    assert losses.hinton_kd(torch.randn(5, 10), t, 4.0).item() > 0


def test_hinton_kd_gradient_closed_form():
    """d/dz_s [T^2 KL] = T (p_s - p_t) / B: the T^2 factor keeps gradients of order 1/T."""
    T, B = 4.0, 3
    s = torch.randn(B, 6, requires_grad=True)
    t = torch.randn(B, 6)
    losses.hinton_kd(s, t, T).backward()
    expected = T * (torch.softmax(s.detach() / T, 1) - torch.softmax(t / T, 1)) / B
    torch.testing.assert_close(s.grad, expected, rtol=1e-5, atol=1e-6)


def test_soft_targets_temperature():
    z = torch.tensor([[0.0, math.log(3.0)]])
    assert losses.soft_targets(z, 1.0).tolist()[0] == pytest.approx([0.25, 0.75])
    assert losses.soft_targets(z, 1e6).tolist()[0] == pytest.approx([0.5, 0.5], abs=1e-5)


def _pair():
    torch.manual_seed(0)
    teacher = kd.build(kd.ModelConfig("mlp", (32,), dropout=0.5), 10, (1, 28, 28))
    student = kd.build(kd.ModelConfig("mlp", (16,)), 10, (1, 28, 28))
    return student, teacher


def test_distiller_keeps_teacher_frozen_in_eval_and_out_of_the_optimizer():
    student, teacher = _pair()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    d = kd.METHODS["hinton"](student, teacher, kd.MethodConfig("hinton", T=4, alpha=0.9))
    d.train()
    assert not teacher.training and student.training
    learnable = {id(p) for p in d.learnable_parameters()}
    assert not learnable & {id(p) for p in teacher.parameters()}
    assert learnable == {id(p) for p in student.parameters()}
    opt = torch.optim.SGD(d.learnable_parameters(), lr=0.5)
    x = torch.randn(8, 1, 28, 28)
    batch = Batch(x, torch.randint(0, 10, (8,)), torch.arange(8))
    logits, named = d.forward_train(batch, epoch=0)
    assert set(named) == {"ce", "kd"}
    sum(named.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())
    opt.step()
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_hinton_weights_ce_and_kd_by_alpha():
    student, teacher = _pair()
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    batch = Batch(x, y, torch.arange(4))
    d = kd.METHODS["hinton"](student, teacher, kd.MethodConfig("hinton", T=3.0, alpha=0.25))
    d.train()
    _, named = d.forward_train(batch, 0)
    s = student(x)
    with torch.no_grad():
        t = teacher(x)
    assert named["ce"].item() == pytest.approx(0.75 * torch.nn.functional.cross_entropy(s, y).item(), rel=1e-5)
    assert named["kd"].item() == pytest.approx(0.25 * hand_kd(s.detach(), t, 3.0), rel=1e-4)


def test_cached_teacher_logits_equal_fresh_ones(mnist):
    student, teacher = _pair()
    loader = kd.DeviceLoader(mnist.subset(torch.arange(300)), 64, shuffle=True, seed=1)
    d = kd.METHODS["hinton"](student, teacher, kd.MethodConfig("hinton"))
    batch = next(iter(loader.epoch(3)))
    with torch.no_grad():
        fresh = teacher(batch.images)
    d.cache_teacher_logits(loader)
    torch.testing.assert_close(d.teacher_logits(batch), fresh, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="augmentation"):
        d.cache_teacher_logits(kd.DeviceLoader(mnist.subset(torch.arange(10)), 5, augment="crop_flip"))
