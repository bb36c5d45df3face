"""Fully connected networks for MNIST: Hinton et al. 2015's 784-1200-1200-10 teacher and
784-800/400-10 students (zhang Table 1), gupta Table 1's one-hidden-layer students."""
from __future__ import annotations

import torch
from torch import nn

from .outputs import Features


class MLP(nn.Module):
    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int,
                 dropout: float = 0.0, input_dropout: float = 0.0):
        super().__init__()
        sizes = (in_features, *hidden)
        self.input_dropout = nn.Dropout(input_dropout)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        h = self.input_dropout(x.flatten(1))
        stages = []
        for layer in self.hidden:
            h = self.dropout(torch.relu(layer(h)))
            stages.append(h)
        logits = self.classifier(h)
        return Features(logits, stages, h) if features else logits
