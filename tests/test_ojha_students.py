"""Ojha et al. 2023 sec. 4 on CIFAR (notebooks 50 and 51): the Grad-CAM score and its zero-CAM
guard, the teacher's adversarial images and the fooling rates, consensus, Hint at the logits,
and the students' plans (which runs are notebook 20's, the colour jitter only on the teacher,
the cpu budgets)."""
import copy

import pytest
import torch

import kd
from kd import inheritance, studies
from kd.models import build
from kd.studies import ojha, sarfraz

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def net(seed: int, arch: str = "resnet8") -> torch.nn.Module:
    torch.manual_seed(seed)
    return build(kd.ModelConfig(arch), 10, (3, 32, 32)).eval()


def images(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def normalised(x01: torch.Tensor) -> torch.Tensor:
    return (x01 - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


# ------------------------------------------------------------------------------------ O1, Grad-CAM

def test_cam_score_of_a_network_against_itself_and_a_copy():
    """The teacher's own maps against a copy of it: every cosine is 1 on both sides, so every
    image is a tie and the score is exactly 50; against a different network the teacher itself
    is closer on every image (100). Maps of a copy are identical, and computing them leaves the
    network's parameters, gradients and mode alone."""
    x, y = images()
    teacher, other = net(0), net(1)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    teacher.train()
    t = inheritance.grad_cams(teacher, normalised(x), y)
    assert teacher.training and all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    twin = inheritance.grad_cams(copy.deepcopy(teacher), normalised(x), y)
    assert t.shape == (12, 32, 32) and torch.equal(t, twin)
    assert 0 <= t.min() and t.max() <= 1
    o = inheritance.grad_cams(other, normalised(x), y)
    tie = inheritance.cam_score(t, t, twin)
    assert tie.score == 50.0 and tie.zero == int((t.flatten(1).amax(1) == 0).sum())
    assert inheritance.cam_score(t, t, o).score == 100.0
    assert inheritance.cam_score(t, o, t).score == 0.0


def test_cam_score_counts_the_closer_map_by_hand():
    """Three images, maps chosen so that cos(T, D) > cos(T, I) on the first, < on the second and
    = on the third: 1 + 0 + 1/2 of 3 images."""
    t = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]])
    d = torch.tensor([[[1.0, 0.1]], [[0.0, 1.0]], [[1.0, 1.0]]])
    i = torch.tensor([[[0.1, 1.0]], [[1.0, 0.0]], [[2.0, 2.0]]])
    s = inheritance.cam_score(t, d, i)
    assert s.score == pytest.approx(100 * 1.5 / 3) and s.closer.tolist() == [1.0, 0.0, 0.5] and s.zero == 0


def test_zero_cams_are_left_out_not_scored():
    """A map that is all zero (the package's output for a map that is constant after its ReLU)
    has no cosine: the image is left out of the score and counted, whichever network's it is."""
    t = torch.rand(4, 5, 5) + 0.1
    d, i = t.clone(), torch.rand(4, 5, 5) + 0.1
    d[1] = 0
    i[2] = 0
    cos = inheritance.cam_cosine(t, d)
    assert torch.isnan(cos[1]) and not torch.isnan(cos[[0, 2, 3]]).any()
    s = inheritance.cam_score(t, d, i)
    assert s.zero == 2 and s.valid.tolist() == [True, False, False, True] and s.score == 100.0
    with pytest.raises(ValueError, match="all-zero"):
        inheritance.cam_score(torch.zeros(2, 3, 3), t[:2, :3, :3], t[:2, :3, :3])


def test_a_network_without_evidence_gives_all_zero_cams():
    """With the classifier's weights at zero the class score does not depend on the last stage:
    its gradient is zero, every Grad-CAM is all zero, and the score refuses to be computed."""
    x, y = images(4)
    blind = net(0)
    torch.nn.init.zeros_(blind.classifier.weight)
    cams = inheritance.grad_cams(blind, normalised(x), y)
    assert cams.abs().sum() == 0
    with pytest.raises(ValueError, match="all-zero"):
        inheritance.cam_score(cams, cams, cams)


# ------------------------------------------------------------------------------- O2, the attack

def test_iterative_fgsm_stays_in_the_ball_and_counts_only_the_images_that_fooled_the_teacher():
    x, _ = images(16)
    teacher, student = net(0), net(1)
    eps = 8 / 255                                    # fools 13 of the 16
    adv = inheritance.craft(teacher, x, CIFAR_MEAN, CIFAR_STD, eps=eps, steps=5)
    assert (adv.images - x).abs().max() <= eps + 1e-6
    assert adv.images.min() >= 0 and adv.images.max() <= 1
    assert torch.equal(adv.clean, inheritance.classify(teacher, x, CIFAR_MEAN, CIFAR_STD))
    assert torch.equal(adv.fooled, adv.predicted != adv.clean)
    assert 0 < adv.fooled.sum() < len(x)             # some images fool the teacher, not all
    assert adv.fooling_rate == pytest.approx(100 * adv.fooled.float().mean().item())
    flags = inheritance.fooled_on(student, adv, x, CIFAR_MEAN, CIFAR_STD)
    assert len(flags) == int(adv.fooled.sum())       # the others are not counted
    s_clean = inheritance.classify(student, x[adv.fooled], CIFAR_MEAN, CIFAR_STD)
    s_adv = inheritance.classify(student, adv.images[adv.fooled], CIFAR_MEAN, CIFAR_STD)
    assert torch.equal(flags, s_adv != s_clean)
    assert inheritance.fooled_on(teacher, adv, x, CIFAR_MEAN, CIFAR_STD).all()   # the source: 100%
    untouched = adv.images[~adv.fooled]              # an image that never flipped moved 5 full steps
    assert ((untouched - x[~adv.fooled]).abs() > 0).any()


def test_no_image_fooled_means_no_fooling_rate():
    x, _ = images(4)
    adv = inheritance.craft(net(0), x, CIFAR_MEAN, CIFAR_STD, eps=1e-7, steps=1)
    assert not adv.fooled.any()
    with pytest.raises(ValueError, match="no image fooled"):
        inheritance.fooled_on(net(1), adv, x, CIFAR_MEAN, CIFAR_STD)


def test_the_eps_rule_stops_at_the_first_eps_reaching_the_target():
    x, _ = images(16)
    teacher = net(0)
    adv, tried = ojha.attack_by_rule(teacher, x, CIFAR_MEAN, CIFAR_STD, ladder=(1e-7, 8 / 255, 16 / 255), target=50.0)
    assert list(tried) == [1e-7, 8 / 255] and tried[1e-7] == 0.0 and tried[8 / 255] >= 50.0
    assert adv.eps == pytest.approx(8 / 255) and adv.fooling_rate == tried[8 / 255]
    _, all_tried = ojha.attack_by_rule(teacher, x, CIFAR_MEAN, CIFAR_STD, ladder=(1e-7, 2e-7), target=50.0)
    assert list(all_tried) == [1e-7, 2e-7]           # none reaches it: the largest


# ---------------------------------------------------------------------------- O3, O4: consensus

def test_consensus_of_a_model_with_itself_is_100_and_a_hand_count_otherwise():
    cfg = kd.recipes.baseline("resnet8", "smoke")
    result = kd.Result(cfg, "k", net(0), {})
    test = kd.load("cifar10", "test").subset(torch.arange(40))
    pred = inheritance.classes(result, test)
    assert pred.shape == (40,) and inheritance.consensus(pred, pred) == 100.0
    other = pred.clone()
    other[:10] = (other[:10] + 1) % 10
    assert inheritance.consensus(pred, other) == 75.0
    with pytest.raises(ValueError):
        inheritance.consensus(pred, pred[:5])


# --------------------------------------------------------------------------- Hint at the logits

def test_hint_with_one_weight_more_than_stages_regresses_the_logits():
    from kd.methods import METHODS
    from kd.runner import _build_student, _context
    train_cfg = kd.TrainConfig(epochs=1, batch_size=8)
    teacher = kd.RunConfig(data=kd.DataConfig("cifar10", per_class=2, test_per_class=1),
                           model=kd.ModelConfig("resnet14"), train=train_cfg)
    method = kd.MethodConfig("hint", block_weights=(0.0, 0.0, 0.0, 0.01))
    cfg = teacher.with_(model=kd.ModelConfig("resnet8"), method=method, teacher=teacher)
    train, _ = kd.split(cfg.data)
    d = METHODS["hint"](_build_student(cfg, train), _build_student(teacher, train, 5), method, _context(cfg, train))
    assert d.logit_weight == 0.01 and all(isinstance(r, torch.nn.Identity) for r in d.regressors)
    batch = next(iter(kd.DeviceLoader(train, 8).epoch(0)))
    d.train()
    _, named = d.forward_train(batch, 0)
    s = d.student(batch.images)
    with torch.no_grad():
        t = d.teacher(batch.images)
    torch.testing.assert_close(named["hint"], 100 * 0.01 * torch.nn.functional.mse_loss(s, t), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="one more weighs the logits"):
        METHODS["hint"](_build_student(cfg, train), _build_student(teacher, train, 5),
                        kd.MethodConfig("hint", block_weights=(0.0,) * 5), _context(cfg, train))
    assert ojha.hint_method("logits", "resnet8").block_weights == (0.0, 0.0, 0.0, ojha.LOGIT_HINT_WEIGHT)
    assert ojha.hint_method(2, "resnet8").block_weights == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="stage 1..3"):
        ojha.hint_method(4, "resnet8")


# ------------------------------------------------------------------------------------ the plans

def test_the_cpu_arms_that_notebook_20_has_are_its_runs():
    """KL, CRD and Ind are notebook 20's Hinton, CRD and baseline runs (same keys: the cache
    serves them); Hint is new; the foreign network is notebook 01's WRN-16-2."""
    for seed in (0, 1):
        for arm, method in (("Ind", "ce"), ("KL", "hinton"), ("CRD", "crd")):
            assert ojha.cifar_student(arm, "cpu", seed).key() == sarfraz.sarfraz_arm(method, "resnet8", "cpu", seed).key()
    earlier = {nb: studies.plan(nb, "cpu") for nb in ("01", "20")}
    shared = ojha.shared_with(studies.plan("50", "cpu"), earlier)
    assert shared["KL, seed 0"] == ["20"] and shared["Hint, seed 1"] == [] and shared["foreign, seed 0"] == ["01"]
    assert shared["Ind, seed 0"] == ["01", "20"] and shared["teacher (shared)"] == ["01"]
    own = ojha.own_jobs(studies.plan("50", "cpu"), earlier, "cpu")
    assert [j.name for j in own] == ["Hint, seed 0", "Hint, seed 1", "Ind (O1 reference), seed 5"]


def test_only_the_invariant_teacher_sees_colour_jitter():
    tj, t = ojha.jitter_teacher("cpu"), ojha.cifar_teacher("cpu")
    assert tj.data.augmentation == "crop_flip_colour" and t.data.augmentation == "crop_flip"
    assert tj.with_(data=t.data) == t and tj.key() != t.key()
    for arm, runs in ojha.arms_51("cpu").items():
        assert all(r.data.augmentation == "crop_flip" for r in runs), arm
        assert all((r.teacher == tj) == (arm in ("KL", "Hint", "CRD") or arm.startswith("Hint@")) for r in runs), arm
    assert ojha.arms_51("cpu")["Hint*"][0] == ojha.arms_50("cpu")["Hint"][0]        # notebook 50's Hint
    assert set(ojha.arms_51("cpu")) >= {"Hint@1", "Hint@3", "Hint@logits"}


@pytest.mark.parametrize("nb", ["50", "51"])
def test_the_cpu_plans_fit_their_budgets(nb):
    """The notebook's own runs (those no earlier notebook trains) plus its measurements fit its
    budget at the recorded seconds per epoch, and so would the whole plan of notebook 50."""
    earlier = {e: studies.plan(e, "cpu") for e in ("01", "20", "50") if e < nb}
    own = ojha.jobs_seconds(ojha.own_jobs(studies.plan(nb, "cpu"), earlier, "cpu"))
    assert own + ojha.CPU_MEASURE_S[nb] <= ojha.CPU_BUDGET_S[nb]
    if nb == "50":
        assert ojha.jobs_seconds(studies.plan(nb, "cpu")) + ojha.CPU_MEASURE_S[nb] <= ojha.CPU_BUDGET_S[nb]


def test_noise_is_ind_over_five_seeds_and_the_o1_pairs_stay_apart():
    s = ojha.SETTINGS_50["cpu"]
    (control, seeds), = studies.noise_settings("50", "cpu").values()
    assert control == ojha.cifar_student("Ind", "cpu", 0) and seeds == (0, 1, 2, 3, 4)
    assert s["reference_seed"] not in seeds and not set(s["control_seeds"]) & set(s["seeds"])
    assert studies.noise_settings("51", "cpu") == studies.noise_settings("50", "cpu")
