"""How often adversarial images crafted on one network fool another: transferability as a
measure of how alike two networks are (Sarfraz et al. 2020, "Knowledge distillation beyond
model compression", §IV-D and Figure 1, after Tramèr et al. 2017, "The space of transferable
adversarial examples").

The protocol of Sarfraz §IV-D: PGD images are crafted on the *source* network (Madry et al.
2018, `kd.attacks.pgd_attack`: L_inf, eps 0.031, step 0.003, 20 steps, untargeted, the
cross-entropy of the true label, in [0, 1] pixel space, a random start drawn uniformly in the
eps-ball) and fed to the *target* network; only the test images that **both** the source and
the target classify correctly count, and an image counts as transferred when the target
misclassifies its adversarial version. A source that is its own target gives its white-box
success rate (the diagonal of Figure 1).

The steps are those of torchattacks' `PGD` (uniform start in [-eps, eps] clipped to [0, 1], a
sign step of the cross-entropy's gradient, projection onto the eps-ball and [0, 1]); kd sums
the loss over the batch where torchattacks averages it, which leaves every sign unchanged.
Networks trained on normalised inputs are attacked through `kd.attacks.Normalized`, so the
attack's eps and step are in pixel units and the box is [0, 1]. Everything runs in eval mode;
the random start is drawn from a generator seeded by `seed`, never from the global RNG.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor, nn

from .attacks import Normalized, pgd_attack
from .modes import eval_mode
from .train import autocast

# Sarfraz §IV-D: eps = 0.031, eta = 0.003, K = 20
EPS, STEP, STEPS = 0.031, 0.003, 20


def as_pixels(images: Tensor) -> Tensor:
    """uint8 images (N, C, H, W) as float [0, 1] pixels; float images are returned as floats."""
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def _layout(x: Tensor) -> Tensor:
    """Colour batches channels_last, as kd trains them (faster on the CPU), values unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 and x.shape[1] == 3 else x


@torch.no_grad()
def predicted(model: nn.Module, x01: Tensor, precision: str = "fp32", batch_size: int = 500) -> Tensor:
    """The class `model` (fed [0, 1] pixels, e.g. a `Normalized` wrapper) predicts for every
    image, in eval mode and `precision` ("fp32", "bf16", "auto" as kd.train.autocast)."""
    out = []
    with eval_mode(model), autocast(x01.device, precision):
        for batch in x01.split(batch_size):
            out.append(model(_layout(batch)).argmax(1))
    return torch.cat(out)


def craft(model: nn.Module, x01: Tensor, labels: Tensor, *, eps: float = EPS, step: float = STEP,
          steps: int = STEPS, seed: int = 0, precision: str = "fp32", batch_size: int = 500) -> Tensor:
    """PGD images crafted on `model` (fed [0, 1] pixels): kd.attacks.pgd_attack with a uniform
    random start in the eps-ball, drawn from a generator seeded by `seed` (the same start for
    the same images, whatever the source), batch by batch, in `precision`. Returns [0, 1]
    images within eps of `x01` (L_inf)."""
    if x01.min() < 0 or x01.max() > 1:
        raise ValueError("craft takes [0, 1] pixels (as_pixels(images)); wrap the network in "
                         "kd.attacks.Normalized(model, mean, std)")
    generator = torch.Generator(device=x01.device).manual_seed(seed)
    out = []
    with autocast(x01.device, precision):
        for xb, yb in zip(x01.split(batch_size), labels.split(batch_size)):
            out.append(pgd_attack(model, _layout(xb), yb, eps=eps, step=step, steps=steps,
                                  random_start=True, generator=generator))
    return torch.cat(out).contiguous()


@dataclass(frozen=True)
class Transfer:
    """One source -> target pair on a fixed set of images: `counted` the images both classify
    correctly before the attack, `fooled` those of them the target misclassifies after it
    (always a subset of `counted`)."""
    counted: Tensor
    fooled: Tensor

    def __post_init__(self) -> None:
        if self.counted.shape != self.fooled.shape:
            raise ValueError(f"counted {tuple(self.counted.shape)} and fooled {tuple(self.fooled.shape)} differ")
        if bool((self.fooled & ~self.counted).any()):
            raise ValueError("an image is fooled that is not counted: only images both networks "
                             "classify correctly count")

    @property
    def n(self) -> int:
        """How many images count (both networks right before the attack)."""
        return int(self.counted.sum())

    @property
    def rate(self) -> float:
        """The transfer (success) rate in percent of the counted images; NaN when none count."""
        return 100.0 * int(self.fooled.sum()) / self.n if self.n else math.nan

    def rate_or(self, default: float) -> float:
        """`rate`, or `default` when no image counts (networks that get nothing right together)."""
        return self.rate if self.n else default


def transfer(source_correct: Tensor, target_correct: Tensor, target_correct_after: Tensor) -> Transfer:
    """Sarfraz §IV-D's count for one pair, per image: counted = the source and the target
    classify the clean image correctly; fooled = counted and the target misclassifies the
    adversarial image crafted on the source."""
    counted = source_correct.bool() & target_correct.bool()
    return Transfer(counted.cpu(), (counted & ~target_correct_after.bool()).cpu())


@dataclass(frozen=True)
class Crafted:
    """PGD images crafted on one source network, with what the source got right before the
    attack: `against(target)` counts them on any target network."""
    x01: Tensor
    labels: Tensor
    adversarial: Tensor
    source_correct: Tensor
    precision: str = "fp32"
    batch_size: int = 500

    def against(self, target: nn.Module, target_correct: Tensor | None = None) -> Transfer:
        """The Transfer of these images to `target` (fed [0, 1] pixels); `target_correct`: its
        clean correctness on `x01` when already known."""
        if target_correct is None:
            target_correct = predicted(target, self.x01, self.precision, self.batch_size) == self.labels
        after = predicted(target, self.adversarial, self.precision, self.batch_size) == self.labels
        return transfer(self.source_correct, target_correct, after)


def crafted_on(source: nn.Module, x01: Tensor, labels: Tensor, *, eps: float = EPS, step: float = STEP,
               steps: int = STEPS, seed: int = 0, precision: str = "fp32", batch_size: int = 500) -> Crafted:
    """`craft` on `source`, kept with the source's clean correctness (a `Crafted`)."""
    labels = labels.to(x01.device)
    correct = predicted(source, x01, precision, batch_size) == labels
    adversarial = craft(source, x01, labels, eps=eps, step=step, steps=steps, seed=seed,
                        precision=precision, batch_size=batch_size)
    return Crafted(x01, labels, adversarial, correct, precision, batch_size)


def transfer_matrix(sources: Mapping[str, nn.Module], targets: Mapping[str, nn.Module], x01: Tensor,
                    labels: Tensor, *, eps: float = EPS, step: float = STEP, steps: int = STEPS,
                    seed: int = 0, precision: str = "fp32", batch_size: int = 500,
                    pairs: Mapping[str, tuple[str, ...]] | None = None) -> dict[tuple[str, str], Transfer]:
    """{(source, target): Transfer} for every source crafted once (`crafted_on`) and every
    target (`pairs[source]`: only those targets; default all). Networks take [0, 1] pixels
    (wrap them in kd.attacks.Normalized). Each target's clean predictions are computed once."""
    labels = labels.to(x01.device)
    clean = {name: predicted(net, x01, precision, batch_size) == labels for name, net in targets.items()}
    out = {}
    for source, net in sources.items():
        crafted = crafted_on(net, x01, labels, eps=eps, step=step, steps=steps, seed=seed,
                             precision=precision, batch_size=batch_size)
        for target in (pairs or {}).get(source, tuple(targets)):
            out[source, target] = crafted.against(targets[target], clean[target])
    return out


def normalized(model: nn.Module, mean, std) -> Normalized:
    """`model` fed [0, 1] pixels (kd.attacks.Normalized), on the model's device."""
    device = next(model.parameters()).device
    return Normalized(model, mean, std).to(device)
