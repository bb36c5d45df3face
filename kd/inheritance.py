"""What a student inherits from its teacher besides accuracy (Ojha et al. 2023, "What knowledge
gets distilled in knowledge distillation?", sec. 4): where it looks (Grad-CAM, sec. 4.1), what
fools it (the teacher's adversarial images, sec. 4.2), and how often it predicts what the
teacher predicts (consensus on unseen domains, sec. 4.4; agreement between an image and its
colour-jittered copy, sec. 4.3).

Grad-CAM comes from the `grad-cam` package (jacobgil/pytorch-grad-cam, `pytorch_grad_cam`,
version 1.5.7), not written here: its GradCAM weighs the target layer's activations by the
spatial mean of the class score's gradient, sums over channels, applies a ReLU, then scales
each map to [0, 1] by its min and max and resizes it to the input (base_cam.py,
utils/image.py `scale_cam_image`). A map that is constant after the ReLU (most often all
zero: no positive evidence for the class at that layer) comes out all zero, and its cosine
similarity is undefined: `cam_score` leaves such images out and says how many.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from . import attacks
from .modes import eval_mode


# ---------------------------------------------------------------------------------------------
# O1: Grad-CAM (Ojha et al. 2023, sec. 4.1, Figure 2)
# ---------------------------------------------------------------------------------------------

def last_stage(model: nn.Module) -> nn.Module:
    """The target layer kd uses for every network: the output of its last stage (for the
    CIFAR ResNets the last group of blocks, 8x8 maps after their final ReLU), the layer
    Grad-CAM's authors take (the last convolutional layer) and the same for teacher and
    students."""
    stages = getattr(model, "stages", None)
    if stages is None or len(stages) == 0:
        raise ValueError(f"{type(model).__name__} has no `stages`: give the Grad-CAM target layer explicitly")
    return stages[-1]


def grad_cams(model: nn.Module, images: Tensor, classes: Tensor, layer: str | None = None,
              batch_size: int = 250) -> Tensor:
    """Grad-CAM maps (N, H, W) in [0, 1] of class `classes[i]` for every image (normalised
    inputs, what the network reads), at `layer` (a submodule name of `model`; default: the
    last stage, `last_stage`), by `pytorch_grad_cam.GradCAM` with a ClassifierOutputTarget per
    image, in float32 and eval mode. The network is copied first, so its parameters, gradients
    and modes are left as they were. An all-zero row is a map the package could not scale
    (constant after its ReLU)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    if len(images) != len(classes):
        raise ValueError(f"{len(images)} images but {len(classes)} classes")
    net = copy.deepcopy(model).float().eval().requires_grad_(True)
    target = last_stage(net) if layer is None else net.get_submodule(layer)
    cam = GradCAM(model=net, target_layers=[target])
    try:
        maps = [torch.from_numpy(cam(input_tensor=images[i:i + batch_size].float(),
                                     targets=[ClassifierOutputTarget(int(c)) for c in classes[i:i + batch_size]]))
                for i in range(0, len(images), batch_size)]
    finally:
        cam.activations_and_grads.release()
    return torch.cat(maps).float()


def cam_cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of two sets of maps, image by image, (N,) in float64; NaN where either
    map is all zero (undefined)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = (a * b).sum(1) / (na * nb).clamp_min(1e-300)
    return torch.where((na == 0) | (nb == 0), torch.full_like(cos, float("nan")), cos)


class CamScore(NamedTuple):
    """Ojha et al. 2023 sec. 4.1's score: `score` = % of the valid images where the teacher's
    CAM is closer (cosine) to the distilled student's than to the independent student's, a tie
    counting one half. `closer` is that per valid image (1, 0.5 or 0); `valid` marks the images
    whose three maps are all non-zero, `zero` counts the others (left out)."""
    score: float
    closer: Tensor
    valid: Tensor
    zero: int


def cam_score(teacher: Tensor, distilled: Tensor, independent: Tensor) -> CamScore:
    """The score of `distilled` against `independent` for `teacher`'s maps (each (N, H, W)):
    cos(T, D) > cos(T, I) counts 1, equality 1/2; images where any of the three maps is all
    zero are left out (their cosine is undefined) and counted in `zero`. A score of 50 is what
    two networks equally far from the teacher give."""
    if not teacher.shape == distilled.shape == independent.shape:
        raise ValueError(f"map shapes differ: {tuple(teacher.shape)}, {tuple(distilled.shape)}, "
                         f"{tuple(independent.shape)}")
    cos_d, cos_i = cam_cosine(teacher, distilled), cam_cosine(teacher, independent)
    valid = ~(cos_d.isnan() | cos_i.isnan())
    if not valid.any():
        raise ValueError("every image has an all-zero map: the score is undefined")
    d, i = cos_d[valid], cos_i[valid]
    closer = (d > i).double() + 0.5 * (d == i).double()
    return CamScore(100.0 * closer.mean().item(), closer, valid, int((~valid).sum()))


# ---------------------------------------------------------------------------------------------
# O2: the teacher's adversarial images (Ojha et al. 2023, sec. 4.2, Figure 3)
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def classify(model: nn.Module, images01: Tensor, mean, std, batch_size: int = 500) -> Tensor:
    """Predicted classes of [0, 1] images, normalised by (mean, std) per channel, in float32
    and eval mode."""
    net = attacks.Normalized(model, mean, std).to(images01.device)
    with eval_mode(net):
        return torch.cat([net(images01[i:i + batch_size].float()).argmax(1)
                          for i in range(0, len(images01), batch_size)])


class Adversarial(NamedTuple):
    """Adversarial images crafted on one network (the source): `images` in [0, 1], in the
    order of the clean ones; the source's predicted class on the clean (`clean`) and the
    adversarial (`predicted`) images; `fooled` where its prediction changed; `eps`, `step`,
    `steps` of the attack."""
    images: Tensor
    clean: Tensor
    predicted: Tensor
    fooled: Tensor
    eps: float
    step: float
    steps: int

    @property
    def fooling_rate(self) -> float:
        """% of the images whose prediction the attack changed on the source itself."""
        return 100.0 * self.fooled.float().mean().item()


def craft(model: nn.Module, images01: Tensor, mean, std, eps: float, steps: int = 5,
          step: float | None = None, batch_size: int = 500) -> Adversarial:
    """Iterative FGSM (Kurakin et al. 2017; kd.attacks.iterative_fgsm) against `model` on
    [0, 1] images, untargeted, away from the model's own clean prediction, no random start,
    in the L_inf ball of `eps` and in [0, 1]; `step` (default eps / 4: the 1.25 eps that
    Kurakin's step count covers, over `steps`) per step; an image stops moving once the
    prediction has changed (`stop_when_flipped`), as Ojha et al. keep the images that change
    the teacher's prediction. float32, eval mode."""
    if not eps > 0 or steps < 1:
        raise ValueError(f"eps={eps!r} must be > 0 and steps={steps!r} >= 1")
    step = eps / 4 if step is None else step
    net = attacks.Normalized(model, mean, std).to(images01.device)
    clean = classify(model, images01, mean, std, batch_size)
    adv = torch.cat([attacks.iterative_fgsm(net, images01[i:i + batch_size].float(),
                                            clean[i:i + batch_size], eps=eps, step=step, steps=steps,
                                            stop_when_flipped=True)
                     for i in range(0, len(images01), batch_size)])
    predicted = classify(model, adv, mean, std, batch_size)
    return Adversarial(adv, clean, predicted, predicted != clean, float(eps), float(step), int(steps))


def fooled_on(model: nn.Module, adversarial: Adversarial, clean01: Tensor, mean, std,
              batch_size: int = 500) -> Tensor:
    """Whether each adversarial image that fooled its source also fools `model`: its prediction
    on the adversarial image differs from its own on the clean image (bool, one entry per
    image the source was fooled on, in order; the other images are not counted)."""
    keep = adversarial.fooled
    if not keep.any():
        raise ValueError("no image fooled the source network: there is no fooling rate to measure")
    clean = classify(model, clean01[keep], mean, std, batch_size)
    return classify(model, adversarial.images[keep], mean, std, batch_size) != clean


def rate(flags: Tensor) -> float:
    """% of True among per-image flags."""
    if len(flags) == 0:
        raise ValueError("no images: the rate is undefined")
    return 100.0 * flags.float().mean().item()


# ---------------------------------------------------------------------------------------------
# O3, O4: agreement and consensus
# ---------------------------------------------------------------------------------------------

def classes(result, data) -> Tensor:
    """The predicted class of a trained run (kd.Result) for every image of a kd Dataset, in
    the precision the run trained in (Result.predict), on the CPU."""
    from .runner import loader_for
    return result.predict(loader_for(data)).argmax(1).cpu()


def consensus(a: Tensor, b: Tensor) -> float:
    """% of images where two sets of predicted classes agree (right or wrong): Ojha et al.'s
    consensus between teacher and student (sec. 4.4) and agreement between an image and its
    jittered copy (sec. 4.3)."""
    if a.shape != b.shape:
        raise ValueError(f"predictions of shape {tuple(a.shape)} and {tuple(b.shape)} differ")
    return rate(a == b)


def agreement_flags(a: Tensor, b: Tensor) -> np.ndarray:
    """Per image, whether two sets of predicted classes agree (for McNemar's test)."""
    return (a == b).numpy()
