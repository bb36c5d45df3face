"""Small plotting helpers the notebooks share (matplotlib axes in, nothing hidden)."""
from __future__ import annotations

import numpy as np

from .config import TrainConfig
from .train import lr_factor


def lr_curves(ax, schedules: dict[str, TrainConfig]) -> None:
    """Learning rate against the fraction of training, one line per schedule (step
    schedules drawn exactly, at 200 points per epoch; a linear axis, since schedules that
    decay to zero reach it)."""
    for label, cfg in schedules.items():
        steps = 200 * cfg.epochs
        x = np.arange(steps) / steps
        ax.plot(x, [cfg.lr * lr_factor(cfg, s, 200) for s in range(steps)], label=f"{label} ({cfg.epochs} epochs)")
    ax.set_xlabel("fraction of training")
    ax.set_ylabel("learning rate")
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


def decision_regions(axes, predictions: dict, coords, resolution_extent, title_prefix: str = "",
                     labels=None) -> None:
    """One plane's decision regions, one network per axis (Ojha et al. 2023, Figure 7 right):
    `predictions` {name: (res, res) predicted classes, u along the first axis}, drawn in
    tab10's colour of each class; the three images of the triplet marked at `coords` (3, 2),
    annotated with their `labels` when given. `resolution_extent` is (u_min, u_max, v_min,
    v_max) of the grid."""
    import matplotlib.pyplot as plt
    cmap = plt.get_cmap("tab10")
    for ax, (name, pred) in zip(axes, predictions.items()):
        ax.imshow(np.asarray(pred).T, origin="lower", extent=resolution_extent, cmap=cmap,
                  vmin=-0.5, vmax=9.5, interpolation="nearest", aspect="auto")
        for k, (u, v) in enumerate(np.asarray(coords)):
            ax.plot(u, v, marker="o^X"[k], color="black", markersize=6, markeredgecolor="white")
            if labels is not None:
                ax.annotate(str(int(labels[k])), (u, v), xytext=(4, 4), textcoords="offset points",
                            fontsize=8, color="white", weight="bold")
        ax.set_title(f"{title_prefix}{name}", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])


def grouped_bars(ax, values: dict, groups: tuple[str, ...], ylabel: str = "",
                 colors: dict | None = None) -> None:
    """One group of bars per entry of `groups` (e.g. the domains), one bar per series of
    `values` {series: {group: [values over seeds]}}: the mean, with the seed-to-seed std as
    an error bar and each seed as a dot (Ojha et al. 2023, Figure 6's layout)."""
    width = 0.8 / len(values)
    x = np.arange(len(groups))
    for k, (name, per_group) in enumerate(values.items()):
        means = [np.mean(per_group[g]) for g in groups]
        stds = [np.std(per_group[g], ddof=1) if len(per_group[g]) > 1 else 0.0 for g in groups]
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, means, width, yerr=stds, label=name, capsize=2,
               color=(colors or {}).get(name))
        for p, g in zip(pos, groups):
            ax.scatter([p] * len(per_group[g]), per_group[g], s=6, color="black", zorder=3)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
