"""Networks by name. Every network maps images to logits and, with `features=True`,
returns a `Features(logits, stages, embedding)`; no hooks, no global state.

`MODELS` holds kd's own networks; `build` also makes any timm model named "timm:<name>"."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .cnn import SmallCNN
from .mlp import MLP
from .mnist_net import MnistNet
from .outputs import Features
from .resnet import ResNet, resnet18, resnet50
from .resnet_cifar import CifarResNet
from .timm_net import TimmNet, create
from .vgg import VGG
from .wrn import WideResNet

Builder = Callable[..., nn.Module]


def _cifar_resnet(depth: int) -> Builder:
    return lambda cfg, num_classes, shape: CifarResNet(depth, num_classes, in_chans=shape[0])


def _wrn(depth: int, widen: int) -> Builder:
    return lambda cfg, num_classes, shape: WideResNet(depth, widen, num_classes,
                                                      dropout=cfg.dropout, in_chans=shape[0])


def _resnet(make: Callable[..., ResNet]) -> Builder:
    return lambda cfg, num_classes, shape: make(num_classes, blocks=cfg.blocks,
                                                in_chans=shape[0], stem_stride=cfg.stem_stride,
                                                width=cfg.width)


def _vgg(depth: int) -> Builder:
    return lambda cfg, num_classes, shape: VGG(depth, num_classes, in_chans=shape[0])


# name -> builder(config, num_classes, input shape (C, H, W))
MODELS: dict[str, Builder] = {
    "mlp": lambda cfg, num_classes, shape: MLP(
        shape[0] * shape[1] * shape[2], tuple(cfg.hidden), num_classes,
        dropout=cfg.dropout, input_dropout=cfg.input_dropout),
    "cnn_small": lambda cfg, num_classes, shape: SmallCNN(shape, num_classes, dropout=cfg.dropout),
    "mnist_net": lambda cfg, num_classes, shape: MnistNet(shape, num_classes),   # Ojha 5.1
    **{f"resnet{d}": _cifar_resnet(d) for d in (8, 14, 20, 26, 32, 44, 56, 110)},
    **{f"wrn_{d}_{k}": _wrn(d, k) for d in (10, 16, 22, 28, 40) for k in (1, 2, 3, 4, 6, 8, 10)},
    "resnet18": _resnet(resnet18),
    "resnet50": _resnet(resnet50),
    "vgg11": _vgg(11),
    "vgg19": _vgg(19),
}


def build(cfg, num_classes: int, shape: tuple[int, int, int]) -> nn.Module:
    """The network `cfg.arch` for `num_classes` classes and inputs of `shape` (C, H, W). An
    option the network does not read (blocks, stem_stride, width, patch_size) is a ValueError."""
    timm_name = cfg.arch.removeprefix("timm:") if cfg.arch.startswith("timm:") else None
    if timm_name is None and cfg.arch not in MODELS:
        raise ValueError(f"model arch={cfg.arch!r} is unknown; allowed: "
                         f"{', '.join(sorted(MODELS))}, timm:<name>")
    shrinks = cfg.blocks is not None or cfg.stem_stride != 1 or cfg.width != 1.0
    if shrinks and cfg.arch not in ("resnet18", "resnet50"):
        raise ValueError(f"blocks={cfg.blocks}, stem_stride={cfg.stem_stride} and width={cfg.width} "
                         f"are only for resnet18 and resnet50, not {cfg.arch!r}")
    if cfg.patch_size is not None and timm_name is None:
        raise ValueError(f"patch_size={cfg.patch_size} is only for timm models, not {cfg.arch!r}")
    if timm_name is not None:
        return TimmNet(create(timm_name, num_classes, tuple(shape), patch_size=cfg.patch_size))
    return MODELS[cfg.arch](cfg, num_classes, shape)


__all__ = ["MODELS", "Features", "MLP", "MnistNet", "SmallCNN", "CifarResNet", "WideResNet", "ResNet",
           "VGG", "TimmNet", "build"]
