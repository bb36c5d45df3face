"""Unseen domains built from the CIFAR test set, in the spirit of Geirhos et al.'s
("Partial success in closing the gap between human and machine vision", NeurIPS 2021) sets
that Ojha et al. 2023 (sec. 4.4, Figure 5) test consensus on. Geirhos' sets are ImageNet
images and cannot be had offline; each builder here turns uint8 images (N, 3, H, W) into
uint8 images of the same shape, deterministically (a function of the images, and for the
texture swap of the labels and a seed), the class label unchanged:

- `greyscale`: the luma 0.2989 R + 0.587 G + 0.114 B (torchvision's rgb_to_grayscale) on
  all three channels.
- `edges`: black Canny edges on white, as Geirhos' edge set (Canny's edge detector on the
  image, inverted). OpenCV's Canny on the greyscale image blurred by a Gaussian of sigma
  sqrt(2), with MATLAB edge(I, 'canny')'s automatic thresholds (the set Geirhos made with
  MATLAB): high = the 70th percentile of the Sobel gradient magnitude of the image, low = 0.4
  high. An image without gradient is all white.
- `silhouette`: a two-tone image, black object on white as Geirhos' silhouettes, made by
  thresholding the greyscale image at its Otsu threshold; the side that holds the majority
  of the image's border pixels is the background and goes white, the other side black.
  Geirhos' silhouettes are drawn by hand; this is a heuristic stand-in.
- `amplitude_swap`: a texture/colour swap in the place of Geirhos' stylised set (AdaIN
  style transfer needs a pretrained VGG that cannot be had offline): every channel keeps the
  Fourier phase of its image (where its edges and shapes are) and takes the Fourier
  amplitude of a partner image of another class (its colours, contrast and the energy of
  every spatial frequency; Oppenheim & Lim 1981 on the importance of phase; Yang & Soatto's
  FDA 2020 swaps the low frequencies only), clipped to [0, 255]. The partner of image i is
  the first image after i, in a permutation drawn from `seed`, whose label differs.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

# Geirhos' name of each domain beside ours (the stylised and cue-conflict sets have no build
# here: `amplitude_swap` stands in for the stylised one)
GEIRHOS = {"greyscale": "greyscale", "edges": "edge", "silhouette": "silhouette",
           "amplitude_swap": "stylized (stand-in)"}


def _check(images: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"the domains take uint8 RGB images (N, 3, H, W), got {images.dtype} "
                         f"{tuple(images.shape)}")


def _luma(images: torch.Tensor) -> np.ndarray:
    """(N, H, W) uint8 greyscale."""
    x = images.double()
    grey = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    return grey.round().clamp(0, 255).to(torch.uint8).numpy()


def _three(grey: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(grey)).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def greyscale(images: torch.Tensor) -> torch.Tensor:
    """The luma of every image on its three channels."""
    _check(images)
    return _three(_luma(images))


def edges(images: torch.Tensor) -> torch.Tensor:
    """Black Canny edges on a white ground (see the module's docstring for the thresholds)."""
    import cv2
    _check(images)
    out = []
    for grey in _luma(images):
        blurred = cv2.GaussianBlur(grey, (0, 0), np.sqrt(2))
        gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
        high = float(np.percentile(np.hypot(gx, gy), 70))
        found = cv2.Canny(blurred, 0.4 * high, high, L2gradient=True) if high > 0 else np.zeros_like(grey)
        out.append(np.where(found > 0, 0, 255).astype(np.uint8))
    return _three(np.stack(out))


def silhouette(images: torch.Tensor) -> torch.Tensor:
    """Black object on white: the greyscale image binarised at its Otsu threshold, the side
    that holds the majority of the border pixels white (the background), the other black."""
    import cv2
    _check(images)
    out = []
    for grey in _luma(images):
        _, bright = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        border = np.concatenate([bright[0], bright[-1], bright[1:-1, 0], bright[1:-1, -1]])
        obj = 1 - bright if border.mean() > 0.5 else bright
        out.append(np.where(obj > 0, 0, 255).astype(np.uint8))
    return _three(np.stack(out))


def partners(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """For every image, the index of its texture partner: in a permutation drawn from `seed`,
    the first image after it (cyclically) whose label differs from its own."""
    n = len(labels)
    if n < 2 or len(torch.unique(labels)) < 2:
        raise ValueError("the texture swap needs images of at least two classes")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    ordered = labels[order].tolist()
    # walking backwards around the circle twice: the next position whose label differs
    following, nxt = [0] * n, None
    for p in reversed(range(2 * n)):
        q = p % n
        if p < 2 * n - 1 and ordered[(p + 1) % n] != ordered[q]:
            nxt = (p + 1) % n
        if p < n:
            following[q] = nxt
    out = torch.empty(n, dtype=torch.long)
    out[torch.tensor(order)] = torch.tensor([order[following[p]] for p in range(n)])
    return out


def amplitude_swap(images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Every image's Fourier phase with its partner's Fourier amplitude, channel by channel
    (`partners`), back in uint8 (rounded, clipped to [0, 255])."""
    _check(images)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return swap_amplitude(images.double(), partners(labels, seed)).round().clamp(0, 255).to(torch.uint8)


def swap_amplitude(x: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
    """The real images whose 2-D Fourier transform has, channel by channel, the phase of
    x[i] and the amplitude of x[partner[i]] (before any rounding or clipping)."""
    spectrum = torch.fft.fft2(x)
    return torch.fft.ifft2(spectrum.abs()[partner] * torch.exp(1j * spectrum.angle())).real


BUILDERS: dict[str, Callable] = {
    "greyscale": lambda data, seed: greyscale(data.images),
    "edges": lambda data, seed: edges(data.images),
    "silhouette": lambda data, seed: silhouette(data.images),
    "amplitude_swap": lambda data, seed: amplitude_swap(data.images, data.labels, seed),
}
DOMAINS = tuple(BUILDERS)


def build(name: str, data, seed: int = 0):
    """The kd Dataset `data` (a CIFAR test split) turned into domain `name` (one of
    `DOMAINS`), labels and normalisation kept."""
    if name not in BUILDERS:
        raise ValueError(f"domain={name!r} is unknown; allowed: {', '.join(DOMAINS)}")
    return replace(data, images=BUILDERS[name](data, seed))
