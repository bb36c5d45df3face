"""Groups for Ojha et al. 2023, sec. 5.2 (notebook 55): MNIST digits in seven renderings, each
rendering a group, standing in for FairFace's seven race groups; the label is the digit's
parity, standing in for gender.

The paper trains a ResNet20 teacher on a subset D_t of FairFace's training split composed so
that the teacher is unfair to one race (none of Race 3's faces), and ResNet20 students on a
subset D_s composed so that a student trained on it alone is fair (Race 3 the most of all),
and classifies gender. FairFace is not available offline (torchvision does not ship it). Here:

- **The label** is the digit's parity (0 even, 1 odd): a binary label like the paper's gender,
  shared by all groups. Every group of every set holds the same number of images of each
  digit, so each group is balanced in the label (and in the digit): the group alone cannot
  predict it.
- **The groups** are seven renderings of the digit (`GROUPS`, in the order that plays the
  paper's Race 1 ... Race 7), each a pure function of (GROUP_SEED, group, split, MNIST index):
  1. `grey`: MNIST's grey digit on every channel (kd.domains' MNIST-Orig).
  2. `colour-digit`: the digit drawn in a colour c on black, pixel = x c / 255 rounded, each
     channel of c uniform in 64..255 (so that no digit fades into the black).
  3. `patch`: the white digit laid over a 28x28 crop p of a CIFAR-10 training image,
     x + (1 - x/255) p rounded (MNIST-M as Ojha et al. describe it in words, "digits pasted
     on random natural image patches"; the crops are chosen as kd.domains chooses MNIST-M's).
     The group in Race 3's role: D_t holds none of it.
  4. `colour-bg`: kd.domains' MNIST-Color: the white digit on a background colour uniform
     over the RGB cube.
  5. `dim`: the grey digit at half its brightness, x / 2 rounded down (faded ink).
  6. `noise`: the white digit over grey noise, x + (1 - x/255) u, u uniform in 0..127 at
     every pixel (the same on the three channels).
  7. `inverted`: the black digit on white, 255 - x on every channel.
  FairFace's races are about equally hard for a model that sees enough of each (the paper's
  fair student: 64-69%), so every rendering keeps the digit about as readable as MNIST's own
  (the digit is the brightest thing in the image, or the darkest in `inverted`). Ganin et
  al.'s MNIST-M (kd.domains' |patch - digit|) is left out: its strokes take the patch's own
  colours, inverted, and often fade into it, so it is harder to read than the others by the
  rendering itself, and a student would be unfair to it through the rendering, not the data.
- **The compositions** are the paper's (appendix, Table 14), image for image: D_t 4,000
  images of each group but the third (none), 24,000 in all; D_s 600, 50, 2,000, 200, 0, 200
  and 800 images of groups 1-7, 3,850 in all. Each group's images are `count / 10` of each
  digit. No MNIST image appears twice: the first 2,400 training images of each digit (in
  MNIST's order) make D_t, 400 a group in the order of GROUPS; the next 385 make D_s.
- **The test split**, shared by both sets, is the first `TEST_PER_DIGIT` test images of each
  digit rendered in all seven groups, interleaved (image 7 i + g is digit i in group g): each
  group the same digits, so that groups differ in the rendering alone.

`TEACHER_SET` ("mnist-groups-dt") and `STUDENT_SET` ("mnist-groups-ds") load through kd.data
like every dataset (uint8, built once per process); a teacher of D_t may distil into D_s
(kd.domains.PARTS). Normalised with MNIST's mean and std on every channel, as kd.domains.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .data import load, register_reader
from .domains import CROP, PARTS, _splitmix64, colour_background, crop_patches, grey_to_rgb

GROUP_SEED = 0
GROUPS = ("grey", "colour-digit", "patch", "colour-bg", "dim", "noise", "inverted")
TEACHER_SET, STUDENT_SET = "mnist-groups-dt", "mnist-groups-ds"
SETS = (TEACHER_SET, STUDENT_SET)
# Ojha et al.'s appendix, Table 14: FairFace training images of Race 1 ... Race 7 in each set
PAPER_COUNTS = {TEACHER_SET: (4000, 4000, 0, 4000, 4000, 4000, 4000),
                STUDENT_SET: (600, 50, 2000, 200, 0, 200, 800)}
COUNTS = dict(PAPER_COUNTS)           # ours: the same numbers of images, group for group
DIGITS = 10
TEST_PER_DIGIT = 500                  # 5,000 digits a group, 35,000 test images
LABELS = ("even", "odd")
_SPLITS = {"train": 1, "test": 2}


def parity(digits: np.ndarray) -> np.ndarray:
    """The label: 0 for an even digit, 1 for an odd one (the paper's binary gender label)."""
    return (np.asarray(digits) % 2).astype(np.int64)


# ---------------------------------------------------------------------------- renderings

def group_hash(index: np.ndarray, group: str, split: str, seed: int = GROUP_SEED) -> np.ndarray:
    """64 random bits for each MNIST index: a function of (seed, group, split, index) alone,
    a stream of its own for every group (kd.domains' streams are 1 and 2; these 11-17)."""
    stream = 11 + GROUPS.index(group)
    key = _splitmix64(np.array([seed * 1_000_003 + stream * 101 + _SPLITS[split]], dtype=np.uint64))
    return _splitmix64(np.asarray(index, dtype=np.uint64) ^ key)


def _bytes(h: np.ndarray, k: int) -> np.ndarray:
    return ((h >> np.uint64(8 * k)) & np.uint64(255)).astype(np.int32)


def digit_colours(index: np.ndarray, split: str, seed: int = GROUP_SEED) -> np.ndarray:
    """(N, 3) uint8: the colour-digit group's colour of each index, each channel 64..255."""
    h = group_hash(index, "colour-digit", split, seed)
    return np.stack([64 + _bytes(h, k) * 192 // 256 for k in range(3)], 1).astype(np.uint8)


def background_colours(index: np.ndarray, split: str, seed: int = GROUP_SEED) -> np.ndarray:
    """(N, 3) uint8: the colour-bg group's background colour, uniform over the RGB cube."""
    h = group_hash(index, "colour-bg", split, seed)
    return np.stack([_bytes(h, k) for k in range(3)], 1).astype(np.uint8)


NOISE_MAX = 127


def noise_backgrounds(index: np.ndarray, split: str, seed: int = GROUP_SEED) -> np.ndarray:
    """(N, 3, 28, 28) uint8: the noise group's background, every pixel uniform in
    0..NOISE_MAX (one hash per pixel of each index), the same on the three channels."""
    h = group_hash(index, "noise", split, seed)
    pixels = _splitmix64(h[:, None] ^ np.arange(CROP * CROP, dtype=np.uint64)[None, :])
    grey = (pixels % np.uint64(NOISE_MAX + 1)).astype(np.uint8).reshape(-1, 1, CROP, CROP)
    return np.repeat(grey, 3, axis=1)


def patch_choice(index: np.ndarray, split: str, n_backgrounds: int, size: int = 32,
                 seed: int = GROUP_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The natural-image patch of each index for the patch group: which CIFAR-10 training
    image, and the crop's row and column offsets (0..size-28), as kd.domains chooses them."""
    h = group_hash(index, "patch", split, seed)
    span = np.uint64(size - CROP + 1)
    which = (h % np.uint64(n_backgrounds)).astype(np.int64)
    dy = ((h >> np.uint64(32)) % span).astype(np.int64)
    dx = ((h >> np.uint64(48)) % span).astype(np.int64)
    return which, dy, dx


def white_over(digits: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """The white digit over a background, x + (1 - x/255) b per pixel and channel, rounded
    (kd.domains.colour_background's blend with a background image instead of a colour)."""
    x = digits.reshape(len(digits), 1, *digits.shape[-2:]).astype(np.int32)
    return ((255 * x + (255 - x) * backgrounds.astype(np.int32) + 127) // 255).astype(np.uint8)


def coloured_digit(digits: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The digit in colour c on black: x c / 255 per channel, rounded."""
    x = digits.reshape(len(digits), 1, *digits.shape[-2:]).astype(np.int32)
    return ((x * colours.astype(np.int32)[:, :, None, None] + 127) // 255).astype(np.uint8)


def render(group: str, digits: np.ndarray, index: np.ndarray, split: str, seed: int = GROUP_SEED) -> np.ndarray:
    """(N, 3, 28, 28) uint8: MNIST grey digits (N, 28, 28) of MNIST indices `index` in `split`
    drawn as `group` (one of GROUPS)."""
    if group not in GROUPS:
        raise ValueError(f"group={group!r} is not one of {', '.join(GROUPS)}")
    digits, index = np.asarray(digits, np.uint8), np.asarray(index)
    if len(digits) != len(index):
        raise ValueError(f"{len(digits)} digits but {len(index)} indices")
    if group == "grey":
        return grey_to_rgb(digits)
    if group == "inverted":
        return 255 - grey_to_rgb(digits)
    if group == "dim":
        return grey_to_rgb(digits // 2)
    if group == "colour-digit":
        return coloured_digit(digits, digit_colours(index, split, seed))
    if group == "colour-bg":
        return colour_background(digits, background_colours(index, split, seed))
    if group == "noise":
        return white_over(digits, noise_backgrounds(index, split, seed))
    backgrounds = load("cifar10", "train").images.numpy()         # patch
    patches = crop_patches(backgrounds, *patch_choice(index, split, len(backgrounds), backgrounds.shape[-1], seed))
    return white_over(digits, patches)


# ---------------------------------------------------------------------------- compositions

def digit_indices(digits: np.ndarray) -> list[np.ndarray]:
    """The MNIST indices of each digit 0-9, in MNIST's order."""
    return [np.flatnonzero(digits == d) for d in range(DIGITS)]


def composition(name: str, mnist_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(MNIST training indices, group numbers 0-6) of the images of set `name`, in the order
    the set holds them (a fixed seeded shuffle, so that any prefix mixes the groups). Per
    digit, D_t takes the first COUNTS[D_t][g] / 10 indices for each group g in turn, D_s the
    next ones: no index is used twice."""
    if name not in SETS:
        raise ValueError(f"{name!r} is not a group set; allowed: {', '.join(SETS)}")
    index, group = [], []
    for per_digit in digit_indices(np.asarray(mnist_labels)):
        start = 0
        for s in SETS:
            for g, n in enumerate(COUNTS[s]):
                take = per_digit[start:start + n // DIGITS]
                start += n // DIGITS
                if s == name:
                    index.append(take)
                    group.append(np.full(len(take), g))
        if start > len(per_digit):
            raise ValueError(f"the compositions need {start} images of a digit; MNIST has {len(per_digit)}")
    index, group = np.concatenate(index), np.concatenate(group)
    order = np.argsort(_splitmix64((index * len(GROUPS) + group).astype(np.uint64)), kind="stable")
    return index[order], group[order]


def test_digits(mnist_labels: np.ndarray) -> np.ndarray:
    """The MNIST test indices the test split renders: the first TEST_PER_DIGIT of each digit,
    in MNIST's order."""
    return np.sort(np.concatenate([i[:TEST_PER_DIGIT] for i in digit_indices(np.asarray(mnist_labels))]))


def test_groups(n: int | None = None) -> torch.Tensor:
    """The group number (0-6) of each of the first `n` test images (all: None)."""
    total = DIGITS * TEST_PER_DIGIT * len(GROUPS)
    return torch.arange(total if n is None else n) % len(GROUPS)


def counts(groups: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """(7, 2) array: images of each group (rows, GROUPS' order) with each label (columns)."""
    table = np.zeros((len(GROUPS), len(LABELS)), np.int64)
    np.add.at(table, (np.asarray(groups), np.asarray(labels)), 1)
    return table


def build(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 3 x 28 x 28, parity labels) of set `name`: its composition of the
    training split, or the shared test split (every group, interleaved)."""
    if name not in SETS:
        raise ValueError(f"{name!r} is not a group set; allowed: {', '.join(SETS)}")
    mnist = load("mnist", split)
    digits, labels = mnist.images.numpy()[:, 0], mnist.labels.numpy()
    if split == "train":
        index, group = composition(name, labels)
        out = np.empty((len(index), 3, CROP, CROP), np.uint8)
        for g, name_g in enumerate(GROUPS):
            mine = np.flatnonzero(group == g)
            if len(mine):
                out[mine] = render(name_g, digits[index[mine]], index[mine], split)
        return out, parity(labels[index])
    index = test_digits(labels)
    out = np.empty((len(index), len(GROUPS), 3, CROP, CROP), np.uint8)
    for g, name_g in enumerate(GROUPS):
        out[:, g] = render(name_g, digits[index], index, split)
    return out.reshape(-1, 3, CROP, CROP), np.repeat(parity(labels[index]), len(GROUPS))


# ---------------------------------------------------------------------------- fairness

def group_accuracy(correct: torch.Tensor, groups: torch.Tensor) -> list[float]:
    """Accuracy (%) within each group: `correct` (bool, one per test image) averaged over the
    images of each group 0-6 (in GROUPS' order)."""
    correct, groups = correct.float().cpu(), groups.cpu()
    if len(correct) != len(groups):
        raise ValueError(f"{len(correct)} predictions but {len(groups)} group numbers")
    return [100.0 * correct[groups == g].mean().item() for g in range(len(GROUPS))]


def fairness_gap(accuracies: list[float]) -> float:
    """The fairness gap: the largest minus the smallest group accuracy (points)."""
    return max(accuracies) - min(accuracies)


PARTS[TEACHER_SET] = (STUDENT_SET,)   # a teacher of D_t distils on D_s (kd.config checks this)
for _name in SETS:                    # kd.data.load reads the sets through these
    register_reader(_name, functools.partial(build, _name), num_classes=len(LABELS))
