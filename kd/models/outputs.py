"""What every kd network returns when asked for its features."""
from __future__ import annotations

from typing import NamedTuple

import torch


class Features(NamedTuple):
    """`model(x, features=True)`: the logits, the output of every stage (blocks for CNNs,
    hidden layers for MLPs), the pooled embedding that feeds the classifier and, for the
    residual networks, the stem's output (the first block's input)."""
    logits: torch.Tensor
    stages: list[torch.Tensor]
    embedding: torch.Tensor
    stem: torch.Tensor | None = None
