"""Datasets as uint8 tensors, the dataset transforms the studies need, and an on-device loader.

Images are stored as uint8 N x C x H x W and loaded once per process. CIFAR-10 resolves to
the official files when they are under `data/` and to the offline JPEG quality-75 copy
otherwise; `Dataset.source` records which, and every result file carries it.

Command line (used by `make data`):  python -m kd data [--mirror DIR] [--download] [names]
"""
from __future__ import annotations

import functools
import gzip
import pickle
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import paths
from .checksums import DatasetCorrupt, verify_arrays, verify_file

DATASETS = ("mnist", "cifar10", "cifar100", "cifar100-synthetic",
            "mnist-orig", "mnist-color", "mnist-m", "mnist-3domains",     # these four: kd.domains
            "mnist-groups-dt", "mnist-groups-ds")     # these two: kd.groups (Ojha 5.2, notebook 55)
# "crop_flip": random 32x32 crop of the 4-pixel reflect-padded image and horizontal flip (CIFAR);
# "jitter": a random shift of up to 2 pixels each way, zero-filled, no flip (Hinton et al.
# 2015's MNIST teacher); "crop_flip_colour": crop_flip, then colour jitter drawn per image,
# torchvision's ColorJitter(0.4, 0.4, 0.4, 0.2) (Ojha et al. 2023 sec. 4.3's colour-invariant teacher);
# "crop_flip_mixup": crop_flip, then mixup of the inputs alone (Zhang et al. 2018), one
# lam ~ Beta(1, 1) per batch and a random partner for every image, as Stanton et al. 2021's
# distillation loader mixes (gnosis `mixup_data`, `distill_loader.mixup_alpha=1`): the teacher
# and the student both see the mixed images, the labels are left as they were
AUGMENTATIONS = ("none", "crop_flip", "jitter", "crop_flip_colour", "crop_flip_mixup")
COLOUR_JITTER = (0.4, 0.4, 0.4, 0.2)      # brightness, contrast, saturation, hue of "crop_flip_colour"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    # Ojha's MNIST domains: MNIST's statistics on every channel, one input space for all four
    **{name: ((0.1307,) * 3, (0.3081,) * 3)
       for name in ("mnist-orig", "mnist-color", "mnist-m", "mnist-3domains",
                    "mnist-groups-dt", "mnist-groups-ds")},
}


class DatasetMissing(FileNotFoundError):
    """A dataset is not under data/; the message names it and both ways to get it."""


@dataclass(frozen=True)
class Dataset:
    images: torch.Tensor          # uint8, N x C x H x W
    labels: torch.Tensor          # int64, N
    num_classes: int
    source: str                   # "mnist", "cifar10", "cifar10-jpeg75", "cifar100", ...
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "Dataset":
        return replace(self, images=self.images[index], labels=self.labels[index])


def _missing(name: str, looked_for: Path) -> DatasetMissing:
    return DatasetMissing(
        f"{name} is not under {paths.data_dir()} (looked for {looked_for}). Get it with "
        f"`make data` (restores the offline mirror, DATA_MIRROR=../shared/data, when present) "
        f"or `python -m kd data --download {name}` (torchvision's download).")


# ---------------------------------------------------------------------------- readers

def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (plain or .gz), checked against the official md5 before it is parsed."""
    raw = path.read_bytes()
    verify_file(path, raw)
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _idx_file(raw: Path, name: str) -> Path:
    """The decompressed IDX file when present, else its .gz; DatasetMissing names it."""
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise _missing("mnist", raw / name)


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    raw = paths.data_dir() / "MNIST" / "raw"
    stem = "train" if split == "train" else "t10k"
    images = _read_idx(_idx_file(raw, f"{stem}-images-idx3-ubyte"))
    labels = _read_idx(_idx_file(raw, f"{stem}-labels-idx1-ubyte"))
    return images[:, None], labels


def _cifar_pickles(folder: Path, files: list[str], label_key: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for file in files:
        if not (folder / file).exists():
            raise _missing(name, folder / file)
        content = (folder / file).read_bytes()
        verify_file(folder / file, content)
        batch = pickle.loads(content, encoding="latin1")
        images.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[label_key]))
    return np.concatenate(images), np.concatenate(labels)


def cifar10_source() -> str:
    """'cifar10' (official files) when present, else 'cifar10-jpeg75' (the offline copy)."""
    if (paths.data_dir() / "cifar-10-batches-py" / "test_batch").exists():
        return "cifar10"
    if (paths.data_dir() / "cifar10-jpeg75" / "test.npz").exists():
        return "cifar10-jpeg75"
    raise _missing("cifar10", paths.data_dir() / "cifar-10-batches-py")


def _cifar10(split: str) -> tuple[np.ndarray, np.ndarray]:
    if cifar10_source() == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        return _cifar_pickles(paths.data_dir() / "cifar-10-batches-py", files, "labels", "cifar10")
    path = paths.data_dir() / "cifar10-jpeg75" / f"{split}.npz"
    if not path.exists():
        raise _missing("cifar10", path)
    try:
        with np.load(path) as z:
            arrays = {name: z[name] for name in ("images", "labels") if name in z.files}
    except Exception as e:      # not a readable npz at all (BadZipFile, OSError, ValueError, ...)
        raise DatasetCorrupt(f"{path} cannot be read as an npz ({type(e).__name__}: {e}). "
                             f"Restore it with `make data` from the project root.") from e
    verify_arrays(path, arrays)
    return arrays["images"].transpose(0, 3, 1, 2), arrays["labels"]


def _cifar100(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = paths.data_dir() / "cifar-100-python"
    if not (folder / "test").exists():
        raise _missing("cifar100", folder)
    return _cifar_pickles(folder, [split], "fine_labels", "cifar100")


def _cifar100_synthetic(split: str) -> tuple[np.ndarray, np.ndarray]:
    """A learnable stand-in with CIFAR-100's shape (3x32x32, 100 classes) for tests:
    each class is a fixed random low-frequency pattern plus per-image noise."""
    n_per_class = 50 if split == "train" else 10
    g = torch.Generator().manual_seed(100)
    prototypes = F.interpolate(torch.rand(100, 3, 4, 4, generator=g), size=32, mode="bilinear")
    g.manual_seed(1 if split == "train" else 2)
    labels = torch.arange(100).repeat_interleave(n_per_class)
    noise = 0.25 * torch.randn(len(labels), 3, 32, 32, generator=g)
    images = ((prototypes[labels] + noise).clamp(0, 1) * 255).round().to(torch.uint8)
    return images.numpy(), labels.numpy()


_READERS = {"mnist": _mnist, "cifar10": _cifar10, "cifar100": _cifar100,
            "cifar100-synthetic": _cifar100_synthetic}
_NUM_CLASSES: dict[str, int] = {}      # datasets registered with another number of classes


def register_reader(name: str, read, num_classes: int | None = None) -> None:
    """Make `load(name, split)` read with `read(split) -> (images, labels)`: how datasets
    built above this module (Ojha's MNIST domains, kd.domains; notebook 55's groups, kd.groups)
    join the registry without kd.data importing them. `num_classes`: its number of classes
    when not 10 (kd.groups' parity label: 2)."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is not in kd.data.DATASETS; add it there first")
    _READERS[name] = read
    if num_classes is not None:       # else 10 (100 for cifar100*)
        _NUM_CLASSES[name] = num_classes


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, split: str, source: str, folder: str) -> Dataset:
    if name not in _READERS:          # the MNIST domains register when kd.domains is imported (kd does)
        raise ValueError(f"dataset={name!r} has no reader yet: import kd.domains (importing kd does)")
    images, labels = _READERS[name](split)
    mean, std = MEAN_STD["cifar100" if name.startswith("cifar100") else name]
    return Dataset(torch.from_numpy(np.ascontiguousarray(images)),
                   torch.from_numpy(labels.astype(np.int64)),
                   num_classes=_NUM_CLASSES.get(name, 100 if name.startswith("cifar100") else 10),
                   source=source, mean=mean, std=std)


def source_of(name: str) -> str:
    """The concrete data a dataset name resolves to here (recorded in every result)."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    if name in ("mnist-m", "mnist-3domains", "mnist-groups-dt", "mnist-groups-ds"):   # CIFAR-10 crops inside
        return f"{name}+{cifar10_source()}"
    return cifar10_source() if name == "cifar10" else name


def load(name: str, split: str = "train") -> Dataset:
    """The whole split of a dataset as uint8 tensors, read from disk once per process and
    checked against the known checksums (kd.checksums): a modified or truncated file raises
    DatasetCorrupt, a missing one DatasetMissing, each naming the file and the fix."""
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} is unknown; allowed: train, test")
    return _load_cached(name, split, source_of(name), str(paths.data_dir()))


# ---------------------------------------------------------------------------- transforms

def first_per_class(labels: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    """Indices of the first `n` images of every class, in dataset order (gupta: 500 a class)."""
    return first_counts(labels, [n] * num_classes)


def first_counts(labels: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Indices of the first counts[c] images of class c, in dataset order."""
    keep = torch.zeros(len(labels), dtype=torch.bool)
    for c, n in enumerate(counts):
        keep[torch.nonzero(labels == c).flatten()[:n]] = True
    return torch.nonzero(keep).flatten()


def without_classes(labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """Indices of the images whose class is not in `classes` (zhang Table 2's omitted digit)."""
    return torch.nonzero(~torch.isin(labels, torch.tensor(classes, dtype=labels.dtype))).flatten()


def power_law_counts(num_classes: int, gamma: float, largest: int = 5000,
                     smallest: int = 250) -> list[int]:
    """Images per class under sarfraz IV-C's power law, n_c = floor(a / (b + (c-1)^gamma)).

    The paper prints the exponent as -gamma, which gives class 1 no images at all; with
    +gamma and (a, b) solved so that n_1 = `largest` and n_C = `smallest`, the counts fall
    from 5000 to 250 and the data grow with gamma, as the paper's teacher accuracies do.
    """
    b = smallest * (num_classes - 1) ** gamma / (largest - smallest)
    a = largest * b
    return [int(np.floor(a / (b + (c - 1) ** gamma) + 1e-9)) for c in range(1, num_classes + 1)]


def uniform_label_noise(labels: torch.Tensor, rate: float, num_classes: int,
                        generator: torch.Generator) -> torch.Tensor:
    """With probability `rate` replace each label by a class drawn uniformly from all classes
    (sarfraz IV-B, after [28]); the draw may give back the true class."""
    corrupt = torch.rand(len(labels), generator=generator) < rate
    random = torch.randint(0, num_classes, (len(labels),), generator=generator)
    return torch.where(corrupt, random, labels)


# ---------------------------------------------------------------------------- device loader

class Batch(NamedTuple):
    images: torch.Tensor    # float, normalised, on the device
    labels: torch.Tensor    # int64, on the device
    index: torch.Tensor     # positions of these images in the loader's dataset


def crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator, flip: bool = True,
              mode: str = "reflect") -> torch.Tensor:
    """Random crop after padding (`mode` "reflect" or "constant" zeros) and, with `flip`,
    random horizontal flip, for a whole batch at once: one gather whose row/column indices
    carry each image's offset and flip."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode=mode)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)
    cols = dx[:, None] + torch.arange(w, device=x.device)
    if flip:
        flips = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    return padded[torch.arange(b, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def _grey(x: torch.Tensor) -> torch.Tensor:
    """The luma of RGB images in [0, 1], (..., 1, H, W): torchvision's rgb_to_grayscale weights."""
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (factor * x + (1.0 - factor) * other).clamp(0.0, 1.0)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Every pixel's hue rotated by `shift` (a fraction of the circle), as torchvision's
    adjust_hue does: RGB -> HSV by its _rgb2hsv's rule (hue from the largest channel, red
    first, then green; 0 for grey pixels), hue + shift mod 1, HSV -> RGB by the closed form
    f(n) = v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6, n = 5, 3, 1 (the same
    values as torchvision's six-sector _hsv2rgb to float rounding, which it computes with an
    einsum about 20x slower on the CPU)."""
    r, g, b = x.unbind(dim=-3)
    v, low = x.amax(dim=-3), x.amin(dim=-3)
    spread = v - low
    grey = spread == 0
    s = spread / torch.where(grey, torch.ones_like(v), v)
    spread = torch.where(grey, torch.ones_like(spread), spread)
    red = v == r
    green = (v == g) & ~red
    h = torch.where(red, (g - b) / spread, torch.where(green, (b - r) / spread + 2.0, (r - g) / spread + 4.0))
    h = (h / 6.0 + shift.view(-1, 1, 1)) % 1.0
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device).view(1, 3, 1, 1) + 6.0 * h.unsqueeze(-3)) % 6.0
    return v.unsqueeze(-3) - (v * s).unsqueeze(-3) * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


# the four operations of ColorJitter in torchvision's numbering of fn_idx, each on a batch of
# [0, 1] images with one factor per image (torchvision.transforms._functional_tensor's
# adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
_COLOUR_OPS = (
    lambda x, f: _blend(x, torch.zeros_like(x), f.view(-1, 1, 1, 1)),
    lambda x, f: _blend(x, _grey(x).mean(dim=(-3, -2, -1), keepdim=True), f.view(-1, 1, 1, 1)),
    lambda x, f: _blend(x, _grey(x), f.view(-1, 1, 1, 1)),
    _hue,
)


def colour_jitter_params(n: int, generator: torch.Generator, brightness: float = 0.4,
                         contrast: float = 0.4, saturation: float = 0.4,
                         hue: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """ColorJitter's random parameters for `n` images, drawn from `generator` (torchvision's
    ColorJitter.get_params, once per image instead of once per call): (factors (n, 4): the
    brightness, contrast and saturation factors uniform in [max(0, 1 - s), 1 + s] and the hue
    shift uniform in [-hue, hue]; order (n, 4): each image's random permutation of the four
    operations, torchvision's fn_idx)."""
    for name, value, top in (("brightness", brightness, None), ("contrast", contrast, None),
                             ("saturation", saturation, None), ("hue", hue, 0.5)):
        if not (value >= 0 and (top is None or value <= top)):
            raise ValueError(f"{name}={value!r} must be >= 0" + (f" and <= {top}" if top else ""))
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    lo = torch.tensor([max(0.0, 1 - brightness), max(0.0, 1 - contrast), max(0.0, 1 - saturation), -hue],
                      dtype=torch.float64)
    hi = torch.tensor([1 + brightness, 1 + contrast, 1 + saturation, hue], dtype=torch.float64)
    order = torch.rand(n, 4, generator=generator).argsort(dim=1)
    return (lo + (hi - lo) * u).float(), order


def colour_jitter_float(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """RGB images in [0, 1] (B, 3, H, W) jittered with one set of `colour_jitter_params` per
    image: image i gets operation order[i, k] at step k with its factor, exactly as
    torchvision's ColorJitter applies its draw to one image (float input), batched by grouping
    the images that take the same operation at the same step. Pixels stay in [0, 1]."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"colour jitter needs RGB batches (B, 3, H, W), got {tuple(x.shape)}")
    out = x.float().clone()
    factors, order = factors.to(out.device), order.to(out.device)
    for step in range(4):
        for op, apply in enumerate(_COLOUR_OPS):
            index = torch.nonzero(order[:, step] == op).flatten()
            if len(index):
                out.index_copy_(0, index, apply(out.index_select(0, index), factors.index_select(0, index)[:, op]))
    return out


def colour_jitter(images: torch.Tensor, generator: torch.Generator, brightness: float = 0.4,
                  contrast: float = 0.4, saturation: float = 0.4, hue: float = 0.2) -> torch.Tensor:
    """ColorJitter(brightness, contrast, saturation, hue) drawn independently for every image
    of a uint8 batch (B, 3, H, W) on its device, from `generator` (reproducible from its
    seed): the four operations in a random order per image, computed in float on [0, 1] and
    rounded back to uint8 once at the end (torchvision's uint8 path truncates after each
    operation; PIL's rounds after each). Ojha et al. 2023, sec. 4.3: ColorJitter(0.4, 0.4,
    0.4, 0.2) for the colour-invariant teacher and for X' of the agreement test."""
    if images.dtype != torch.uint8:
        raise ValueError(f"colour_jitter takes uint8 images, got {images.dtype}")
    factors, order = colour_jitter_params(len(images), generator, brightness, contrast, saturation, hue)
    jittered = colour_jitter_float(images.float() / 255, factors, order)
    return (jittered * 255).round_().clamp_(0, 255).to(torch.uint8)


def mixup_inputs(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mixup of a batch's inputs alone (Zhang et al. 2018, "mixup: Beyond empirical risk
    minimization", with alpha 1): lam x + (1 - lam) x[perm], one lam ~ Beta(1, 1) = U(0, 1)
    for the batch and a random permutation for the partners, as gnosis's `mixup_data`
    (Stanton et al. 2021) mixes the distillation batch. Mixing normalised images equals
    normalising mixed ones (the weights sum to 1); the layout of `x` is kept."""
    lam = torch.rand(1, generator=generator).item()
    partner = torch.randperm(len(x), generator=generator).to(x.device)
    return lam * x + (1 - lam) * rows(x, partner)


def rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[index] along the first dimension, by index_select (about 4x faster than indexing on
    the CPU), in x's own layout: channels_last stays channels_last."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).index_select(0, index).permute(0, 3, 1, 2)
    return x.index_select(0, index)


PRENORMALISED_BYTES = 1 << 30     # MNIST's training set is 188 MB as float32, CIFAR's 614 MB


class DeviceLoader:
    """Batches of a Dataset kept on the training device as uint8: seeded shuffling per epoch,
    batched augmentation on the device (one of AUGMENTATIONS), normalisation, channels_last
    for colour images. Without augmentation every epoch sees the same pixels, so the loader
    normalises them all once on first use (`normalised`) and a step only gathers rows."""

    def __init__(self, data: Dataset, batch_size: int, device: torch.device | str = "cpu", *,
                 shuffle: bool = False, augment: str = "none", seed: int = 0,
                 drop_last: bool = False):
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment={augment!r} is not allowed; allowed: {', '.join(AUGMENTATIONS)}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if len(data) == 0:
            raise ValueError("the dataset is empty: nothing to load")
        self.device = torch.device(device)
        self.data = data
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.seed, self.drop_last = seed, drop_last
        std = torch.tensor(data.std, device=self.device).view(1, -1, 1, 1)
        mean = torch.tensor(data.mean, device=self.device).view(1, -1, 1, 1)
        self.scale, self.shift = 1 / (255 * std), -mean / std
        self.channels_last = data.images.shape[1] == 3
        self._normalised: torch.Tensor | None = None

    def normalised(self) -> torch.Tensor | None:
        """All images converted and normalised once, for a loader without augmentation whose
        float copy stays under PRENORMALISED_BYTES (then a step only gathers its rows);
        None otherwise. The same values as `prepare` computes batch by batch."""
        if self._normalised is None and not self.random and \
                self.images.numel() * 4 <= PRENORMALISED_BYTES:
            self._normalised = torch.cat([self.prepare(self.images[i:i + 4096])
                                          for i in range(0, len(self.images), 4096)])
        return self._normalised

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)

    @property
    def random(self) -> bool:
        """Whether batches carry random augmentation (then per-image caches are not exact)."""
        return self.augment != "none"

    def prepare(self, images_uint8: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment (on uint8: a quarter of the bytes, exactly the same pixels), lay out
        channels_last, then convert and normalise, which keep the layout."""
        x = images_uint8
        if generator is not None and self.augment == "crop_flip":
            x = crop_flip(x, 4, generator)
        elif generator is not None and self.augment == "jitter":
            x = crop_flip(x, 2, generator, flip=False, mode="constant")
        elif generator is not None and self.augment == "crop_flip_colour":
            x = colour_jitter(crop_flip(x, 4, generator), generator, *COLOUR_JITTER)
        elif generator is not None and self.augment == "crop_flip_mixup":
            x = crop_flip(x, 4, generator)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.float() * self.scale + self.shift
        if generator is not None and self.augment == "crop_flip_mixup":
            x = mixup_inputs(x, generator)
        return x

    def epoch(self, epoch: int = 0) -> Iterator[Batch]:
        """The batches of one epoch; the order and augmentation depend on (seed, epoch) only,
        so a run resumed at any epoch sees exactly the batches it would have seen."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        ready = self.normalised()
        for step in range(len(self)):
            index = order[step * self.batch_size:(step + 1) * self.batch_size]
            images = rows(ready, index) if ready is not None else \
                self.prepare(rows(self.images, index), g if self.random else None)
            yield Batch(images, rows(self.labels, index), index)

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch(0)


# ---------------------------------------------------------------------------- make data

def fetch(names: list[str], mirror: Path | None, download: bool) -> list[str]:
    """Put datasets under data/: restore the offline mirror when it exists, else (with
    `download`) torchvision's download. Returns the names still missing."""
    root = paths.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    if mirror is not None and (Path(mirror) / "restore.py").exists():
        # in its own session: a Ctrl-C reaches kd alone, which stops it (subprocess.run kills
        # it) and says so in one line, instead of the restorer printing its own traceback
        subprocess.run([sys.executable, str(Path(mirror) / "restore.py"), str(root)], check=True,
                       start_new_session=True)
    elif download:
        import torchvision
        makers = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10,
                  "cifar100": torchvision.datasets.CIFAR100}
        for name in names:
            for train in (True, False):
                makers[name](root=str(root), train=train, download=True)
    missing = []
    for name in names:
        try:
            load(name, "test"), load(name, "train")     # checks every file against its checksum
        except DatasetMissing as e:
            missing.append(name)
            print(f"missing: {e}")
        else:
            print(f"{name}: ok ({source_of(name)})")
    return missing
