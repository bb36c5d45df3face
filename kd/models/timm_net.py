"""Any timm (Wightman, "PyTorch Image Models") network, randomly initialised, behind kd's
`forward(x, features=False)` contract. For vision transformers (Dosovitskiy et al. 2021,
"An Image is Worth 16x16 Words") the image size and patch size are set from the data, e.g.
vit_tiny_patch16_224 with patch_size=4 on 32x32 CIFAR images gives 8x8 = 64 tokens.

Features come from timm's `forward_intermediates`: the stages are every intermediate it
returns by default, i.e. the output of every transformer block of a ViT (as B x D x H' x W'
maps, the class token dropped) or every feature level of a CNN; the embedding is the
pre-logits vector (`forward_head(..., pre_logits=True)`) and the logits its image under the
classifier (timm's head dropout, 0 by default, is not applied on this path)."""
from __future__ import annotations

import torch
from torch import nn

from .outputs import Features


def create(name: str, num_classes: int, shape: tuple[int, int, int],
           patch_size: int | None = None) -> nn.Module:
    """`timm.create_model(name)` for `num_classes` classes and inputs of `shape` (C, H, W),
    without pretrained weights. img_size (and patch_size, if given) go only to models that
    take them; a patch_size for a model without patches is a ValueError. timm is imported
    here, not with kd: it takes seconds."""
    import timm

    if not timm.is_model(name):
        raise ValueError(f"timm model {name!r} is unknown (see timm.list_models())")
    c, h, w = shape
    sizes: dict = {"img_size": h if h == w else (h, w)}
    if patch_size is not None:
        sizes["patch_size"] = patch_size
    try:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=c,
                                 **sizes)
    except TypeError as e:
        if not any(k in str(e) for k in sizes):
            raise
        if patch_size is not None:
            raise ValueError(f"timm model {name!r} takes no img_size/patch_size; give patch_size "
                             f"only to models with patches ({e})") from e
    return timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=c)


class TimmNet(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor | Features:
        if not features:
            return self.net(x)
        if hasattr(self.net, "forward_intermediates"):
            final, stages = self.net.forward_intermediates(x)
        else:
            final = self.net.forward_features(x)
            stages = [final]
        embedding = self.net.forward_head(final, pre_logits=True)
        logits = self.net.get_classifier()(embedding)
        return Features(logits, list(stages), embedding)
