"""kd.studies.cho_stanton (notebooks 40 and 41): ESKD's switch epoch, the KD error, the
early-stopped teacher, the plans and their cpu rules, and the verdict helpers."""
import math

import pytest
import torch

import kd
from kd import losses, recipes, studies
from kd.methods import METHODS
from kd.studies import cho_stanton as cs

from conftest import tiny_run


def _eskd_distiller(stop_epoch: int):
    cfg = tiny_run(method=kd.MethodConfig("eskd", stop_epoch=stop_epoch, alpha=0.9, T=4.0),
                   teacher=tiny_run(seed=3), train=kd.TrainConfig(epochs=3, batch_size=50, lr=0.05))
    train, _ = kd.split(cfg.data)
    from kd.runner import _build_student, _context
    distiller = METHODS["eskd"](_build_student(cfg, train), _build_student(cfg.teacher, train, 1), cfg.method,
                                _context(cfg, train))
    return distiller, next(kd.DeviceLoader(train, 64).epoch(0))


@pytest.mark.parametrize("stop_epoch", [1, 2, 3])
def test_eskd_distils_through_its_stop_epoch_and_is_plain_cross_entropy_after(stop_epoch):
    """Epochs count from 1 in MethodConfig (stop_epoch=2: KD in epochs 1 and 2) and from 0 in
    the trainer: epoch index stop_epoch - 1 is the last with the KD term, index stop_epoch
    the first with cross-entropy alone, at weight 1 (not 1 - alpha)."""
    distiller, batch = _eskd_distiller(stop_epoch)
    logits, named = distiller.forward_train(batch, stop_epoch - 1)
    teacher = distiller.teacher_logits(batch)
    assert set(named) == {"ce", "kd"}
    assert named["ce"].item() == pytest.approx(0.1 * losses.cross_entropy(logits, batch.labels).item(), rel=1e-6)
    assert named["kd"].item() == pytest.approx(0.9 * losses.hinton_kd(logits, teacher, 4.0).item(), rel=1e-6)
    logits, named = distiller.forward_train(batch, stop_epoch)
    assert set(named) == {"ce"}
    assert named["ce"].item() == pytest.approx(losses.cross_entropy(logits, batch.labels).item(), rel=1e-6)


def test_an_eskd_run_logs_kd_and_the_teachers_agreement_only_until_its_stop_epoch():
    cfg = tiny_run(method=kd.MethodConfig("eskd", stop_epoch=2), teacher=tiny_run(seed=3),
                   train=kd.TrainConfig(epochs=3, batch_size=50, lr=0.05))
    history = kd.run(cfg, progress=False).metrics["history"]
    assert ["loss_kd" in h for h in history] == [True, True, False]
    assert ["train_agree" in h for h in history] == [True, True, False]


def test_eskd_stops_at_half_the_profiles_epochs():
    assert {p: cs.eskd_method(p).stop_epoch for p in ("smoke", "cpu", "paper")} == \
        {"smoke": 1, "cpu": recipes.schedule("cpu").epochs // 2, "paper": 100}


def test_kd_error_of_a_run_against_itself_is_zero_and_against_another_is_its_disagreement():
    a = kd.run(tiny_run(train=kd.TrainConfig(epochs=1, batch_size=50, lr=0.05)), progress=False)
    b = kd.run(tiny_run(train=kd.TrainConfig(epochs=1, batch_size=50, lr=0.05), seed=1), progress=False)
    itself = cs.fidelity_of(a, "test", teacher=a)
    assert (itself["kd_error"], itself["kl"], itself["agreement"]) == (0.0, 0.0, 100.0)
    loader = kd.loader_for(kd.load("mnist", "test"))
    disagree = 100.0 * (a.predict(loader).argmax(1) != b.predict(loader).argmax(1)).double().mean().item()
    other = cs.fidelity_of(b, "test", teacher=a)
    assert other["kd_error"] == pytest.approx(disagree, abs=1e-9)
    assert other["teacher_acc"] == pytest.approx(a.final_acc, abs=1e-4)
    assert other["student_acc"] == pytest.approx(b.final_acc, abs=1e-4)
    assert cs.fidelity_of(b, "test", teacher=a) == other         # served from the run's cache


def test_the_early_stopped_teacher_is_the_first_half_of_the_largest_teachers_run():
    full = recipes.teacher("resnet56", "cpu")
    early = cs.cho_teacher("early:resnet56", "cpu")
    assert early.train.epochs == full.train.epochs // 2
    assert early.train.schedule_epochs == full.train.epochs
    assert early.with_(train__epochs=full.train.epochs) == full
    assert early.key() != full.key()


def test_plan_40_has_every_arm_over_its_seeds_and_the_cpu_rule_is_the_printed_one():
    arms = cs.arms_40("cpu")
    core = cs._core_40("cpu")
    assert arms[:len(core)] == core
    assert ("kd", "resnet56", None) in arms and ("eskd", "resnet14", None) in arms and \
        ("kd", "early:resnet56", None) in arms
    # every optional group that is in fits, and the first left out does not
    for k, group in enumerate(cs._optional_40("cpu")):
        fits = cs.plan_seconds_40(core + [a for g in cs._optional_40("cpu")[:k + 1] for a in g]) \
            <= cs.PLAN_SHARE * cs.BUDGET_40_S
        assert all(a in arms for a in group) == fits
        if not fits:
            break
    jobs = studies.plan("40", "cpu", noise_runs=False)
    keys = {j.config.key() for j in jobs}
    for arm in arms:
        for s in cs.CHO_SEEDS["cpu"]:
            assert cs.cho_arm(arm[0], arm[1], "cpu", s, arm[2]).key() in keys
    kd_arm = cs.cho_arm("kd", "resnet26", "cpu")
    assert kd_arm.method == kd.MethodConfig("hinton", alpha=0.9, T=4.0)
    assert kd_arm.teacher == recipes.teacher("resnet26", "cpu") and kd_arm.train == recipes.schedule("cpu")
    assert cs.cho_arm("eskd", "resnet56", "cpu").method.stop_epoch == recipes.schedule("cpu").epochs // 2


def test_plan_41_arms_are_pure_soft_targets_at_t4_with_their_augmentation_and_data():
    self_arm = cs.stanton_arm("self, crop+flip", "cpu", 10)
    assert self_arm.method == kd.MethodConfig("hinton", alpha=1.0, T=4.0)
    assert self_arm.teacher == recipes.baseline("resnet8", "cpu", seed=0) and self_arm.teacher_seeds == ()
    assert self_arm.model == self_arm.teacher.model and self_arm.data.augmentation == "crop_flip"
    ens = cs.stanton_arm("ensemble, crop+flip+mixup", "cpu", 10)
    assert ens.teacher_seeds == (0, 1, 2) and ens.data.augmentation == "crop_flip_mixup"
    assert cs.stanton_arm("ensemble, none", "cpu", 10).data.augmentation == "none"
    assert cs.stanton_arm("ensemble, crop+flip, 1/5 data", "cpu", 10).data.per_class == 1000
    assert len(kd.split(cs.stanton_arm("ensemble, crop+flip, 1/5 data", "smoke", 10).data)[0]) == 40
    paper = cs.stanton_arm("self, crop+flip", "paper", 10)
    assert (paper.data.name, paper.model.arch, paper.train.epochs, paper.train.nesterov) == \
        ("cifar100", "resnet56", 300, True)
    # students never share a seed with a member of their teacher
    assert not set(cs.STANTON_SEEDS["cpu"]) & set(cs.ENSEMBLE_SEEDS)
    assert cs.plan_seconds_41(cs.arms_41("cpu")) <= cs.PLAN_SHARE * cs.BUDGET_41_S


@pytest.mark.parametrize("nb", ["40", "41"])
@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_the_noise_controls_are_arms_of_the_plan(nb, profile):
    planned = {j.config.key() for j in studies.plan(nb, profile, noise_runs=False)}
    for setting, (control, seeds) in studies.noise_settings(nb, profile).items():
        assert control.key() in planned and len(seeds) >= 2, setting
    assert len(studies.noise_settings(nb, "cpu")["KD from resnet14" if nb == "40" else "self, crop+flip"][1]) >= 3


def test_the_papers_numbers_are_the_slides_differences():
    assert cs.PAPER_40 == {"largest minus smallest teacher": -0.38, "test KD error, largest minus smallest": 0.69,
                           "train KD error, largest minus smallest": -0.01, "ESKD gain, largest teacher": 1.6,
                           "ESKD gain, smallest teacher": 1.56, "ESKD gain, largest minus smallest": 0.04}


def _noise(std: float, n: int = 3) -> kd.Noise:
    return kd.Noise(std, n, "test setting")


def test_no_better_holds_when_worse_or_within_the_margin_and_fails_when_better_by_more():
    noise = _noise(0.1)
    assert cs.no_better([70.0, 70.1, 69.9], [71.0, 71.1, 70.9], margin=0.5, noise=noise).verdict == "held"
    assert cs.no_better([71.0, 71.1, 70.9], [71.0, 71.1, 70.9], margin=0.5, noise=noise).verdict == "held"
    assert cs.no_better([72.0, 72.1, 71.9], [71.0, 71.1, 70.9], margin=0.5, noise=noise).verdict == "did not hold"
    inconclusive = cs.no_better([71.4, 71.5, 71.3], [71.0, 71.1, 70.9], margin=0.5, noise=noise)
    assert inconclusive.verdict == "inconclusive" and "upper end" in inconclusive.evidence


def test_the_noise_of_a_gain_is_sqrt2_times_one_arms():
    gain = cs.gain_noise(_noise(0.3))
    assert gain.std == pytest.approx(0.3 * math.sqrt(2)) and gain.n == 3 and "gain" in gain.setting
