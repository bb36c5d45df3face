"""ResNet18 and ResNet50 (He et al. 2016, "Deep Residual Learning for Image Recognition",
Table 1) in their CIFAR form: a 3x3 stem conv of stride 1 and no max-pool, then four stages
of basic (ResNet18: 2-2-2-2) or bottleneck (ResNet50: 3-4-6-3) blocks with 64, 128, 256 and
512 base channels, global average pooling and a linear classifier.

Gupta et al.'s students (Table 2) shrink it: `blocks` sets the blocks per stage (a stage with
0 blocks is left out, and the classifier reads the last stage present) and `stem_stride`
the stride of the stem conv (1, 2 or 4). `width` scales every stage's channels, the stem's
included, by one common factor (rounded, at least 1 channel): kd's `cpu` profile trains
Gupta's ResNet50 family at a fraction of its width, keeping blocks and strides."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet_cifar import BasicBlock, StagedNet, init_weights


class Bottleneck(nn.Module):
    """conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(4x width)-BN plus the shortcut, ReLU."""
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(StagedNet):
    """A four-stage ResNet; stage i > 0 halves the feature map. Stages: the stages present."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], blocks: tuple[int, ...],
                 num_classes: int, in_chans: int = 3, stem_stride: int = 1, width: float = 1.0):
        super().__init__()
        if len(blocks) != 4 or any(b < 0 for b in blocks) or not any(blocks):
            raise ValueError(f"blocks={tuple(blocks)} must be 4 counts >= 0, not all 0")
        if stem_stride < 1:
            raise ValueError(f"stem_stride={stem_stride} must be >= 1")
        if not width > 0:
            raise ValueError(f"width={width} must be > 0")
        stem, *widths = (max(1, round(c * width)) for c in (64, 64, 128, 256, 512))
        self.stem = nn.Sequential(nn.Conv2d(in_chans, stem, 3, stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        c = stem
        for i, (n, channels) in enumerate(zip(blocks, widths)):
            if n == 0:
                continue
            stride = 1 if i == 0 else 2
            layers = []
            for j in range(n):
                layers.append(block(c, channels, stride if j == 0 else 1))
                c = channels * block.expansion
            self.stages.append(nn.Sequential(*layers))
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)


def resnet18(num_classes: int, blocks: tuple[int, ...] | None = None, in_chans: int = 3,
             stem_stride: int = 1, width: float = 1.0) -> ResNet:
    return ResNet(BasicBlock, blocks or (2, 2, 2, 2), num_classes, in_chans, stem_stride, width)


def resnet50(num_classes: int, blocks: tuple[int, ...] | None = None, in_chans: int = 3,
             stem_stride: int = 1, width: float = 1.0) -> ResNet:
    return ResNet(Bottleneck, blocks or (3, 4, 6, 3), num_classes, in_chans, stem_stride, width)
