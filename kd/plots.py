"""Small plotting helpers the notebooks share (matplotlib axes in, nothing hidden)."""
from __future__ import annotations

import numpy as np

from .config import TrainConfig
from .train import lr_factor


def lr_curves(ax, schedules: dict[str, TrainConfig]) -> None:
    """Learning rate against the fraction of training, one line per schedule (step
    schedules drawn exactly, at 200 points per epoch)."""
    for label, cfg in schedules.items():
        steps = 200 * cfg.epochs
        x = np.arange(steps) / steps
        ax.plot(x, [cfg.lr * lr_factor(cfg, s, 200) for s in range(steps)], label=f"{label} ({cfg.epochs} epochs)")
    ax.set_xlabel("fraction of training")
    ax.set_ylabel("learning rate")
    ax.set_yscale("log")
    ax.legend(fontsize=8)


def accuracy_curves(ax, runs: dict, paper: dict[str, float] | None = None) -> None:
    """Test accuracy after every epoch of each run (a kd.Result), with the paper's final
    accuracy as a dotted line of the same colour where given."""
    for label, result in runs.items():
        history = result.metrics["history"]
        line, = ax.plot([h["epoch"] for h in history], [h["test_acc"] for h in history], marker=".", label=label)
        if paper and paper.get(label) is not None:
            ax.axhline(paper[label], ls=":", color=line.get_color(), lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
