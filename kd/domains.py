"""The three MNIST domains of Ojha et al. 2023, sec. 5.1, and their union (the teacher's data).

- **mnist-orig**: the MNIST digits, grey, replicated to 3 channels.
- **mnist-color**: the background of each image coloured at random. The paper does not say
  how; here the colour c of image i is uniform over the RGB cube {0..255}^3, a seeded hash of
  (split, i), and the digit stays white: pixel = m * 255 + (1 - m) * c, with m = x / 255 the
  MNIST grey level (anti-aliased edges blend into the colour).
- **mnist-m**, built as Ganin et al. 2016 (JMLR, sec. 5.1.1) build MNIST-M, after the
  widely used reconstruction `create_mnistm.py` of pumpikano/tf-dann: the digit is
  binarised (d = 255 where x > 0, else 0, on all 3 channels) and the image is |p - d| for a
  28x28 patch p of a natural colour image. BSDS500 is not available offline, so the patches
  are random 28x28 crops (offsets 0..4 each way) of CIFAR-10 *training* images (for both
  splits, as Ganin's come from BSDS500's training images for both); which image and which
  offset are a seeded hash of (split, i).
- **mnist-3domains**: the three, interleaved image by image (image 3i + k is image i of
  domain k, in the order above; train: 180,000 images, test: 30,000), the teacher's
  training set. Interleaved, any subset of it (`per_class`) holds all three domains.

Every image is a pure function of (DOMAIN_SEED, split, index): no generator state, so a
subset or a re-build gives the same pixels. Each domain keeps MNIST's train/test split and
labels. The builders take a few seconds and keep the arrays in memory only (kd.data.load
caches them per process), loaded through the same uint8 path as every other dataset.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .data import load, register_reader

DOMAIN_SEED = 0
DOMAINS = ("mnist-orig", "mnist-color", "mnist-m")
UNION = "mnist-3domains"
# a dataset a teacher trained on -> the datasets it may distil into (kd.config checks this)
PARTS = {UNION: DOMAINS}
CROP = 28
_SPLITS = {"train": 1, "test": 2}
_STREAMS = {"mnist-color": 1, "mnist-m": 2}


# ---------------------------------------------------------------------------- seeded hash

def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele et al. 2014) on uint64 arrays, wrapping on overflow."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def index_hash(index: np.ndarray, domain: str, split: str, seed: int = DOMAIN_SEED) -> np.ndarray:
    """64 random bits for each image index: a function of (seed, domain, split, index) alone."""
    key = _splitmix64(np.array([seed * 1_000_003 + _STREAMS[domain] * 101 + _SPLITS[split]],
                               dtype=np.uint64))
    return _splitmix64(np.asarray(index, dtype=np.uint64) ^ key)


def background_colours(n: int, split: str, seed: int = DOMAIN_SEED) -> np.ndarray:
    """(n, 3) uint8: MNIST-Color's background colour of images 0..n-1, uniform over RGB."""
    h = index_hash(np.arange(n), "mnist-color", split, seed)
    return np.stack([(h >> np.uint64(8 * k)) & np.uint64(255) for k in range(3)], 1).astype(np.uint8)


def patch_choice(n: int, n_backgrounds: int, split: str, size: int = 32,
                 seed: int = DOMAIN_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-M's background of images 0..n-1: the background image's index and the crop's
    row and column offsets (0..size-28), each from its own bits of the image's hash."""
    h = index_hash(np.arange(n), "mnist-m", split, seed)
    span = np.uint64(size - CROP + 1)
    which = (h % np.uint64(n_backgrounds)).astype(np.int64)
    dy = ((h >> np.uint64(32)) % span).astype(np.int64)
    dx = ((h >> np.uint64(48)) % span).astype(np.int64)
    return which, dy, dx


# ---------------------------------------------------------------------------- composition

def grey_to_rgb(digits: np.ndarray) -> np.ndarray:
    """(N, 1 or none, H, W) uint8 grey -> (N, 3, H, W) uint8, the grey on every channel."""
    digits = digits.reshape(len(digits), 1, *digits.shape[-2:])
    return np.repeat(digits, 3, axis=1)


def colour_background(digits: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """m * 255 + (1 - m) * c per channel, m = digit / 255, rounded: a white digit on colour c.
    In integers, (255 x + (255 - x) c) / 255 rounded (never a tie: 255 is odd)."""
    x = digits.reshape(len(digits), 1, *digits.shape[-2:]).astype(np.int32)
    c = colours.astype(np.int32)[:, :, None, None]
    return ((255 * x + (255 - x) * c + 127) // 255).astype(np.uint8)


def difference_blend(digits: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """Ganin's MNIST-M: |patch - binarised digit|, the digit 255 where the grey is > 0."""
    d = np.where(grey_to_rgb(digits) > 0, 255, 0).astype(np.int16)
    return np.abs(patches.astype(np.int16) - d).astype(np.uint8)


def crop_patches(backgrounds: np.ndarray, which: np.ndarray, dy: np.ndarray,
                 dx: np.ndarray) -> np.ndarray:
    """(N, C, 28, 28): backgrounds[which[i]] cropped at rows dy[i].., columns dx[i]..."""
    rows = dy[:, None] + np.arange(CROP)
    cols = dx[:, None] + np.arange(CROP)
    return backgrounds[which[:, None, None, None], np.arange(backgrounds.shape[1])[None, :, None, None],
                       rows[:, None, :, None], cols[:, None, None, :]]


# ---------------------------------------------------------------------------- the datasets

def build(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 3 x 28 x 28, labels) of a domain (or the union) for a split."""
    if name == UNION:
        parts = [load(d, split) for d in DOMAINS]        # each built once per process
        images = np.stack([p.images.numpy() for p in parts], axis=1)       # (N, 3 domains, C, H, W)
        labels = np.stack([p.labels.numpy() for p in parts], axis=1)
        return images.reshape(-1, *images.shape[2:]), labels.reshape(-1)
    mnist = load("mnist", split)
    digits, labels = mnist.images.numpy(), mnist.labels.numpy()
    if name == "mnist-orig":
        return grey_to_rgb(digits), labels
    out = np.empty((len(digits), 3, CROP, CROP), np.uint8)
    if name == "mnist-color":
        colours = background_colours(len(digits), split)
        for s in (slice(i, i + 10_000) for i in range(0, len(digits), 10_000)):
            out[s] = colour_background(digits[s], colours[s])
        return out, labels
    if name == "mnist-m":
        backgrounds = load("cifar10", "train").images.numpy()
        which, dy, dx = patch_choice(len(digits), len(backgrounds), split, backgrounds.shape[-1])
        for s in (slice(i, i + 10_000) for i in range(0, len(digits), 10_000)):
            out[s] = difference_blend(digits[s], crop_patches(backgrounds, which[s], dy[s], dx[s]))
        return out, labels
    raise ValueError(f"{name!r} is not an MNIST domain; allowed: {', '.join(DOMAINS + (UNION,))}")


for _name in DOMAINS + (UNION,):     # kd.data.load reads the domains through these
    register_reader(_name, functools.partial(build, _name))
