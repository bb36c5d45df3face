"""Every adversarial attack of the project: PGD, iterative FGSM, BSS's boundary attack (written
here), and APGD and AutoAttack (through the `torchattacks` package, not written by hand).

Conventions shared by every attack here:
  * images live in [0, 1] pixel space, and eps and step sizes are in pixel units. A network
    trained on normalised inputs is attacked through `Normalized(model, mean, std)`, which
    normalises inside its forward. torchattacks' own `set_normalization_used` is never called:
    combined with the wrapper it would normalise twice (guarded in `_torchattack`).
    `pgd_attack`, `iterative_fgsm` and `bss_attack` also take per-channel `lower`/`upper` (and
    tensor eps/step), for callers that stay in normalised space (the training methods);
  * the model runs in eval mode during the attack (BatchNorm running statistics do not move,
    dropout is off) and every submodule gets its own training flag back afterwards;
  * no gradient is left in the parameters: gradients are taken w.r.t. the input only, and the
    parameters are frozen (requires_grad off, then restored) while torchattacks runs, since its
    FAB calls `backward()`;
  * torchattacks re-seeds the global torch RNG (`torch.manual_seed(seed)` in every attack): the
    functions that use it restore the global CPU and CUDA RNG states afterwards. The attacks
    written here draw nothing from the global RNG, except PGD's random start when it is given
    no `generator` (it then advances the global RNG as any `torch.rand` call does, so that
    training steps get fresh noise instead of replaying the same draw).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .modes import eval_mode

Tensor = torch.Tensor
Bound = float | Tensor


# ---------------------------------------------------------------------------------------------
# pixel space and hygiene
# ---------------------------------------------------------------------------------------------

class Normalized(nn.Module):
    """A network fed [0, 1] pixels: forward(x01) = model((x01 - mean) / std), per channel.

    Attacks take the wrapper, so that eps and steps are in pixel units and the [0, 1] box is
    the image's. Extra keyword arguments (e.g. `features=True`) go to the model.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    def forward(self, x: Tensor, **kwargs: Any) -> Any:
        return self.model((x - self.mean) / self.std, **kwargs)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the global torch RNG states (CPU, and every CUDA device if any) on exit."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Parameters with requires_grad off for a while, each one's own flag restored on exit."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def _library_scope(model: nn.Module) -> Iterator[None]:
    """Eval mode, frozen parameters and a restored global RNG around a torchattacks call."""
    with eval_mode(model), frozen(model), preserved_rng():
        yield


def _as_tensor(v: Bound, like: Tensor) -> Tensor:
    return torch.as_tensor(v, dtype=like.dtype, device=like.device)


def _ball(x: Tensor, eps: Bound, lower: Bound, upper: Bound) -> tuple[Tensor, Tensor]:
    """The box [max(x - eps, lower), min(x + eps, upper)]: the eps-ball inside the input range."""
    eps = _as_tensor(eps, x)
    return torch.maximum(x - eps, _as_tensor(lower, x)), torch.minimum(x + eps, _as_tensor(upper, x))


def _clamp_tensors(x: Tensor, lower: Bound | None, upper: Bound | None) -> Tensor:
    """Clip x to [lower, upper]; either bound may be None, a float or a broadcastable tensor."""
    if lower is not None:
        x = torch.maximum(x, _as_tensor(lower, x))
    if upper is not None:
        x = torch.minimum(x, _as_tensor(upper, x))
    return x


def _input_grad(model: nn.Module, x: Tensor, target: Tensor,
                loss_fn: Callable[[Tensor, Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """The model's logits at x and d loss_fn(model(x), target).sum() / dx (input only)."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(loss_fn(logits, target).sum(), x)
    return logits.detach(), grad


def _check_pixels(x: Tensor) -> None:
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"images span [{x.min().item():.3g}, {x.max().item():.3g}]; attacks "
                         f"take [0, 1] pixels: wrap the network in Normalized(model, mean, std) "
                         f"and pass unnormalised images")


# ---------------------------------------------------------------------------------------------
# PGD and iterative FGSM
# ---------------------------------------------------------------------------------------------

def pgd_attack(model: nn.Module, x: Tensor, target: Tensor,
               loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
               eps: Bound = 8 / 255, step: Bound = 2 / 255, steps: int = 7,
               random_start: bool = True, lower: Bound = 0.0, upper: Bound = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
    """L_inf PGD: x_{t+1} = Proj(x_t + step * sign(grad_x loss_fn(model(x_t), target))).

    Madry et al. 2018, "Towards deep learning models resistant to adversarial attacks", eq. 2,
    with a uniform random start in the eps-ball (`random_start=False`: start at x). The
    projection is onto the intersection of the eps-ball around x and the box [lower, upper];
    `eps`, `step`, `lower`, `upper` may be tensors broadcastable to x (for normalised inputs
    pass eps/std, step/std and (0 - mean)/std, (1 - mean)/std per channel: the same sign steps
    as in pixel space). The random start is drawn from `generator`, or from the global RNG
    (advancing it) when None. Returns a detached tensor.
    """
    x = x.detach()
    lo, hi = _ball(x, eps, lower, upper)
    step = _as_tensor(step, x)
    x_adv = x.clone()
    if random_start:
        x_adv = x_adv + torch.empty_like(x).uniform_(-1, 1, generator=generator) * _as_tensor(eps, x)
    x_adv = torch.clamp(x_adv, lo, hi)
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            _, grad = _input_grad(model, x_adv, target, loss_fn)
            x_adv = torch.clamp(x_adv + step * grad.sign(), lo, hi)
    return x_adv.detach()


def kurakin_steps(eps: float) -> int:
    """Kurakin et al. 2017's iteration count min(eps + 4, 1.25 eps), eps in 0-255 units."""
    eps255 = eps * 255
    return max(1, int(min(eps255 + 4, 1.25 * eps255)))


def _flipped(logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    """Done: the prediction left the label (untargeted) or reached the target (targeted)."""
    pred = logits.argmax(1)
    return pred == labels if targeted else pred != labels


def iterative_fgsm(model: nn.Module, x: Tensor, labels: Tensor | None = None,
                   eps: Bound = 8 / 255, step: Bound = 1 / 255, steps: int | None = None, *,
                   targeted: bool = False, stop_when_flipped: bool = False,
                   loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
                   lower: Bound = 0.0, upper: Bound = 1.0) -> Tensor:
    """Iterative FGSM, no random start: x_0 = x, x_{t+1} = Clip_{x,eps}(x_t + step * sign(grad)).

    Kurakin, Goodfellow & Bengio 2017, "Adversarial examples in the physical world", sec. 2.2
    (basic iterative method): the gradient is that of loss_fn(model(x_t), labels), and Clip
    keeps x_t in the eps-ball around x and in [lower, upper]. `labels` None: the model's own
    prediction on x. `targeted=True` is their sec. 2.3 (iterative least-likely class method):
    x_{t+1} = Clip(x_t - step * sign(grad loss_fn(model(x_t), target))), the target being
    `labels`, or the least likely class of the clean prediction when None. `steps` None:
    their min(eps + 4, 1.25 eps) in 0-255 units (`kurakin_steps`; eps must then be a float).

    `stop_when_flipped=True` freezes an image as soon as the model's prediction on it differs
    from its label (untargeted) or equals its target (targeted), as Ojha et al. 2023 ("What
    knowledge gets distilled in knowledge distillation?") do before measuring how often the
    teacher's adversarial images fool students. Returns a detached tensor.
    """
    x = x.detach()
    lo, hi = _ball(x, eps, lower, upper)
    step = _as_tensor(step, x)
    steps = kurakin_steps(float(eps)) if steps is None else steps
    with eval_mode(model), torch.enable_grad():
        if labels is None:
            with torch.no_grad():
                clean = model(x)
            labels = clean.argmin(1) if targeted else clean.argmax(1)
        direction = -1.0 if targeted else 1.0
        active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        x_adv = x.clone()
        for _ in range(steps):
            logits, grad = _input_grad(model, x_adv, labels, loss_fn)
            if stop_when_flipped:
                active &= ~_flipped(logits, labels, targeted)
                if not active.any():
                    break
            moved = torch.clamp(x_adv + direction * step * grad.sign(), lo, hi)
            x_adv = torch.where(active.view(-1, *[1] * (x.dim() - 1)), moved, x_adv)
    return x_adv.detach()


# ---------------------------------------------------------------------------------------------
# BSS: boundary supporting samples
# ---------------------------------------------------------------------------------------------

def bss_targets(teacher_logits: Tensor, labels: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Target class k drawn with probability p_t(k) / sum_{j != top1} p_t(j), k != top-1.

    Heo et al. 2019, "Knowledge distillation with adversarial samples supporting decision
    boundary", sec. on base/target selection: the target class is sampled from the teacher's
    softmax with its predicted class removed. If `labels` are given they are excluded too
    (they equal the top-1 on the selected base samples). Masking is done on the logits, so a
    peaked softmax cannot leave an all-zero row. Draws from `generator` (global RNG if None).
    """
    logits = teacher_logits.detach().float()
    excluded = F.one_hot(logits.argmax(1), logits.shape[1]).bool()
    if labels is not None:
        excluded |= F.one_hot(labels, logits.shape[1]).bool()
    probs = F.softmax(logits.masked_fill(excluded, float("-inf")), dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def bss_select(teacher_logits: Tensor, student_logits: Tensor, labels: Tensor,
               max_samples: int | None = None, require_student_correct: bool = True) -> Tensor:
    """Indices of base samples: classified correctly by the teacher (and the student).

    Heo et al. 2019 take base samples correctly classified by both networks (the authors'
    code checks the teacher only: `require_student_correct=False`). If more than
    `max_samples` remain, keep those with the largest sum_{k != y} (p_t(k) - p_s(k))^2, the
    ranking of the authors' code (64 samples of a 256 batch on CIFAR-10).
    """
    ok = teacher_logits.argmax(1) == labels
    if require_student_correct:
        ok &= student_logits.argmax(1) == labels
    idx = ok.nonzero().squeeze(1)
    if max_samples is not None and idx.numel() > max_samples:
        diff = (F.softmax(teacher_logits[idx].float(), 1) - F.softmax(student_logits[idx].float(), 1))
        diff = diff.detach().pow(2).scatter(1, labels[idx].view(-1, 1), 0.0)
        idx = idx[diff.sum(1).topk(max_samples).indices]
    return idx


def bss_attack(teacher: nn.Module, x: Tensor, target_classes: Tensor, steps: int = 10,
               eta: float = 0.3, eps: float = 1e-4, lower: Bound | None = None,
               upper: Bound | None = None) -> Tensor:
    """Move base samples toward the teacher's boundary between class b and target class k.

    Heo et al. 2019, eqs. 4-6: with L(x) = y_b(x) - y_k(x) (logit gap; b = the teacher's
    prediction on the clean x),
        x_{i+1} = x_i - eta * (L(x_i) + eps) * grad L(x_i) / ||grad L(x_i)||_2   (per sample),
    stopping a sample as soon as the teacher no longer predicts b (it crossed or reached the
    boundary), or after `steps` iterations. Optional `lower`/`upper` clip to the input range.
    Defaults are the authors' CIFAR-10 code: 10 steps, eta = 0.3, eps = 1e-4. The step is an
    L2 step, so it is not the same in normalised and in pixel space: the authors (and
    `BoundarySupportingKD`) take it in the normalised space the teacher is fed.

    Training schedule (not implemented here; for the trainer): the student minimises
        L_cls + alpha(n) * L_KD + beta(n) / N_bss * sum L_BS,
    where L_KD is the soft cross-entropy at temperature T = 3 on the clean batch and L_BS the
    same on the boundary supporting samples. Both weights decay linearly with the epoch n out
    of N: alpha(n) = 1 + 3 * max(0, 1 - n/N) (from 4 to 1) and
    beta(n) = 2 * max(0, 1 - 4n/(3N)) (from 2 to 0, reached at 3/4 of training), as in the
    authors' code; no T^2 factor is applied there.
    """
    x = x.detach()
    target = target_classes.long()
    x_adv = x.clone()
    shape = (-1,) + (1,) * (x.dim() - 1)
    with eval_mode(teacher), torch.enable_grad():
        base = active = None
        for _ in range(steps):
            x_adv.requires_grad_(True)
            logits = teacher(x_adv).float()
            if base is None:
                base = logits.argmax(1).detach()
                if (base == target).any():
                    raise ValueError("a target class equals the teacher's prediction")
                active = torch.ones_like(base, dtype=torch.bool)
            active = active & (logits.argmax(1) == base)
            if not active.any():
                break
            gap = (logits.gather(1, base.view(-1, 1)) - logits.gather(1, target.view(-1, 1))).squeeze(1)
            (grad,) = torch.autograd.grad(gap.sum(), x_adv)
            norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            size = (eta * (gap.detach() + eps) * active).view(shape)
            x_adv = x_adv.detach() - size * grad / norm
            x_adv = _clamp_tensors(x_adv, lower, upper)
    return x_adv.detach()


# ---------------------------------------------------------------------------------------------
# APGD and AutoAttack through torchattacks
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttackStep:
    """One attack of an AutoAttack cascade: its name and its settings.

    Names and settings: "apgd-ce" and "apgd-dlr" (steps, restarts, rho), "apgd-t" (steps,
    restarts, rho, targets: the number of target classes, the runner-up classes of the clean
    logits), "fab-t" (steps, restarts, targets, alpha_max, eta, beta), "square" (queries,
    restarts, p_init, resc_schedule: the p schedule rescaled to the query budget).
    """
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.name} (" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"


_APGD = dict(restarts=1, rho=0.75)
_FAB = dict(restarts=1, alpha_max=0.1, eta=1.05, beta=0.9)

# Croce & Hein 2020's standard L_inf version as the official code sets it (fra31/auto-attack,
# AutoAttack.__init__ and set_version("standard")). torchattacks' AutoAttack(version="standard")
# runs APGD, APGD-T and FAB-T with 10 steps (and Square with the rescaled p schedule): not this.
AUTOATTACK_SETTINGS: dict[str, tuple[AttackStep, ...]] = {
    "official": (
        AttackStep("apgd-ce", dict(steps=100, **_APGD)),
        AttackStep("apgd-t", dict(steps=100, targets=9, **_APGD)),
        AttackStep("fab-t", dict(steps=100, targets=9, **_FAB)),
        AttackStep("square", dict(queries=5000, restarts=1, p_init=0.8, resc_schedule=False)),
    ),
    # cheaper, for CPU runs: fewer steps, 3 target classes, 1000 queries
    "cpu": (
        AttackStep("apgd-ce", dict(steps=25, **_APGD)),
        AttackStep("apgd-t", dict(steps=25, targets=3, **_APGD)),
        AttackStep("fab-t", dict(steps=25, targets=3, **_FAB)),
        AttackStep("square", dict(queries=1000, restarts=1, p_init=0.8, resc_schedule=True)),
    ),
    # a pipeline check only, not an evaluation
    "smoke": (
        AttackStep("apgd-ce", dict(steps=10, **_APGD)),
        AttackStep("apgd-t", dict(steps=10, targets=1, **_APGD)),
        AttackStep("fab-t", dict(steps=10, targets=1, **_FAB)),
        AttackStep("square", dict(queries=100, restarts=1, p_init=0.8, resc_schedule=True)),
    ),
}

# the setting each profile of the project runs
AUTOATTACK_BY_PROFILE: dict[str, str] = {"paper": "official", "cpu": "cpu", "smoke": "smoke"}


def _torchattack(model: nn.Module, step: AttackStep, eps: float, seed: int):
    """The torchattacks object running `step` on `model` (pixel space, L_inf, fixed seed)."""
    try:
        import torchattacks as ta
    except ImportError as e:
        raise ImportError("AutoAttack and APGD need torchattacks: `pip install --no-deps "
                          "torchattacks==3.5.1` (`make env` does this; --no-deps because its "
                          "requests pin would downgrade jupyterlab)") from e

    p, common = step.params, dict(norm="Linf", eps=eps, seed=seed)
    if step.name in ("apgd-ce", "apgd-dlr"):
        atk = ta.APGD(model, steps=p["steps"], n_restarts=p["restarts"], rho=p["rho"],
                      loss=step.name.removeprefix("apgd-"), **common)
    elif step.name == "apgd-t":
        atk = ta.APGDT(model, steps=p["steps"], n_restarts=p["restarts"], rho=p["rho"],
                       n_classes=p["targets"] + 1, **common)
    elif step.name == "fab-t":
        atk = ta.FAB(model, steps=p["steps"], n_restarts=p["restarts"], alpha_max=p["alpha_max"],
                     eta=p["eta"], beta=p["beta"], multi_targeted=True,
                     n_classes=p["targets"] + 1, **common)
    elif step.name == "square":
        atk = ta.Square(model, n_queries=p["queries"], n_restarts=p["restarts"], p_init=p["p_init"],
                        loss="margin", resc_schedule=p["resc_schedule"], **common)
    else:
        raise ValueError(f"unknown attack {step.name!r}; known: apgd-ce, apgd-dlr, apgd-t, fab-t, square")
    if atk.normalization_used is not None:       # the model normalises: never twice
        raise RuntimeError(f"{step.name}: torchattacks normalises the inputs itself; attack a "
                           f"Normalized wrapper without set_normalization_used")
    return atk


def _resolved(step: AttackStep, num_classes: int) -> AttackStep:
    """`step` with its target count capped at num_classes - 1, checking the DLR losses' needs."""
    if step.name in ("apgd-t", "apgd-dlr") and num_classes < 4:
        raise ValueError(f"{step.name}: the DLR loss needs 4 or more classes, the model has {num_classes}")
    if "targets" not in step.params:
        return step
    return AttackStep(step.name, {**step.params, "targets": min(step.params["targets"], num_classes - 1)})


def build_autoattack(model: nn.Module, eps: float = 8 / 255, num_classes: int = 10,
                     setting: str | Sequence[AttackStep] = "official",
                     seed: int = 0) -> list[tuple[AttackStep, Any]]:
    """AutoAttack's cascade as (resolved settings, torchattacks attack) pairs, L_inf.

    Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks": the standard version of their ensemble, APGD on the
    cross-entropy, APGD-T on the targeted DLR loss, FAB-T, Square. `setting` names one of AUTOATTACK_SETTINGS ("official":
    the official code's counts, for the `paper` profile; "cpu"; "smoke") or gives the steps.
    The target count is capped at num_classes - 1. `model` takes [0, 1] pixels (wrap it in
    `Normalized`); no attack has torchattacks' own normalisation set.
    """
    steps = AUTOATTACK_SETTINGS[setting] if isinstance(setting, str) else tuple(setting)
    resolved = [_resolved(s, num_classes) for s in steps]
    return [(s, _torchattack(model, s, eps, seed)) for s in resolved]


@dataclass(frozen=True)
class AttackRecord:
    """What one attack of a cascade did: the images it ran on (those still robust), how many
    of them it fooled, and how many images stayed robust afterwards."""
    step: AttackStep
    attacked: int
    fooled: int
    robust_after: int


@dataclass(frozen=True)
class AutoAttackResult:
    """An AutoAttack evaluation: the adversarial images (the clean image where no attack
    succeeded), per-image clean and robust correctness, and the record of what ran."""
    x_adv: Tensor
    clean: Tensor
    robust: Tensor
    setting: str
    eps: float
    seed: int
    records: tuple[AttackRecord, ...]

    @property
    def clean_accuracy(self) -> float:
        return self.clean.float().mean().item()

    @property
    def robust_accuracy(self) -> float:
        return self.robust.float().mean().item()

    def describe(self) -> str:
        """Lines to print beside the number: setting, eps, images, and every attack's run."""
        n = len(self.clean)
        lines = [f"AutoAttack, setting {self.setting!r}, L_inf eps = {self.eps:.5f} "
                 f"({self.eps * 255:.2f}/255), seed {self.seed}, {n} images: clean accuracy "
                 f"{self.clean_accuracy:.2%}, robust accuracy {self.robust_accuracy:.2%}"]
        lines += [f"  {r.step.describe()}: ran on {r.attacked} images, fooled {r.fooled}, "
                  f"{r.robust_after} robust after it" for r in self.records]
        return "\n".join(lines)


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    return torch.cat([model(c).argmax(1) for c in x.split(batch_size)])


@torch.no_grad()
def _num_classes(model: nn.Module, x: Tensor) -> int:
    return model(x[:1]).shape[1]


def _run_step(model: nn.Module, atk: Any, x: Tensor, y: Tensor, eps: float,
              batch_size: int) -> Tensor:
    """The attack's images for x, projected onto the eps-ball and [0, 1] (in batches)."""
    out = []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        adv = atk(xb, yb).detach()
        lo, hi = _ball(xb, eps, 0.0, 1.0)
        out.append(torch.clamp(adv, lo, hi))
    return torch.cat(out)


def autoattack(model: nn.Module, x: Tensor, labels: Tensor, eps: float = 8 / 255,
               setting: str | Sequence[AttackStep] = "official", seed: int = 0,
               batch_size: int = 500) -> AutoAttackResult:
    """AutoAttack (L_inf) on [0, 1] images, as in Croce & Hein 2020 and the official code's
    `run_standard_evaluation`: only the correctly classified images are attacked, and
    each attack of the cascade runs on the images every earlier one failed on; an image is
    robust if no attack changed its prediction within the eps-ball.

    The attacks are torchattacks' (APGD, APGDT, FAB, Square), built by `build_autoattack` with
    `setting` ("official", "cpu", "smoke" or a sequence of AttackStep). The result records
    which attacks ran with which settings on how many images (`describe()`). The model is in
    eval mode throughout, its parameters get no gradient, and the global RNG is restored.
    """
    _check_pixels(x)
    x, labels = x.detach(), labels.to(x.device)
    name = setting if isinstance(setting, str) else "custom"
    with _library_scope(model):
        num_classes = _num_classes(model, x)
        cascade = build_autoattack(model, eps, num_classes, setting, seed)
        clean = _predict(model, x, batch_size) == labels
        robust, x_adv, records = clean.clone(), x.clone(), []
        for step, atk in cascade:
            idx = robust.nonzero().squeeze(1)
            fooled = torch.zeros(0, dtype=torch.bool, device=x.device)
            if len(idx):
                adv = _run_step(model, atk, x[idx], labels[idx], eps, batch_size)
                fooled = _predict(model, adv, batch_size) != labels[idx]
                x_adv[idx[fooled]] = adv[fooled]
                robust[idx[fooled]] = False
            records.append(AttackRecord(step, len(idx), int(fooled.sum()), int(robust.sum())))
    return AutoAttackResult(x_adv, clean.cpu(), robust.cpu(), name, eps, seed, tuple(records))


def apgd_attack(model: nn.Module, x: Tensor, labels: Tensor, eps: float = 8 / 255,
                steps: int = 100, loss: str = "ce", targets: int = 0, restarts: int = 1,
                rho: float = 0.75, seed: int = 0, batch_size: int = 500) -> Tensor:
    """APGD (L_inf) through torchattacks: Croce & Hein 2020's Auto-PGD, Algorithm 1 (step size
    halved at checkpoints when progress stalls, momentum 0.75), on the cross-entropy
    (`loss="ce"`) or their DLR loss (`loss="dlr"`); `targets` > 0 runs APGD-T instead, on
    the targeted DLR loss toward each of the `targets` runner-up classes in turn.

    Takes [0, 1] images (wrap the network in `Normalized`). Returns the adversarial images;
    where the attack failed, the clean image (torchattacks' convention). Eval mode, no
    parameter gradients, global RNG restored.
    """
    _check_pixels(x)
    name = "apgd-t" if targets else f"apgd-{loss}"
    params = dict(steps=steps, restarts=restarts, rho=rho, **({"targets": targets} if targets else {}))
    x, labels = x.detach(), labels.to(x.device)
    with _library_scope(model):
        step = _resolved(AttackStep(name, params), _num_classes(model, x))
        return _run_step(model, _torchattack(model, step, eps, seed), x, labels, eps, batch_size)
