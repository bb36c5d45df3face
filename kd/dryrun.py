"""A plan checked before it is run: `dry_run(jobs)` (`python -m kd train --nb NN --dry-run`).

Every run's config is checked when it is made (kd.config); here each distinct combination of
(network, method, teacher network, data shape, augmentation) of a plan is also built once and
takes two optimiser steps of kd's own trainer (kd.train.fit) on a tiny synthetic batch shaped
like its data, so that a config error surfaces in seconds on a laptop, not hours into a GPU
job. The data need not be on this machine (CIFAR-100 cannot be had offline); the dry run says
which datasets are missing here.

The projected cost is a projection, not a measurement. Each run's arithmetic is its images
times (3 x the student's forward multiply-accumulates, for forward and backward, plus the
teacher's forward), times `METHOD_FACTOR` for methods that attack inside every step (PGD-based
adversarial training: 1 + its steps; BSS: its cost relative to Hinton KD in notebook 20's
cost table):
- this machine: that arithmetic at the multiply-accumulates per second this machine sustains
  on a measured ResNet-8 training step (batch 64, this process's threads and precision);
- one GPU: no GPU was measured. Each step takes the larger of its arithmetic at
  `GPU_MACS_PER_S` and `GPU_STEP_FLOOR_S` seconds (small CIFAR networks are bound by kernel
  launches and the optimiser, not by arithmetic).
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace

import torch

from .config import RunConfig
from .parallel import as_job, closure

# what one modern GPU (an A100/H100 class card, bf16) sustains on these networks: an assumption
GPU_MACS_PER_S = 50e12
GPU_STEP_FLOOR_S = 0.008
# attack steps inside every training step; BSS: 134.6 / 28.3 s an epoch against Hinton in notebook 20
METHOD_FACTOR = {"bss": 4.8}
ATTACKING = ("adversarial", "pgd_at", "akd", "adversarial_tfkd_reg")
# (channels, height, width, classes, training images) of each dataset, without loading it
SHAPES = {"mnist": (1, 28, 28, 10, 60000), "cifar10": (3, 32, 32, 10, 50000),
          "cifar100": (3, 32, 32, 100, 50000), "cifar100-synthetic": (3, 32, 32, 100, 50000)}
DOMAIN_SHAPE = (3, 28, 28, 10, 60000)


def data_shape(name: str) -> tuple[int, int, int, int, int]:
    if name in SHAPES:
        return SHAPES[name]
    if name.startswith("mnist"):
        return DOMAIN_SHAPE[:4] + ((180000 if name == "mnist-3domains" else 60000),)
    from .data import load
    train = load(name, "train")
    return (*train.images.shape[1:], train.num_classes, len(train))


def train_images(cfg: RunConfig) -> int:
    """The training images of one epoch of `cfg`, from its data config alone."""
    from .data import power_law_counts
    c, h, w, classes, n = data_shape(cfg.data.name)
    d = cfg.data
    per_class = n / classes
    per_class = min(per_class, d.per_class) if d.per_class is not None else per_class
    kept = classes - len(d.leave_out)
    if d.imbalance_gamma is not None:
        return int(sum(min(per_class, k) for k in power_law_counts(classes, d.imbalance_gamma)))
    return max(1, int(per_class * kept - d.holdout))


@dataclass(frozen=True)
class Checked:
    """One distinct combination of a plan, built and stepped: its multiply-accumulates per
    image (student forward, teacher forward)."""
    what: str
    student_macs: int
    teacher_macs: int


def method_factor(cfg: RunConfig) -> float:
    if cfg.method.name in ATTACKING:
        return 1.0 + cfg.method.steps
    return METHOD_FACTOR.get(cfg.method.name, 1.0)


@functools.lru_cache(maxsize=None)
def machine_macs_per_s(steps: int = 8, batch: int = 128) -> float:
    """Multiply-accumulates a second this machine sustains training a ResNet-8 (batch `batch`,
    synthetic CIFAR-shaped images, this process's threads, precision "auto"): the median of
    `steps` timed steps after two warm-up steps. Measured once per process: a plan of many
    notebooks is projected at one rate, and a noisy machine moves every projection alike."""
    import statistics

    from .data import DeviceLoader
    from .distill import Distiller
    from .measure import count_macs
    from .models import build
    from .train import fit
    from .config import ModelConfig, TrainConfig
    cfg = RunConfig(data=replace(RunConfig().data, name="cifar10"), model=ModelConfig("resnet8"))
    data = _synthetic(cfg, batch * (steps + 3))
    model = build(cfg.model, 10, (3, 32, 32))
    loader = DeviceLoader(data, batch, torch.device("cpu"), shuffle=True, augment="crop_flip", seed=0)
    times = []

    class Timed(Distiller):
        def forward_train(self, batch, epoch):
            times.append(time.perf_counter())
            return super().forward_train(batch, epoch)

    fit(Timed(model), loader, None, TrainConfig(epochs=1, batch_size=batch), 0, progress=False)
    step = statistics.median(b - a for a, b in zip(times[2:], times[3:]))
    return 3 * count_macs(model, loader.prepare(data.images[:2])) * batch / step


def _combination(cfg: RunConfig) -> tuple:
    teacher = cfg.teacher.model if cfg.teacher is not None else None
    return (cfg.model, cfg.method, teacher, data_shape(cfg.data.name)[:4], cfg.data.augmentation,
            cfg.train.optimizer)


def _synthetic(cfg: RunConfig, n: int):
    from .data import Dataset
    c, h, w, classes, _ = data_shape(cfg.data.name)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % classes
    return Dataset(images, labels, classes, "synthetic", (0.5,) * c, (0.25,) * c)


def check(cfg: RunConfig, batch: int = 4) -> Checked:
    """Build `cfg`'s network, teacher network and method on a synthetic dataset shaped like its
    data and take two optimiser steps with kd.train.fit (batch `batch`); raises what training
    would raise."""
    from .data import DeviceLoader
    from .distill import Context
    from .measure import count_macs
    from .methods import METHODS
    from .models import build
    data = _synthetic(cfg, 2 * batch)
    shape = tuple(data.images.shape[1:])
    torch.manual_seed(cfg.seed)
    student = build(cfg.model, data.num_classes, shape)
    teacher = build(cfg.teacher.model, data.num_classes, shape).eval() if cfg.teacher is not None else None
    loader = DeviceLoader(data, batch, torch.device("cpu"), shuffle=True, augment=cfg.data.augmentation, seed=0)
    example = loader.prepare(data.images[:2])
    context = Context(example=example, num_samples=len(data), mean=data.mean, std=data.std,
                      make_student=lambda k: build(cfg.model, data.num_classes, shape), epochs=2)
    method = cfg.method
    if method.name in ("crd", "crd_tau") and method.negatives >= len(data):
        method = replace(method, negatives=len(data) - 1)        # a tiny bank holds fewer negatives
    if method.name == "eskd":
        method = replace(method, stop_epoch=1)
    distiller = METHODS[method.name](student, teacher, method, context)
    from .train import fit
    train = replace(cfg.train, epochs=2, batch_size=batch, precision="fp32", compile=False, milestones=())
    fit(distiller, loader, None, train, cfg.seed, progress=False)
    student_macs = count_macs(student, example)
    teacher_macs = count_macs(teacher, example) if teacher is not None else 0
    teacher_name = f" <- {cfg.teacher.model.arch}" if cfg.teacher is not None else ""
    return Checked(f"{cfg.method.name} {cfg.model.arch}{teacher_name} on {cfg.data.name}", student_macs,
                   teacher_macs)


def dry_run(jobs, profile: str = "", out=print, checked: dict[tuple, Checked] | None = None) -> dict:
    """Check every distinct combination of the plan `jobs` (see `check`) and print the plan:
    its runs, epochs, and projected hours here and on one GPU. Returns the figures.

    `checked`: the combinations already built and stepped by this process (several plans
    dry-run in turn share one dict, so a combination two notebooks use is checked once); this
    call adds its own to it."""
    from . import paths
    runs = closure(as_job(j).config for j in jobs)
    checked = {} if checked is None else checked
    combos: dict[tuple, Checked] = {}
    new = 0
    start = time.perf_counter()
    for cfg in runs:
        key = _combination(cfg)
        if key not in checked:
            checked[key] = check(cfg)
            new += 1
        combos[key] = checked[key]
    throughput = machine_macs_per_s()
    here = gpu = 0.0
    epochs = 0
    for cfg in runs:
        c = combos[_combination(cfg)]
        epochs += cfg.train.epochs
        step_macs = (3 * c.student_macs + c.teacher_macs) * cfg.train.batch_size * method_factor(cfg)
        steps = -(-train_images(cfg) // cfg.train.batch_size) * cfg.train.epochs
        here += steps * step_macs / throughput
        gpu += steps * max(step_macs / GPU_MACS_PER_S, GPU_STEP_FLOOR_S)
    missing = sorted({cfg.data.name for cfg in runs if not _available(cfg.data.name, paths)})
    figures = {"runs": len(runs), "jobs": len(jobs), "combinations": len(combos), "epochs": epochs,
               "new_combinations": new, "hours_here": here / 3600, "hours_gpu": gpu / 3600,
               "missing_data": missing, "seconds": time.perf_counter() - start}
    out(f"dry run{' of the ' + profile + ' plan' if profile else ''}: {len(jobs)} jobs, {len(runs)} distinct runs "
        f"(teachers and first stages included), {epochs:,} epochs; {len(combos)} distinct (network, method, "
        f"teacher, data) combinations, {new} of them new to this process, built and stepped twice in "
        f"{figures['seconds']:.0f} s: all fine")
    figures["machine_gmacs"] = throughput / 1e9
    out(f"  projected: {figures['hours_here']:,.1f} h on this machine ({torch.get_num_threads()} threads; each run's "
        f"multiply-accumulates at the {throughput / 1e9:.1f} GMAC/s a measured ResNet-8 step sustains here), "
        f"{figures['hours_gpu']:,.1f} h on one GPU (assumed "
        f"{GPU_MACS_PER_S / 1e12:g} TMAC/s sustained or {GPU_STEP_FLOOR_S * 1e3:g} ms a step, whichever is "
        f"larger: a projection, no GPU was measured)")
    if missing:
        out(f"  data not on this machine: {', '.join(missing)} (get it with `make data` or "
            f"`python -m kd data --download {' '.join(missing)}` before training)")
    return figures


def _available(name: str, paths) -> bool:
    from .data import DatasetMissing, load
    try:
        load(name, "test")
        return True
    except (DatasetMissing, FileNotFoundError):
        return False
    except Exception:
        return True
