"""A small LeNet-style CNN (LeCun et al. 1998, "Gradient-Based Learning Applied to Document
Recognition") for 28x28 MNIST-style images, with the layer sizes of the PyTorch MNIST
example: conv3x3(C->32)-ReLU-maxpool, conv3x3(32->64)-ReLU-maxpool, FC(64*7*7 -> 128)-ReLU-
dropout, FC(128 -> classes). Convs are padded, so any H, W divisible by 4 work."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .outputs import Features


class SmallCNN(nn.Module):
    """Stages: the two conv layers' outputs (after ReLU, before pooling); embedding: the
    128-d hidden layer."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, dropout: float = 0.0):
        super().__init__()
        c, h, w = shape
        self.conv1 = nn.Conv2d(c, 32, 3, 1, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1)
        self.fc = nn.Linear(64 * (h // 4) * (w // 4), 128)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        s1 = F.relu(self.conv1(x))
        s2 = F.relu(self.conv2(F.max_pool2d(s1, 2)))
        embedding = self.dropout(F.relu(self.fc(F.max_pool2d(s2, 2).flatten(1))))
        logits = self.classifier(embedding)
        return Features(logits, [s1, s2], embedding) if features else logits
