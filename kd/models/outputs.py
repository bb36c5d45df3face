"""What every kd network returns when asked for its features."""
from __future__ import annotations

from typing import NamedTuple

import torch


class Features(NamedTuple):
    """`model(x, features=True)`: the logits, the output of every stage (blocks for CNNs,
    hidden layers for MLPs) and the pooled embedding that feeds the classifier."""
    logits: torch.Tensor
    stages: list[torch.Tensor]
    embedding: torch.Tensor
