"""CIFAR ResNets of depth 6n+2 (He et al. 2016, "Deep Residual Learning for Image Recognition",
Sec. 4.2): a 3x3 conv to 16 channels, three groups of n basic blocks with 16, 32 and 64
channels (the second and third halve the feature map), global average pooling and a linear
classifier. ResNet-8 ... ResNet-110 are n = 1 ... 18.

A shortcut that changes the shape is a 1x1 conv + BatchNorm (He et al.'s option B), as in
the resnet8 ... resnet110 of Tian et al. 2020 (CRD, RepDistiller); this gives ResNet-8 its
published 0.078M parameters (option A, zero padding, would give 0.075M)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .outputs import Features


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (He et al. 2016, Fig. 2)."""
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != width:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, width, 1, stride, bias=False),
                                          nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def init_weights(model: nn.Module) -> None:
    """He-normal convs (He et al. 2015), BatchNorm scale 1 and shift 0, zero linear biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class StagedNet(nn.Module):
    """The forward shared by the residual networks: stem, stages, pooled embedding, linear
    classifier. Subclasses set `stem`, `stages` and `classifier`; `pool` may add a final
    normalisation (the pre-activation WRN does)."""

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(h, 1).flatten(1)

    def activated(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """`maps` (the stem's output, then each stage's) as the layer after each reads them.
        In post-activation networks they already are (each ends in a ReLU)."""
        return list(maps)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        h = stem = self.stem(x)
        stages = []
        for stage in self.stages:
            h = stage(h)
            stages.append(h)
        embedding = self.pool(h)
        logits = self.classifier(embedding)
        return Features(logits, stages, embedding, stem) if features else logits


class CifarResNet(StagedNet):
    """ResNet-`depth` for 32x32 images; `depth` = 6n+2 with n >= 1. Stages: the three groups."""

    def __init__(self, depth: int, num_classes: int, in_chans: int = 3):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth={depth} must be 6n+2 with n >= 1 "
                             "(8, 14, 20, ...)")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        c = 16
        for i, width in enumerate((16, 32, 64)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(c, width, stride)]
            blocks += [BasicBlock(width, width) for _ in range(n - 1)]
            self.stages.append(nn.Sequential(*blocks))
            c = width
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)
