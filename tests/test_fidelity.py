"""kd.fidelity: Stanton et al.'s top-1 agreement and predictive KL, Cho & Hariharan's KD
error, the ensemble teacher (averaged probabilities), and the fidelity sums the trainer
logs for Hinton-family runs; kd.data's mixup and TrainConfig.schedule_epochs."""
import math

import pytest
import torch
from torch import nn

import kd
from kd import fidelity as fd
from kd.data import DeviceLoader, mixup_inputs, rows
from kd.studies import cho_stanton as cs
from kd.train import lr_factor

from conftest import tiny_run


def test_a_model_against_itself_agrees_fully_with_zero_kl():
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    assert fd.agreement(logits, logits) == 100.0
    assert fd.predictive_kl(logits, logits) == 0.0
    assert fd.kd_error(logits, logits) == 0.0


def test_hand_counted_agreement_kd_error_and_kl():
    t = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [5.0, 0.0, 0.0]])
    s = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 2.0], [0.0, 5.0, 0.0]])
    assert fd.agreement(t, s) == 50.0              # rows 2 and 3 agree
    assert fd.kd_error(t, s) == 50.0
    # KL of one row by hand: sum_j p_j (log p_j - log q_j)
    p, q = torch.softmax(t.double(), 1), torch.softmax(s.double(), 1)
    by_hand = sum(float((p[i] * (p[i].log() - q[i].log())).sum()) for i in range(4)) / 4
    assert fd.predictive_kl(t, s) == pytest.approx(by_hand, rel=1e-12)
    # rows 2 and 3 are shifts of each other in row 2 only: their KL is 0
    assert fd.predictive_kl(t[1:2], s[1:2]) == pytest.approx(0.0, abs=1e-15)


def _linear(weight: torch.Tensor) -> nn.Module:
    net = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    net.weight.data.copy_(weight)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = net

        def forward(self, x, features=False):
            return self.body(x.flatten(1))
    return Net()


def test_fidelity_against_a_model_with_two_output_rows_swapped_matches_a_hand_count():
    """Swapping classes a and b of the classifier moves exactly the images whose top-1 is a
    or b, and each image's KL is (p_a - p_b)(log p_a - log p_b)."""
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(10, 3 * 4 * 4, generator=g)
    swapped = weight.clone()
    swapped[[2, 7]] = weight[[7, 2]]
    teacher, student = _linear(weight), _linear(swapped)
    images = torch.randint(0, 256, (300, 3, 4, 4), dtype=torch.uint8, generator=g)
    data = kd.Dataset(images, torch.zeros(300, dtype=torch.long), 10, "test", (0.5,) * 3, (0.25,) * 3)
    loader = DeviceLoader(data, 64)
    got = fd.fidelity(teacher, student, loader, precision="fp32")
    x = loader.prepare(images).flatten(1).double()
    logits = x @ weight.double().T
    top = logits.argmax(1)
    moved = int(((top == 2) | (top == 7)).sum())
    assert 0 < moved < 300
    assert got.agreement == pytest.approx(100.0 * (300 - moved) / 300, abs=1e-9)
    assert got.kd_error == pytest.approx(100.0 * moved / 300, abs=1e-9)
    p = torch.softmax(logits, 1)
    by_hand = ((p[:, 2] - p[:, 7]) * (p[:, 2].log() - p[:, 7].log())).mean().item()
    assert got.kl == pytest.approx(by_hand, rel=1e-4)
    assert got.n == 300
    itself = fd.fidelity(teacher, teacher, loader, precision="fp32")
    assert (itself.agreement, itself.kl) == (100.0, 0.0)


def test_fidelity_puts_both_networks_in_eval_mode_and_gives_their_modes_back():
    class ModeSpy(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []
            self.lin = nn.Linear(3 * 4 * 4, 10)

        def forward(self, x, features=False):
            self.seen.append(self.training)
            return self.lin(x.flatten(1))
    t, s = ModeSpy(), ModeSpy()
    t.train(), s.train()
    images = torch.randint(0, 256, (20, 3, 4, 4), dtype=torch.uint8)
    data = kd.Dataset(images, torch.zeros(20, dtype=torch.long), 10, "test", (0.5,) * 3, (0.25,) * 3)
    fd.fidelity(t, s, DeviceLoader(data, 8))
    assert t.seen == s.seen == [False] * 3 and t.training and s.training


def test_ensemble_logits_are_the_log_of_the_averaged_probabilities():
    p1, p2 = torch.tensor([[0.8, 0.2]]), torch.tensor([[0.4, 0.6]])
    z = fd.ensemble_logits([p1.log() + 3.0, p2.log() - 1.0])       # logits up to a constant
    assert torch.allclose(z.exp(), torch.tensor([[0.6, 0.4]]), atol=1e-6)
    assert torch.allclose(torch.softmax(z / 4.0, 1), torch.softmax(torch.tensor([[0.6, 0.4]]).log() / 4.0, 1))
    members = [torch.randn(5, 10, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    mean = sum(torch.softmax(m, 1) for m in members) / 3
    assert torch.allclose(torch.softmax(fd.ensemble_logits(members), 1), mean, atol=1e-6)


def test_ensemble_module_averages_its_members_and_has_no_features():
    nets = [_linear(torch.randn(10, 48, generator=torch.Generator().manual_seed(k))) for k in range(3)]
    ensemble = fd.Ensemble(nets)
    x = torch.randn(4, 3, 4, 4)
    mean = sum(torch.softmax(n(x), 1) for n in nets) / 3
    assert torch.allclose(ensemble(x).exp(), mean, atol=1e-6)
    with pytest.raises(ValueError, match="logits only"):
        ensemble(x, features=True)
    with pytest.raises(ValueError, match="two or more"):
        fd.Ensemble(nets[:1])


def _ensemble_student(**changes) -> kd.RunConfig:
    teacher = tiny_run(train=kd.TrainConfig(epochs=1, batch_size=50, lr=0.05))
    return tiny_run(method=kd.MethodConfig("hinton", alpha=1.0, T=4.0), teacher=teacher,
                    teacher_seeds=(0, 1, 2), seed=10).with_(**changes)


def test_an_ensemble_student_trains_every_member_first_and_distils_their_averaged_probabilities():
    cfg = _ensemble_student()
    result = kd.run(cfg, progress=False)
    members = [cfg.teacher.with_(seed=s) for s in (0, 1, 2)]
    assert all(kd.is_done(m) for m in members)
    teacher = cs.teacher_model(result)
    assert isinstance(teacher, fd.Ensemble) and len(teacher.members) == 3
    x = kd.loader_for(kd.split(cfg.data)[0]).prepare(kd.split(cfg.data)[0].images[:7])
    mean = sum(torch.softmax(kd.run(m, progress=False).model(x), 1) for m in members) / 3
    assert torch.allclose(teacher(x).exp(), mean, atol=1e-5)
    # the history carries the agreement with that ensemble on the training batches
    assert all(0 <= h["train_agree"] <= 100 and h["train_kl"] >= 0 for h in result.metrics["history"])


def test_teacher_seeds_are_checked_and_leave_other_keys_alone():
    cfg = _ensemble_student()
    assert kd.config.from_dict(cfg.to_dict()) == cfg
    assert cfg.key() != cfg.with_(teacher_seeds=()).key()
    with pytest.raises(ValueError, match="the first of them teacher.seed"):
        cfg.with_(teacher_seeds=(1, 2))
    with pytest.raises(ValueError, match="two or more distinct seeds"):
        cfg.with_(teacher_seeds=(0,))
    with pytest.raises(ValueError, match="reads more of its teacher than its logits"):
        cfg.with_(method=kd.MethodConfig("at"))
    with pytest.raises(ValueError, match="give teacher="):
        tiny_run(teacher_seeds=(0, 1))


def test_the_trainers_fidelity_sums_are_agreement_and_kl_at_t1_of_the_batches():
    cfg = tiny_run(method=kd.MethodConfig("hinton"), teacher=tiny_run(seed=3))
    train, _ = kd.split(cfg.data)
    from kd.runner import _build_student, _context
    from kd.methods import METHODS
    distiller = METHODS["hinton"](_build_student(cfg, train), _build_student(cfg.teacher, train), cfg.method,
                                  _context(cfg, train))
    s, t = [], []
    for batch in DeviceLoader(train, 100).epoch(0):
        logits, _ = distiller.forward_train(batch, 0)
        s.append(logits.detach())
        t.append(distiller.teacher_logits(batch))
    record = distiller.epoch_record()
    s, t = torch.cat(s), torch.cat(t)
    assert record["train_agree"] == pytest.approx(fd.agreement(t, s), abs=1e-9)
    assert record["train_kl"] == pytest.approx(fd.predictive_kl(t, s), rel=1e-5)
    assert distiller.epoch_record() == {}          # summed afresh every epoch


def test_mixup_mixes_a_batch_with_one_weight_and_a_permutation_and_keeps_the_layout():
    x = torch.randn(16, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    out = mixup_inputs(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    lam = torch.rand(1, generator=g).item()
    partner = torch.randperm(16, generator=g)
    assert 0 <= lam <= 1
    assert torch.allclose(out, lam * x + (1 - lam) * x[partner])
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(rows(x, partner), x[partner])


def test_the_mixup_loader_is_random_seeded_and_mixes_crop_flipped_images():
    data = kd.load("cifar10", "test").subset(torch.arange(64))
    loader = DeviceLoader(data, 32, augment="crop_flip_mixup", seed=3)
    assert loader.random and loader.normalised() is None
    first = [b.images for b in loader.epoch(0)]
    again = [b.images for b in DeviceLoader(data, 32, augment="crop_flip_mixup", seed=3).epoch(0)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    plain = next(DeviceLoader(data, 32).epoch(0)).images
    assert not torch.allclose(first[0], plain)
    with pytest.raises(ValueError, match="crop_flip mirrors images"):
        kd.DataConfig("mnist", augment="crop_flip_mixup")


@pytest.mark.parametrize("schedule", ["step", "onecycle", "cosine"])
def test_a_run_stopped_early_follows_the_longer_schedules_rates(schedule):
    full = kd.TrainConfig(epochs=10, schedule=schedule, milestones=(3, 6, 8) if schedule == "step" else ())
    early = kd.TrainConfig(epochs=5, schedule=schedule, milestones=full.milestones, schedule_epochs=10)
    assert [lr_factor(early, s, 7) for s in range(35)] == [lr_factor(full, s, 7) for s in range(35)]
    assert kd.TrainConfig(epochs=5, schedule_epochs=5) == kd.TrainConfig(epochs=5)
    with pytest.raises(ValueError, match="schedule_epochs=4 must be >= epochs=5"):
        kd.TrainConfig(epochs=5, schedule_epochs=4)


def test_an_early_stopped_run_is_the_first_epochs_of_the_full_run():
    full = tiny_run(train=kd.TrainConfig(epochs=3, batch_size=50, lr=0.05, schedule="onecycle"))
    early = cs.early_stopped(full, 2 / 3)
    assert (early.train.epochs, early.train.schedule_epochs) == (2, 3)
    a, b = kd.run(full, progress=False).metrics["history"], kd.run(early, progress=False).metrics["history"]
    assert [(h["loss"], h["test_acc"]) for h in b] == [(h["loss"], h["test_acc"]) for h in a[:2]]
    assert math.isclose(b[-1]["lr"], a[1]["lr"])


def test_an_ensemble_students_parents_are_every_member_and_closure_puts_them_first():
    from kd.parallel import closure
    cfg = _ensemble_student(init=None)
    assert cfg.parents() == [cfg.teacher.with_(seed=s) for s in (0, 1, 2)]
    order = [c.key() for c in closure([cfg])]
    assert order[-1] == cfg.key() and set(order[:-1]) == {m.key() for m in cfg.parents()}
    plain = tiny_run(method=kd.MethodConfig("hinton"), teacher=tiny_run(seed=3))
    assert plain.parents() == [plain.teacher]


def test_an_ensemble_students_epoch_is_timed_with_every_member():
    assert kd.measure.epoch_seconds(_ensemble_student(), steps=1, rounds=1) > 0
