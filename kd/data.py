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
            "mnist-orig", "mnist-color", "mnist-m", "mnist-3domains")     # the last four: kd.domains
# "crop_flip": random 32x32 crop of the 4-pixel reflect-padded image and horizontal flip (CIFAR);
# "jitter": a random shift of up to 2 pixels each way, zero-filled, no flip (Hinton et al.
# 2015's MNIST teacher)
AUGMENTATIONS = ("none", "crop_flip", "jitter")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    # Ojha's MNIST domains: MNIST's statistics on every channel, one input space for all four
    **{name: ((0.1307,) * 3, (0.3081,) * 3)
       for name in ("mnist-orig", "mnist-color", "mnist-m", "mnist-3domains")},
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


def _domain(name: str):
    """The reader of one of Ojha's MNIST domains (built from MNIST and CIFAR-10, kd.domains)."""
    def read(split: str) -> tuple[np.ndarray, np.ndarray]:
        from .domains import build
        return build(name, split)
    return read


_READERS = {"mnist": _mnist, "cifar10": _cifar10, "cifar100": _cifar100,
            "cifar100-synthetic": _cifar100_synthetic,
            **{name: _domain(name) for name in ("mnist-orig", "mnist-color", "mnist-m", "mnist-3domains")}}


@functools.lru_cache(maxsize=None)
def _load_cached(name: str, split: str, source: str, folder: str) -> Dataset:
    images, labels = _READERS[name](split)
    mean, std = MEAN_STD["cifar100" if name.startswith("cifar100") else name]
    return Dataset(torch.from_numpy(np.ascontiguousarray(images)),
                   torch.from_numpy(labels.astype(np.int64)),
                   num_classes=100 if name.startswith("cifar100") else 10,
                   source=source, mean=mean, std=std)


def source_of(name: str) -> str:
    """The concrete data a dataset name resolves to here (recorded in every result)."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    if name in ("mnist-m", "mnist-3domains"):       # MNIST-M's patches are CIFAR-10 crops
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
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x.float() * self.scale + self.shift

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
        subprocess.run([sys.executable, str(Path(mirror) / "restore.py"), str(root)], check=True)
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
