"""Wide residual networks WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual Networks"):
a 3x3 conv to 16 channels, three groups of n = (d-4)/6 pre-activation blocks
(BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3) with 16k, 32k and 64k channels (the second and
third halve the feature map), a final BN-ReLU, global average pooling and a linear
classifier. A shortcut that changes the shape is a 1x1 conv of the pre-activated input, as
in the authors' code. Dropout between the convs is 0 unless asked for."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet_cifar import StagedNet, init_weights


class WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(a)))))
        return out + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(StagedNet):
    """WRN-`depth`-`widen`; `depth` = 6n+4 with n >= 1. Stages: the three groups' outputs
    (before the final BN-ReLU, as in Zagoruyko & Komodakis 2017's attention transfer)."""

    def __init__(self, depth: int, widen: int, num_classes: int, dropout: float = 0.0,
                 in_chans: int = 3):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth={depth} must be 6n+4 with n >= 1 (10, 16, 22, ...)")
        if widen < 1:
            raise ValueError(f"WRN widen={widen} must be >= 1")
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False)
        self.stages = nn.ModuleList()
        c = 16
        for i, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
            stride = 1 if i == 0 else 2
            blocks = [WideBlock(c if j == 0 else width, width, stride if j == 0 else 1, dropout)
                      for j in range(n)]
            self.stages.append(nn.Sequential(*blocks))
            c = width
        self.bn = nn.BatchNorm2d(c)
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(F.relu(self.bn(h)), 1).flatten(1)

    def activated(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """ReLU(BN(map)) with the BN that reads each map in the forward (the next group's first
        block, or the final BN): the pre-activation sums grow with depth (block 3 of a trained
        WRN-40-2 is ~10x block 1), these do not. BN runs as in the forward (batch statistics
        in training, running ones in eval) but never updates the running statistics."""
        readers = [stage[0].bn1 for stage in self.stages] + [self.bn]
        if len(maps) != len(readers):
            raise ValueError(f"{len(maps)} maps for {len(readers)} readers (stem + each group)")
        return [F.relu(_batch_norm(m, bn)) for m, bn in zip(maps, readers)]


def _batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """`bn(x)` without touching its running statistics."""
    if bn.training:
        return F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
