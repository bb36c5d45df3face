"""What the studies measure on trained models, beyond accuracy.

Hinton et al. 2015, sec. 3 (zhang Table 2): a student whose transfer set omits one class
learns it from soft targets alone, but its bias for that class is too low; raising the bias
by the amount that best matches the teacher's predictions on held-out images recovers it.

Somepalli et al. 2022 ("Can neural nets learn the same model twice?"), as Ojha et al. 2023
use it (sec. 6, Table 1): the decision regions of two networks on planes through triplets of
images, and the fraction of the plane where their predictions agree.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import attacks
from .runner import measured, split


def split_accuracy(logits: torch.Tensor, labels: torch.Tensor, omitted: int) -> tuple[float, float]:
    """Top-1 accuracy in percent on the images of the other classes and on those of the
    `omitted` class (NaN for a part with no images)."""
    hit = logits.argmax(1) == labels
    mask = labels == omitted
    part = lambda m: 100 * hit[m].float().mean().item() if m.any() else float("nan")  # noqa: E731
    return part(~mask), part(mask)


def teacher_matched_bias(student_logits: torch.Tensor, teacher_logits: torch.Tensor, omitted: int,
                         grid: np.ndarray | None = None) -> float:
    """The raise of class `omitted`'s logit, from `grid` (default 0 to 15 in steps of 0.25),
    that maximises top-1 agreement with the teacher (the first such value on ties).
    No label is used: choose it on held-out images, never on the test set."""
    grid = np.arange(0.0, 15.01, 0.25) if grid is None else np.asarray(grid, dtype=float)
    shift = torch.zeros(student_logits.shape[1], dtype=student_logits.dtype)
    shift[omitted] = 1.0
    target = teacher_logits.argmax(1)
    agree = [((student_logits + b * shift).argmax(1) == target).float().mean().item() for b in grid]
    return float(grid[int(np.argmax(agree))])


# ---------------------------------------------------------------------------------------------
# Decision-boundary similarity (Somepalli et al. 2022; Ojha et al. 2023, sec. 6 and Table 1)
# ---------------------------------------------------------------------------------------------

class Plane(NamedTuple):
    """The plane through three images x1, x2, x3 (somepago/dbViz, data.py `get_plane`):
    points base + u a + v b, with a = (x2 - x1)/|x2 - x1| and b the unit vector of x3 - x1
    made orthogonal to a; `coords` are the three images' (u, v): (0, 0), (|x2 - x1|, 0),
    (a.(x3 - x1), b.(x3 - x1))."""
    base: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    coords: torch.Tensor          # (3, 2)


def triplet_plane(x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> Plane:
    """The plane through three images (in the space the networks read: normalised inputs)."""
    x1, x2, x3 = (x.float() for x in (x1, x2, x3))
    d2, d3 = x2 - x1, x3 - x1
    norm2 = d2.flatten().norm()
    a = d2 / norm2
    along = (a.flatten() @ d3.flatten())
    b = d3 - along * a
    b = b / b.flatten().norm()
    coords = torch.tensor([[0.0, 0.0], [norm2.item(), 0.0], [along.item(), (b.flatten() @ d3.flatten()).item()]])
    return Plane(x1, a, b, coords)


def plane_grid(plane: Plane, resolution: int = 50, margin: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, v) of a resolution x resolution grid over the triplet's coordinates extended by
    `margin` (10%) of their range on each side (dbViz `plane_dataset`, range_l = range_r =
    0.1); u varies along the first axis, as dbViz's meshgrid does."""
    lo, hi = plane.coords.min(0).values, plane.coords.max(0).values
    span = hi - lo
    u = torch.linspace(lo[0] - margin * span[0], hi[0] + margin * span[0], resolution)
    v = torch.linspace(lo[1] - margin * span[1], hi[1] + margin * span[1], resolution)
    return torch.meshgrid(u, v, indexing="ij")


def plane_points(plane: Plane, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The images base + u a + v b for every (u, v), flattened to (n, C, H, W)."""
    u, v = u.reshape(-1, 1, 1, 1).float(), v.reshape(-1, 1, 1, 1).float()
    return plane.base[None] + u * plane.a[None] + v * plane.b[None]


def sample_triplets(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3) image indices, each row three images of three different classes, drawn as dbViz
    draws them (`get_random_images`): uniform images, one whose class is already in the row
    drawn again. A function of (labels, n, seed)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        row: list[int] = []
        while len(row) < 3:
            i = int(torch.randint(len(labels), (1,), generator=g))
            if int(labels[i]) not in {int(labels[j]) for j in row}:
                row.append(i)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)


@torch.no_grad()
def plane_predictions(models: dict, images: torch.Tensor, triplets: torch.Tensor,
                      resolution: int = 50, precision: str = "fp32",
                      batch_size: int = 128) -> dict[str, torch.Tensor]:
    """Each model's predicted class at every grid point of every triplet's plane:
    {name: (triplets, resolution, resolution) uint8}. `images` are normalised (what the
    networks read); the points of one plane are made once and fed to every model (eval mode,
    `precision` as in kd.train.autocast) in batches of `batch_size`: on a 2-core CPU batches
    of ~128 ran 2.4-3.3x faster per image than whole 2,500-point planes."""
    from .modes import eval_mode
    from .train import autocast
    out = {name: torch.empty(len(triplets), resolution, resolution, dtype=torch.uint8) for name in models}
    device = images.device
    for k, (i, j, l) in enumerate(triplets.tolist()):
        plane = triplet_plane(images[i], images[j], images[l])
        u, v = plane_grid(plane, resolution)
        points = plane_points(plane, u, v).to(device)
        if points.shape[1] == 3:          # colour batches are channels_last everywhere in kd
            points = points.contiguous(memory_format=torch.channels_last)
        for name, model in models.items():
            with eval_mode(model), autocast(device, precision):
                pred = torch.cat([model(points[s:s + batch_size]).argmax(1)
                                  for s in range(0, len(points), batch_size)])
            out[name][k] = pred.view(resolution, resolution).to(torch.uint8).cpu()
    return out


def boundary_similarity(pred_a: torch.Tensor, pred_b: torch.Tensor) -> torch.Tensor:
    """Per plane, the fraction of grid points where two networks predict the same class
    (dbViz `calculate_iou_simple`, which Ojha et al. report as IoU); (triplets,) floats."""
    if pred_a.shape != pred_b.shape:
        raise ValueError(f"predictions of shape {tuple(pred_a.shape)} and {tuple(pred_b.shape)} differ")
    return (pred_a == pred_b).flatten(1).float().mean(1)


def robustness(result, images: Tensor, labels: Tensor, setting: str = "official",
               eps: float = 8 / 255, seed: int = 0) -> dict:
    """AutoAttack of a trained run (`kd.run`'s Result) on fixed test images, cached with the
    run (`kd.runner.measured`): {"clean": per-image correctness, "robust": per-image
    robustness, "describe": what ran on how many images}. `images` are uint8 (N, C, H, W) or
    [0, 1] floats; the run's normalisation goes inside a `Normalized` wrapper."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    train, _ = split(result.config.data)
    params = {"attack": "autoattack", "setting": setting, "eps": eps, "seed": seed,
              "images": len(x), "first": x[:1].sum().item(), "sum": x.sum().item(),
              "labels": labels.tolist()}

    def compute() -> dict:
        model = attacks.Normalized(result.model, train.mean, train.std).to(x.device)
        r = attacks.autoattack(model, x, labels, eps=eps, setting=setting, seed=seed)
        return {"clean": r.clean.tolist(), "robust": r.robust.tolist(), "describe": r.describe()}

    return measured(result, "autoattack", params, compute)
