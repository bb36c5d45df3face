"""VGG11 and VGG19 (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", Table 1, configurations A and E) in the CIFAR form used for
distillation (e.g. Tian et al. 2020, CRD): every 3x3 conv is followed by BatchNorm (Ioffe &
Szegedy 2015) and ReLU, each of the five conv stages by a 2x2 max-pool; the three large
fully connected layers are replaced by global average pooling and a single
Linear(512, num_classes)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .outputs import Features
from .resnet_cifar import init_weights

# depth -> output channels of the convs of each of the five stages
LAYOUTS: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGG(nn.Module):
    """Stages: the output of each conv stage, before its max-pool."""

    def __init__(self, depth: int, num_classes: int, in_chans: int = 3):
        super().__init__()
        if depth not in LAYOUTS:
            allowed = ", ".join(map(str, LAYOUTS))
            raise ValueError(f"VGG depth={depth} is unknown; allowed: {allowed}")
        self.stages = nn.ModuleList()
        c = in_chans
        for widths in LAYOUTS[depth]:
            layers: list[nn.Module] = []
            for width in widths:
                layers += [nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                           nn.ReLU(inplace=True)]
                c = width
            self.stages.append(nn.Sequential(*layers))
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        h = x
        stages = []
        for stage in self.stages:
            h = stage(h)
            stages.append(h)
            h = F.max_pool2d(h, 2, ceil_mode=True)
        embedding = F.adaptive_avg_pool2d(h, 1).flatten(1)
        logits = self.classifier(embedding)
        return Features(logits, stages, embedding) if features else logits
