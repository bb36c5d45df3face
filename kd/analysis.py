"""What the studies measure on trained models, beyond accuracy.

Hinton et al. 2015, sec. 3 (zhang Table 2): a student whose transfer set omits one class
learns it from soft targets alone, but its bias for that class is too low; raising the bias
by the amount that best matches the teacher's predictions on held-out images recovers it.
"""
from __future__ import annotations

import numpy as np
import torch


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
