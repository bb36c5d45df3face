"""Networks by name. Every network maps images to logits and, with `features=True`,
returns a `Features(logits, stages, embedding)`; no hooks, no global state."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .mlp import MLP
from .outputs import Features

# name -> builder(config, num_classes, input shape (C, H, W))
MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": lambda cfg, num_classes, shape: MLP(
        shape[0] * shape[1] * shape[2], tuple(cfg.hidden), num_classes,
        dropout=cfg.dropout, input_dropout=cfg.input_dropout),
}


def build(cfg, num_classes: int, shape: tuple[int, int, int]) -> nn.Module:
    """The network `cfg.arch` for `num_classes` classes and inputs of `shape` (C, H, W)."""
    if cfg.arch not in MODELS:
        raise ValueError(f"model arch={cfg.arch!r} is unknown; allowed: {', '.join(sorted(MODELS))}")
    return MODELS[cfg.arch](cfg, num_classes, shape)


__all__ = ["MODELS", "Features", "MLP", "build"]
