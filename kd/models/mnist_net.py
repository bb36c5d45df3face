"""The network of the PyTorch MNIST example (pytorch/examples, mnist/main.py), which Ojha et
al. 2023 use for teacher and students in sec. 5.1 and 6: conv3x3(C->32)-ReLU,
conv3x3(32->64)-ReLU, max-pool 2, dropout 0.25, FC(9216 -> 128)-ReLU, dropout 0.5,
FC(128 -> classes). The convs are unpadded (28 -> 26 -> 24 -> pool 12: 64 * 12 * 12 = 9216).
Unlike kd's `cnn_small` it pools once and keeps both dropouts at the example's rates."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .outputs import Features


class MnistNet(nn.Module):
    """Stages: the two conv layers' outputs after their ReLU (32 and 64 channels; the second
    is the 64-channel conv Ojha's Hint reads); embedding: the 128 features after ReLU,
    before the second dropout (in eval mode exactly the classifier's input)."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        c, h, w = shape
        self.conv1 = nn.Conv2d(c, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(64 * ((h - 4) // 2) * ((w - 4) // 2), 128)
        self.dropout2 = nn.Dropout(0.5)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        s1 = F.relu(self.conv1(x))
        s2 = F.relu(self.conv2(s1))
        h = self.dropout1(F.max_pool2d(s2, 2)).flatten(1)
        embedding = F.relu(self.fc1(h))
        logits = self.classifier(self.dropout2(embedding))
        return Features(logits, [s1, s2], embedding) if features else logits
