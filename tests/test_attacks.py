"""Tests of kd.attacks: bounds, loss increase, stopping, the AutoAttack cascade and its record,
normalisation (never twice), and the hygiene every attack owes its caller (modes, BatchNorm
buffers, parameter gradients, the global RNG)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kd
from kd import analysis, attacks
from kd.modes import eval_mode

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """Runs after conftest's fixture: one thread (the machine is shared) and a fixed seed."""
    torch.set_num_threads(1)
    torch.manual_seed(0)


def cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def mnist_mlp():
    """An MLP (with BatchNorm) trained for about a second on 2000 MNIST images, fed [0, 1]
    pixels through Normalized; 200 held-out images (92% clean accuracy)."""
    torch.set_num_threads(1)
    data = kd.load("mnist", "train")
    x, y = data.images[:2200].float() / 255, data.labels[:2200]
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.BatchNorm1d(64), nn.ReLU(),
                          nn.Linear(64, 10))
    model = attacks.Normalized(inner, data.mean, data.std)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        perm = torch.randperm(2000)
        for i in range(0, 2000, 100):
            b = perm[i:i + 100]
            opt.zero_grad()
            F.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    opt.zero_grad(set_to_none=True)
    model.eval()
    return model, x[2000:], y[2000:]


def tiny_trained_model():
    """A conv + BN classifier trained a few steps on a separable toy problem."""
    torch.manual_seed(0)
    x = torch.rand(64, 2, 6, 6)
    y = (x[:, 0].mean((1, 2)) > x[:, 1].mean((1, 2))).long()
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(0.1), nn.Linear(64, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model, x, y


# --- Normalized -------------------------------------------------------------------------------

def test_normalized_feeds_the_model_normalised_pixels():
    seen = []
    model = attacks.Normalized(lambda z, **kw: seen.append((z, kw)) or z.sum(), MEAN, STD)
    x = torch.rand(2, 3, 4, 4)
    model(x, features=True)
    expected = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(seen[0][0], expected) and seen[0][1] == {"features": True}
    assert dict(model.named_buffers()).keys() == {"mean", "std"} and model.state_dict() == {}


@pytest.mark.parametrize("attack", ["pgd", "ifgsm"])
def test_pixel_space_attack_equals_per_channel_bounds_in_normalised_space(attack):
    """What the training methods rely on: sign steps of eps/std per channel in normalised
    space, clipped to [(0 - mean)/std, (1 - mean)/std], are the pixel-space attack."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    x, y = torch.rand(8, 3, 6, 6), torch.randint(0, 5, (8,))
    z = (x - mean) / std
    fn = attacks.pgd_attack if attack == "pgd" else attacks.iterative_fgsm
    kw = dict(random_start=False) if attack == "pgd" else {}
    pixel = fn(attacks.Normalized(net, MEAN, STD), x, y, eps=0.05, step=0.01, steps=6, **kw)
    normalised = fn(net, z, y, eps=0.05 / std, step=0.01 / std, steps=6,
                    lower=-mean / std, upper=(1 - mean) / std, **kw)
    assert torch.allclose(normalised * std + mean, pixel, atol=1e-5)
    assert (pixel - x).abs().max() > 0.049                  # it did move


# --- PGD ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("per_channel", [False, True])
def test_pgd_stays_in_ball_and_bounds_and_increases_loss(per_channel):
    model, x, y = tiny_trained_model()
    if per_channel:     # normalised inputs: bounds and eps per channel
        mean, std = torch.tensor([0.5, 0.4]).view(1, 2, 1, 1), torch.tensor([0.3, 0.2]).view(1, 2, 1, 1)
        x, lower, upper, eps = (x - mean) / std, -mean / std, (1 - mean) / std, 0.1 / std
    else:
        lower, upper, eps = 0.0, 1.0, torch.tensor(0.1)
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    model.train()
    x_adv = attacks.pgd_attack(model, x, y, F.cross_entropy, eps=eps, step=eps / 4, steps=7,
                               lower=lower, upper=upper)
    assert ((x_adv - x).abs() <= eps + 1e-6).all()
    assert (x_adv >= torch.as_tensor(lower) - 1e-6).all() and (x_adv <= torch.as_tensor(upper) + 1e-6).all()
    assert not x_adv.requires_grad
    for k, v in model.state_dict().items():
        if k in buffers:
            assert torch.equal(v, buffers[k]), k
    assert all(p.grad is None for p in model.parameters())
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert cross_entropy(model, x_adv, y) > cross_entropy(model, x, y) + 0.05


def test_pgd_keeps_eval_mode_and_mixed_modes():
    model, x, y = tiny_trained_model()
    model.train()
    model[1].eval()                      # e.g. a frozen BN inside a training model
    attacks.pgd_attack(model, x[:4], y[:4], F.cross_entropy, steps=2, random_start=False)
    assert model.training and not model[1].training and model[4].training
    model.eval()
    attacks.pgd_attack(model, x[:4], y[:4], F.cross_entropy, steps=2)
    assert not any(m.training for m in model.modules())


def test_pgd_random_start_draws_from_its_generator_or_advances_the_global_rng():
    model, x, y = tiny_trained_model()
    state = torch.get_rng_state()
    a = attacks.pgd_attack(model, x, y, steps=1, generator=torch.Generator().manual_seed(3))
    b = attacks.pgd_attack(model, x, y, steps=1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    c = attacks.pgd_attack(model, x, y, steps=1)         # the global RNG: one draw, no re-seeding
    after = torch.get_rng_state()
    torch.set_rng_state(state)
    torch.empty_like(x).uniform_(-1, 1)
    assert torch.equal(after, torch.get_rng_state()) and not torch.equal(after, state)
    assert not torch.equal(a, c)


def test_pgd_on_a_trained_mnist_model_lowers_accuracy_and_raises_loss(mnist_mlp):
    model, x, y = mnist_mlp
    x_adv = attacks.pgd_attack(model, x, y, eps=0.05, step=0.0125, steps=20,
                               generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert cross_entropy(model, x_adv, y) > cross_entropy(model, x, y) + 0.3
    assert accuracy(model, x_adv, y) < accuracy(model, x, y) - 0.1


# --- iterative FGSM -----------------------------------------------------------------------------

def test_kurakin_step_count():
    assert [attacks.kurakin_steps(e / 255) for e in (2, 4, 8, 16, 32)] == [2, 5, 10, 20, 36]


def test_iterative_fgsm_stays_in_ball_and_box_and_increases_loss(mnist_mlp):
    model, x, y = mnist_mlp
    x_adv = attacks.iterative_fgsm(model, x, y, eps=0.05, step=0.01, steps=10)
    assert (x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > 0.049
    assert cross_entropy(model, x_adv, y) > cross_entropy(model, x, y) + 0.3
    assert accuracy(model, x_adv, y) < accuracy(model, x, y) - 0.1
    # no random start: deterministic; labels None attacks the model's own prediction
    assert torch.equal(x_adv, attacks.iterative_fgsm(model, x, y, eps=0.05, step=0.01, steps=10))
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert torch.equal(attacks.iterative_fgsm(model, x, None, eps=0.05, step=0.01, steps=3),
                       attacks.iterative_fgsm(model, x, pred, eps=0.05, step=0.01, steps=3))


def test_iterative_fgsm_first_step_is_the_clipped_sign_step():
    """A linear model: one step moves every pixel by exactly `step` along -sign(w_y - w_other),
    except where the [0, 1] box clips it."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]]))
    x = torch.tensor([[[[0.5, 0.5], [0.99, 0.5]]]])
    y = torch.tensor([0])
    out = attacks.iterative_fgsm(net, x, y, eps=0.1, step=0.03, steps=1)
    expected = torch.tensor([[[[0.47, 0.53], [0.96, 0.47]]]])
    assert torch.allclose(out, expected, atol=1e-6)
    out = attacks.iterative_fgsm(net, x, y, eps=0.1, step=0.03, steps=10)
    assert torch.allclose(out, torch.tensor([[[[0.4, 0.6], [0.89, 0.4]]]]), atol=1e-6)
    out = attacks.iterative_fgsm(net, 1 - x, y, eps=0.1, step=0.03, steps=10)
    assert torch.allclose(out, torch.tensor([[[[0.4, 0.6], [0.0, 0.4]]]]), atol=1e-6)


def test_iterative_fgsm_stop_when_flipped_freezes_flipped_images(mnist_mlp):
    model, x, y = mnist_mlp
    kw = dict(eps=0.1, step=0.01, stop_when_flipped=True)
    flipped_some = False
    for k in (2, 4, 6):
        at_k = attacks.iterative_fgsm(model, x, y, steps=k, **kw)
        later = attacks.iterative_fgsm(model, x, y, steps=k + 5, **kw)
        with torch.no_grad():
            flipped = model(at_k).argmax(1) != y
        assert 0 < flipped.sum() < len(y)
        assert torch.equal(later[flipped], at_k[flipped])               # frozen once flipped
        assert (later[~flipped] != at_k[~flipped]).flatten(1).any(1).all()  # the others move on
        plain = attacks.iterative_fgsm(model, x, y, steps=k + 5, eps=0.1, step=0.01)
        flipped_some |= bool((plain[flipped] != at_k[flipped]).any())
    assert flipped_some                                # without the option they would move
    misclassified = accuracy(model, x, y) < 1
    assert misclassified
    with torch.no_grad():
        wrong = model(x).argmax(1) != y
    assert torch.equal(attacks.iterative_fgsm(model, x, y, steps=5, **kw)[wrong], x[wrong])


def test_iterative_fgsm_targeted_reaches_the_target_and_stops_there(mnist_mlp):
    model, x, y = mnist_mlp
    target = (y + 1) % 10
    out = attacks.iterative_fgsm(model, x, target, eps=0.15, step=0.01, steps=20, targeted=True,
                                 stop_when_flipped=True)
    more = attacks.iterative_fgsm(model, x, target, eps=0.15, step=0.01, steps=30, targeted=True,
                                  stop_when_flipped=True)
    with torch.no_grad():
        hit = model(out).argmax(1) == target
        assert (model(x).argmax(1) == target).float().mean() < 0.05
    assert hit.float().mean() > 0.5
    assert torch.equal(more[hit], out[hit])
    # labels None: the least likely class of the clean prediction
    with torch.no_grad():
        least = model(x).argmin(1)
    assert torch.equal(attacks.iterative_fgsm(model, x, None, steps=3, targeted=True),
                       attacks.iterative_fgsm(model, x, least, steps=3, targeted=True))


# --- BSS ----------------------------------------------------------------------------------------

def test_bss_targets_never_top1_and_follow_teacher_softmax():
    logits = torch.randn(500, 10) * 3
    g = torch.Generator().manual_seed(0)
    targets = attacks.bss_targets(logits, generator=g)
    assert (targets != logits.argmax(1)).all()
    peaked = torch.tensor([[5.0, 4.0, -10.0, -10.0], [-3.0, 50.0, -60.0, -60.0]]).repeat(200, 1)
    t = attacks.bss_targets(peaked, generator=g)
    assert (t[0::2] == 1).float().mean() > 0.99          # the runner-up dominates the rest
    assert (t[1::2] == 0).float().mean() > 0.99          # no all-zero row despite underflow
    labels = torch.full((500,), 3)
    t = attacks.bss_targets(logits, labels, generator=g)
    assert (t != 3).all() and (t != logits.argmax(1)).all()


def test_bss_select_keeps_samples_both_networks_get_right():
    t = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [3.0, 0.0]])
    s = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 0, 1])
    assert attacks.bss_select(t, s, y).tolist() == [0, 1]
    assert attacks.bss_select(t, s, y, require_student_correct=False).tolist() == [0, 1, 2]
    # ranking: non-label squared softmax gap; sample 1 has the larger gap
    assert attacks.bss_select(t, s, y, max_samples=1).tolist() == [1]


def test_bss_attack_moves_toward_target_and_stops_at_the_boundary():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 5))
    teacher.train()
    teacher(torch.randn(32, 3, 2, 2))                # give BN non-trivial running statistics
    buffers = [b.clone() for b in teacher.buffers()]
    x = torch.randn(16, 3, 2, 2)
    with torch.no_grad():
        teacher.eval()
        clean = teacher(x)
        teacher.train()
    base = clean.argmax(1)
    target = attacks.bss_targets(clean, generator=torch.Generator().manual_seed(0))
    x_adv = attacks.bss_attack(teacher, x, target, steps=10, eta=0.3)
    assert teacher.training and all(torch.equal(a, b) for a, b in zip(buffers, teacher.buffers()))
    assert all(p.grad is None for p in teacher.parameters())
    teacher.eval()
    with torch.no_grad():
        adv = teacher(x_adv)
    gap = lambda z: z.gather(1, target.view(-1, 1)) - z.gather(1, base.view(-1, 1))  # noqa: E731
    assert (gap(clean) < 0).all()
    closed = (gap(adv) - gap(clean)) / -gap(clean)     # fraction of the logit gap closed
    assert (closed > 0.3).all()                        # every sample moved toward the target
    assert (adv.argmax(1) != base).any()               # and some reached the boundary


def test_bss_attack_freezes_a_sample_once_its_prediction_flips():
    # a linear teacher: the step x - eta*(L+eps)*g/|g| changes L by -eta*(L+eps)*|g|
    teacher = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        teacher.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    x = torch.tensor([[2.0, 1.0], [3.0, 0.0]])         # both predicted class 0; target 1
    target = torch.tensor([1, 1])
    eta = 1.0 / math.sqrt(2) * 1.5                     # |g| = sqrt 2: each step overshoots 1.5 L
    one = attacks.bss_attack(teacher, x, target, steps=1, eta=eta)
    many = attacks.bss_attack(teacher, x, target, steps=6, eta=eta)
    z = teacher(one).detach()
    assert (z.argmax(1) == 1).all()                     # flipped after one step...
    assert torch.equal(one, many)                       # ...and not moved again
    # the first step is exactly x - eta*(L + 1e-4) * (w_0 - w_1)/sqrt 2
    L = (x[:, 0] - x[:, 1]).view(-1, 1)
    expected = x - eta * (L + 1e-4) * torch.tensor([[1.0, -1.0]]) / math.sqrt(2)
    assert torch.allclose(one, expected, atol=1e-5)
    with pytest.raises(ValueError):
        attacks.bss_attack(teacher, x, torch.tensor([0, 1]))


# --- APGD and AutoAttack (torchattacks) ---------------------------------------------------------

def linear_problem(n: int = 300, eps: float = 0.04):
    """A 2-class linear model on normalised inputs, wrapped to take [0, 1] pixels, and images
    away from the box's edges: the worst L_inf perturbation is known in closed form. In pixel
    space the margin is m(x) = v.x + c with v = (w_0 - w_1)/std per channel, and an image is
    robust iff |m(x)| > eps * ||v||_1. Images within 5% of that threshold are dropped."""
    torch.manual_seed(1)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    model = attacks.Normalized(inner, MEAN, STD)
    x = 0.25 + 0.5 * torch.rand(n, 3, 2, 2)
    with torch.no_grad():
        w, b = inner[1].weight, inner[1].bias
        v = ((w[0] - w[1]).view(3, 2, 2) / torch.tensor(STD).view(3, 1, 1))
        logits = model(x)
    margin = logits[:, 0] - logits[:, 1]
    ratio = margin.abs() / (eps * v.abs().sum())
    keep = (ratio - 1).abs() > 0.05
    x, y = x[keep], logits.argmax(1)[keep]
    return model, x, y, ratio[keep] > 1


def test_apgd_on_a_normalised_linear_model_finds_exactly_the_analytic_robust_set():
    model, x, y, robust = linear_problem()
    assert 0.2 < robust.float().mean() < 0.8
    x_adv = attacks.apgd_attack(model, x, y, eps=0.04, steps=10)
    assert (x_adv - x).abs().max() <= 0.04 + 1e-6
    with torch.no_grad():
        assert torch.equal(model(x_adv).argmax(1) == y, robust)
    # the pitfall: torchattacks' own normalisation on top of the wrapper normalises twice,
    # and the attack then answers another question (a 1/std times larger ball here)
    import torchattacks
    atk = torchattacks.APGD(model, eps=0.04, steps=10, seed=0)
    atk.set_normalization_used(MEAN, STD)
    twice = atk(x, y)
    with torch.no_grad():
        assert (model(twice).argmax(1) == y).sum() < robust.sum() - 10


def test_autoattack_on_a_normalised_linear_model_finds_exactly_the_analytic_robust_set():
    model, x, y, robust = linear_problem()
    # 2 classes: the DLR losses of APGD-T need 4 or more, so APGD-CE, FAB-T and Square only
    steps = [attacks.AttackStep("apgd-ce", dict(steps=10, restarts=1, rho=0.75)),
             attacks.AttackStep("fab-t", dict(steps=10, restarts=1, targets=1, alpha_max=0.1,
                                              eta=1.05, beta=0.9)),
             attacks.AttackStep("square", dict(queries=50, restarts=1, p_init=0.8, resc_schedule=True))]
    result = attacks.autoattack(model, x, y, eps=0.04, setting=steps)
    assert torch.equal(result.robust, robust) and result.clean.all()
    assert result.setting == "custom"
    with pytest.raises(ValueError, match="4 or more classes"):
        attacks.autoattack(model, x, y, eps=0.04, setting="smoke")


def test_build_autoattack_official_counts_and_no_library_normalisation():
    model = attacks.Normalized(nn.Sequential(nn.Flatten(), nn.Linear(12, 10)), MEAN, STD)
    built = attacks.build_autoattack(model, eps=8 / 255, num_classes=10, setting="official")
    assert [s.name for s, _ in built] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    (_, ce), (_, t), (_, fab), (_, sq) = built
    assert (ce.steps, ce.n_restarts, ce.loss, ce.thr_decr, ce.norm) == (100, 1, "ce", 0.75, "Linf")
    assert (t.steps, t.n_restarts, t.n_target_classes) == (100, 1, 9)
    assert (fab.steps, fab.n_restarts, fab.n_target_classes, fab.multi_targeted) == (100, 1, 9, True)
    assert (sq.n_queries, sq.n_restarts, sq.p_init, sq.rescale_schedule) == (5000, 1, 0.8, False)
    assert all(a.eps == 8 / 255 and a.seed == 0 for _, a in built)
    assert all(a.normalization_used is None and a.model is model for _, a in built)
    # fewer classes than targets + 1: the targets are capped, and the record says so
    built = attacks.build_autoattack(model, num_classes=5, setting="official")
    assert built[1][0].params["targets"] == 4 and built[1][1].n_target_classes == 4
    assert attacks.AUTOATTACK_BY_PROFILE["paper"] == "official"
    # why not torchattacks' own class: its standard version runs 10 steps
    import torchattacks
    shipped = torchattacks.AutoAttack(model, n_classes=10, seed=0)._autoattack.attacks
    assert [a.steps for a in shipped[:3]] == [10, 10, 10]


def test_autoattack_record_matches_its_result(mnist_mlp):
    model, x, y = mnist_mlp
    result = attacks.autoattack(model, x, y, eps=0.05, setting="smoke")
    recs = result.records
    assert [r.step.name for r in recs] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert recs[0].attacked == result.clean.sum() < len(y)
    assert all(b.attacked == a.robust_after for a, b in zip(recs, recs[1:]))
    assert all(r.attacked - r.fooled == r.robust_after for r in recs)
    assert recs[-1].robust_after == result.robust.sum() > 0 and recs[0].fooled > 0
    assert not (result.robust & ~result.clean).any()
    assert (result.x_adv - x).abs().max() <= 0.05 + 1e-6
    assert torch.equal(result.x_adv[result.robust | ~result.clean], x[result.robust | ~result.clean])
    with torch.no_grad():
        assert torch.equal(model(result.x_adv).argmax(1) == y, result.robust)
    text = result.describe()
    assert "setting 'smoke'" in text and "200 images" in text
    assert f"apgd-ce (steps=10, restarts=1, rho=0.75): ran on {recs[0].attacked} images" in text
    assert "square (queries=100" in text and f"{result.robust_accuracy:.2%}" in text


def test_autoattack_le_pgd_le_clean_on_a_trained_model(mnist_mlp):
    model, x, y = mnist_mlp
    eps = 0.05
    clean = accuracy(model, x, y)
    pgd = accuracy(model, attacks.pgd_attack(model, x, y, eps=eps, step=eps / 4, steps=10,
                                             generator=torch.Generator().manual_seed(0)), y)
    result = attacks.autoattack(model, x, y, eps=eps, setting="cpu")
    assert result.clean_accuracy == pytest.approx(clean)
    assert result.robust_accuracy <= pgd < clean - 0.1
    assert result.robust_accuracy > 0.3                  # eps small enough to leave some robust


def test_torchattacks_functions_refuse_normalised_images(mnist_mlp):
    model, x, y = mnist_mlp
    z = (x - 0.1307) / 0.3081
    with pytest.raises(ValueError, match="Normalized"):
        attacks.autoattack(model, z, y, setting="smoke")
    with pytest.raises(ValueError, match="Normalized"):
        attacks.apgd_attack(model, z, y)


# --- hygiene: modes, BatchNorm buffers, gradients, RNG -------------------------------------------

def hygiene_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout(0.2),
                        nn.Flatten(), nn.Linear(6 * 36, 10))
    net.train()
    net(torch.rand(16, 3, 8, 8))                     # non-trivial running statistics
    return net


def bss_targets(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with eval_mode(model), torch.no_grad():
        logits = model(x)
    return attacks.bss_targets(logits, generator=torch.Generator().manual_seed(0))


def autoattack_every_step_runs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AutoAttack at an eps small enough that every attack of the cascade gets images (FAB's
    backward() and every attack's re-seeding of the RNG happen)."""
    result = attacks.autoattack(model, x, y, eps=0.5 / 255, setting="smoke")
    assert all(r.attacked > 0 for r in result.records)
    return result.x_adv


ATTACKS = {
    "pgd": lambda m, x, y: attacks.pgd_attack(m, x, y, steps=3, random_start=False),
    "pgd_generator": lambda m, x, y: attacks.pgd_attack(m, x, y, steps=3,
                                                        generator=torch.Generator().manual_seed(0)),
    "ifgsm": lambda m, x, y: attacks.iterative_fgsm(m, x, y, steps=3),
    "ifgsm_stop_targeted": lambda m, x, y: attacks.iterative_fgsm(
        m, x, None, steps=3, targeted=True, stop_when_flipped=True),
    "bss": lambda m, x, y: attacks.bss_attack(m, x, bss_targets(m, x), steps=3),
    "apgd": lambda m, x, y: attacks.apgd_attack(m, x, y, steps=5),
    "apgd_t": lambda m, x, y: attacks.apgd_attack(m, x, y, steps=5, targets=2),
    "autoattack": lambda m, x, y: autoattack_every_step_runs(m, x, y),
}


@pytest.mark.parametrize("with_grads", [False, True])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_leaves_modes_buffers_gradients_and_rng_alone(name, with_grads):
    net = hygiene_net()
    net[3].eval()                                    # mixed modes: one submodule in eval
    model = attacks.Normalized(net, MEAN, STD)
    x = torch.rand(12, 3, 8, 8)
    with eval_mode(model), torch.no_grad():
        y = model(x).argmax(1)                       # all correct: every attack has work
    modes = [m.training for m in model.modules()]
    buffers = [b.clone() for b in net.buffers()]
    if with_grads:                                   # mid-training: gradients already there
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.5)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(m.training)) for m in (net[1], net[3])]
    state = torch.get_rng_state()
    x_adv = ATTACKS[name](model, x, y)
    for h in hooks:
        h.remove()
    assert seen and not any(seen)                    # eval mode during the attack
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(a, b) for a, b in zip(buffers, net.buffers()))
    assert all(p.requires_grad for p in net.parameters())
    if with_grads:
        assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in net.parameters())
    else:
        assert all(p.grad is None for p in net.parameters())
    assert torch.equal(torch.get_rng_state(), state)
    assert not x_adv.requires_grad and x_adv.shape == x.shape
    if name != "bss":                                # BSS has no eps-ball
        assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


class FailsOnCall(nn.Module):
    """Raises on its n-th forward: inside torchattacks, after it has re-seeded the RNG."""

    def __init__(self, model: nn.Module, n: int):
        super().__init__()
        self.model, self.n, self.calls = model, n, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("boom")
        return self.model(x)


def test_rng_modes_and_flags_restored_when_torchattacks_raises():
    model = FailsOnCall(attacks.Normalized(hygiene_net(), MEAN, STD), n=3)
    model.train()
    x, y = torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="boom"):
        attacks.apgd_attack(model, x, y, seed=0)
    assert model.calls == 3
    assert torch.equal(torch.get_rng_state(), state)
    assert all(m.training for m in model.modules()) and all(p.requires_grad for p in model.parameters())


def test_robustness_of_a_run_is_cached_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_RUNS", str(tmp_path))
    cfg = kd.RunConfig(data=kd.DataConfig("cifar10", per_class=10, test_per_class=2),
                       model=kd.ModelConfig("resnet8"), train=kd.TrainConfig(epochs=1, batch_size=25))
    result = kd.run(cfg, progress=False)
    test = kd.load("cifar10", "test")
    x, y = test.images[:12], test.labels[:12]
    first = analysis.robustness(result, x, y, setting="smoke")
    assert len(first["clean"]) == 12 and all(r <= c for r, c in zip(first["robust"], first["clean"]))
    assert "setting 'smoke'" in first["describe"] and "12 images" in first["describe"]
    assert list((tmp_path / result.key / "measures").glob("autoattack-*.json"))
    assert analysis.robustness(result, x, y, setting="smoke") == first
    other = analysis.robustness(result, x[:6], y[:6], setting="smoke")
    assert len(other["clean"]) == 6
