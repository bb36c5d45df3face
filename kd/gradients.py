"""Gradient magnitudes over training (zhang et al., Figure 1: "average gradients at each layer
of each stage" of Tf-KD and of plain training, the claim being that KD's are larger).

`GradientRecorder` is the trainer's per-step hook (`kd.fit(..., on_step=...)`): after every
backward pass it adds the mean absolute gradient of each weight tensor of the student (convs
and the classifier; BatchNorm scales and biases left out) to a running sum on the device, and
at the end of an epoch returns the epoch's means, which the trainer stores in that epoch's
history record. It only reads gradients: the trained weights are bit-identical to a run
without it. `kd.run(cfg, record_gradients=True)` records a run's gradients;
`stage_grid` lays them out as the paper's heatmap, one row per residual stage.
"""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

KEY = "grad_abs_mean"


class GradientRecorder:
    """Per-step hook of `kd.fit`: mean |grad| of every weight tensor (ndim > 1) of `model`,
    averaged over the steps of each epoch. `steps_seen` counts the steps it was called at."""

    def __init__(self, model: nn.Module):
        named = [(n, p) for n, p in model.named_parameters() if p.ndim > 1 and p.requires_grad]
        self.names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._sum: torch.Tensor | None = None
        self._steps = 0
        self.steps_seen = 0

    @torch.no_grad()
    def after_backward(self, epoch: int, step: int) -> None:
        means = torch.stack([p.grad.float().abs().mean() if p.grad is not None
                             else torch.zeros((), device=p.device) for p in self._params])
        self._sum = means if self._sum is None else self._sum + means
        self._steps += 1
        self.steps_seen += 1

    def end_epoch(self, epoch: int) -> dict:
        """{KEY: the epoch's mean |grad| per tensor, in `names` order}, and a fresh sum."""
        values = (self._sum / max(self._steps, 1)).tolist() if self._sum is not None else []
        self._sum, self._steps = None, 0
        return {KEY: values}


def per_epoch(metrics: dict) -> tuple[list[str], np.ndarray]:
    """The recorded tensor names and an [epochs, tensors] array of mean |grad| from a run's
    metrics (`kd.run(cfg, record_gradients=True).metrics`)."""
    if "grad_names" not in metrics:
        raise ValueError("this run was trained without recording gradients: "
                         "use kd.run(cfg, record_gradients=True)")
    return metrics["grad_names"], np.array([h[KEY] for h in metrics["history"]])


_STAGE_CONV = re.compile(r"^stages\.(\d+)\.(\d+)\.(conv\d+)\.weight$")


def stage_grid(names: list[str], values: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """zhang Figure 1's layout: one row per residual stage, one column per main-path conv of
    that stage in forward order (block j, conv k; projection shortcuts, stem and classifier
    left out), NaN where a stage has fewer convs. Returns (grid, row labels, column labels)."""
    cells: dict[int, list[tuple[int, str, float]]] = {}
    for name, value in zip(names, np.asarray(values, dtype=float)):
        m = _STAGE_CONV.match(name)
        if m:
            cells.setdefault(int(m[1]), []).append((int(m[2]), m[3], float(value)))
    if not cells:
        raise ValueError(f"no residual-stage convs among {names[:4]}...: the network has no "
                         f"`stages.<i>.<j>.conv<k>` weights")
    stages = sorted(cells)
    width = max(len(v) for v in cells.values())
    grid = np.full((len(stages), width), np.nan)
    for r, s in enumerate(stages):
        for c, (_, _, value) in enumerate(sorted(cells[s])):
            grid[r, c] = value
    return grid, [f"stage {s + 1}" for s in stages], [f"layer {c + 1}" for c in range(width)]
