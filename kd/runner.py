"""`run(config)`: train the model a RunConfig describes, or load it from the run cache.

Every run lives in `runs/<key>-<device>/`, the key a hash of the full config (teacher
included) and the concrete data, the device its type and what precision "auto" means there
(`cpu-fp32`, `cpu-bf16` on a CPU with native bf16, `cuda-bf16`). While it trains,
`checkpoint.pt` is rewritten atomically after every epoch, so an interrupted run resumes
from its last finished epoch; when it ends, `model.pt` and then `metrics.json` are written
and the checkpoint is removed. All loads use `weights_only=True`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import paths
from .atomic import load_torch, save_json, save_torch
from .config import DataConfig, RunConfig
from .data import Dataset, DeviceLoader, load, source_of
from .data import first_counts, first_per_class, power_law_counts, uniform_label_noise, without_classes
from .distill import Context
from .methods import METHODS
from .models import build
from .train import default_device, fit, predict, resolve_precision

EVAL_BATCH = 1000


@dataclass
class Result:
    config: RunConfig
    key: str
    model: nn.Module          # the trained network, in eval mode, on the run's device
    metrics: dict             # final_acc, best_acc, best_epoch, train_seconds, data, history

    @property
    def final_acc(self) -> float:
        return self.metrics["final_acc"]

    @property
    def best_acc(self) -> float:
        return self.metrics["best_acc"]

    def predict(self, loader: DeviceLoader) -> torch.Tensor:
        """Logits over a loader in the precision the run trained in, the one its final_acc
        was measured in (kd.predict's default "auto" is bf16 on some CPUs: an fp32 run
        evaluated that way gives slightly different logits)."""
        return predict(self.model, loader, self.config.train.precision)


def split(cfg: DataConfig) -> tuple[Dataset, Dataset | None]:
    """The training split after the config's transforms, and the held-out images (or None)."""
    full = load(cfg.name, "train")
    g = torch.Generator().manual_seed(cfg.seed)
    holdout = None
    if cfg.holdout:
        if cfg.holdout >= len(full):
            raise ValueError(f"holdout={cfg.holdout} leaves no training images (of {len(full)})")
        order = torch.randperm(len(full), generator=g)
        holdout = full.subset(order[len(full) - cfg.holdout:].sort().values)
        full = full.subset(order[:len(full) - cfg.holdout].sort().values)
    data = full
    if cfg.per_class is not None:
        data = data.subset(first_per_class(data.labels, cfg.per_class, data.num_classes))
    if cfg.leave_out:
        bad = [c for c in cfg.leave_out if not 0 <= c < data.num_classes]
        if bad:
            raise ValueError(f"leave_out={cfg.leave_out}: classes must be in 0..{data.num_classes - 1}")
        data = data.subset(without_classes(data.labels, cfg.leave_out))
    if cfg.imbalance_gamma is not None:
        data = data.subset(first_counts(data.labels, power_law_counts(data.num_classes, cfg.imbalance_gamma)))
    if cfg.label_noise:
        data = Dataset(data.images, uniform_label_noise(data.labels, cfg.label_noise, data.num_classes, g),
                       data.num_classes, data.source, data.mean, data.std)
    if len(data) == 0:
        raise ValueError(f"the data transforms {cfg} leave an empty training set")
    return data, holdout


def evaluation_split(cfg: DataConfig) -> Dataset:
    """The test images a run is evaluated on: all, or the first `test_per_class` a class."""
    test = load(cfg.name, "test")
    if cfg.test_per_class is None:
        return test
    return test.subset(first_per_class(test.labels, cfg.test_per_class, test.num_classes))


def _folder(key: str) -> Path:
    return paths.runs_dir() / key


def device_tag(device: torch.device) -> str:
    """The device part of a run folder's name: `auto` runs train in bf16 on some CPUs and in
    float32 on others, so the two never share a cache entry."""
    return f"{device.type}-{resolve_precision('auto', device)}"


def is_done(cfg: RunConfig, device: torch.device | None = None) -> bool:
    device = torch.device(device) if device is not None else default_device()
    folder = _folder(f"{cfg.key()}-{device_tag(device)}")
    return (folder / "metrics.json").exists() and (folder / "model.pt").exists()


def _build_student(cfg: RunConfig, train: Dataset, offset: int = 0) -> nn.Module:
    """The run's network, its initial weights a function of (seed, offset): offset 0 is the
    student itself, others are fresh copies for methods that train several (DML's peer)."""
    torch.manual_seed(cfg.seed + 7919 * offset)
    return build(cfg.model, train.num_classes, tuple(train.images.shape[1:]))


def _context(cfg: RunConfig, train: Dataset) -> Context:
    example = DeviceLoader(train.subset(torch.arange(min(2, len(train)))), 2).prepare(train.images[:2])
    return Context(example=example, num_samples=len(train), mean=train.mean, std=train.std,
                   make_student=lambda offset: _build_student(cfg, train, offset),
                   epochs=cfg.train.epochs)


def run(cfg: RunConfig, *, device: torch.device | str | None = None, progress: bool = True,
        name: str = "") -> Result:
    """Train (or load from the cache) the model of `cfg`; teachers are run first, recursively."""
    device = torch.device(device) if device is not None else default_device()
    key = f"{cfg.key()}-{device_tag(device)}"
    folder = _folder(key)
    desc = name or f"{cfg.method.name}:{cfg.model.arch}{list(cfg.model.hidden) or ''} seed {cfg.seed}"
    train_data, _ = split(cfg.data)
    student = _build_student(cfg, train_data)

    if (folder / "metrics.json").exists() and (folder / "model.pt").exists():
        student.load_state_dict(load_torch(folder / "model.pt"))
        metrics = json.loads((folder / "metrics.json").read_text())
        return Result(cfg, key, student.to(device).eval(), metrics)

    teacher = run(cfg.teacher, device=device, progress=progress, name=f"teacher of {desc}").model \
        if cfg.teacher is not None else None
    if cfg.init is not None:
        first = run(cfg.init, device=device, progress=progress, name=f"stage 1 of {desc}")
        student.load_state_dict(first.model.state_dict())
    distiller = METHODS[cfg.method.name](student, teacher, cfg.method, _context(cfg, train_data))
    train_loader = DeviceLoader(train_data, cfg.train.batch_size, device, shuffle=True,
                                augment=cfg.data.augmentation, seed=cfg.seed)
    test_loader = DeviceLoader(evaluation_split(cfg.data), EVAL_BATCH, device)
    folder.mkdir(parents=True, exist_ok=True)
    save_json(folder / "config.json", cfg.to_dict())
    checkpoint = folder / "checkpoint.pt"
    state = load_torch(checkpoint) if checkpoint.exists() else None
    history = fit(distiller, train_loader, test_loader, cfg.train, cfg.seed, state=state,
                  on_epoch_end=lambda s: save_torch(checkpoint, s), desc=desc, progress=progress)
    test_accs = [h["test_acc"] for h in history]
    best = max(range(len(test_accs)), key=test_accs.__getitem__)
    metrics = {"final_acc": test_accs[-1], "best_acc": test_accs[best], "best_epoch": best + 1,
               "train_seconds": sum(h["seconds"] for h in history), "data": source_of(cfg.data.name),
               "train_images": len(train_data), "device": device.type, "history": history}
    student = distiller.student.eval()
    save_torch(folder / "model.pt", {k: v.detach().cpu() for k, v in student.state_dict().items()})
    save_json(folder / "metrics.json", metrics)
    checkpoint.unlink(missing_ok=True)
    return Result(cfg, key, student, metrics)


def loader_for(data: Dataset, device: torch.device | str | None = None,
               batch_size: int = EVAL_BATCH) -> DeviceLoader:
    """An evaluation loader (no shuffling, no augmentation) on the default device."""
    return DeviceLoader(data, batch_size, device if device is not None else default_device())
