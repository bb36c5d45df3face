"""`run(config)`: train the model a RunConfig describes, or load it from the run cache.

Every run lives in `runs/<key>-<device>/`, the key a hash of the full config (teacher
included) and the concrete data, the device its type and what precision "auto" means there
(`cpu-fp32`, `cpu-bf16` on a CPU with native bf16, `cuda-bf16`). While it trains,
`checkpoint.pt` is rewritten atomically after every epoch, so an interrupted run resumes
from its last finished epoch; when it ends, `model.pt` and then `metrics.json` are written
and the checkpoint is removed. All loads use `weights_only=True`, and every entry is checked
when it is read (kd.cache): an unreadable one is moved aside and trained again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from . import domains as _domains  # noqa: F401  (registers Ojha's MNIST domains with kd.data)
from . import groups as _groups  # noqa: F401  (registers notebook 55's group sets with kd.data)
from . import paths
from .atomic import load_torch, make_dirs, save_json, save_torch
from .cache import DIGESTS, digest, load_checkpoint, load_finished, remove_checkpoint, run_lock, save_checkpoint
from .config import DataConfig, RunConfig
from .data import Dataset, DeviceLoader, load, source_of
from .data import first_counts, first_per_class, power_law_counts, uniform_label_noise, without_classes
from .distill import Context
from .fidelity import Ensemble
from .gradients import KEY as GRAD_KEY, GradientRecorder
from .methods import METHODS
from .models import build
from .train import check_device, default_device, fit, predict, resolve_precision

EVAL_BATCH = 1000
# every run this process asked for, by key: (trained in this process, its training seconds,
# those of them spent before this process: all of a cached run's, the epochs a resumed run's
# checkpoint carried). A run trained here keeps that record when it is asked for again.
RUNS_ASKED: dict[str, tuple[bool, float, float]] = {}


# how many kd.run_many calls are training a plan in this process (see `_check_planned`)
_PLANNED = [0]


@contextlib.contextmanager
def planned_training():
    """Runs trained inside this block belong to a plan (kd.run_many trains them)."""
    _PLANNED[0] += 1
    try:
        yield
    finally:
        _PLANNED[0] -= 1


class UnplannedRun(RuntimeError):
    """A notebook executed by `make reproduce` asked for a run that its plan does not hold."""


def _check_planned(desc: str, cfg: RunConfig) -> None:
    """Under `make reproduce` (KD_PLAN_TRAINED=1) every run a notebook asks for was trained
    ahead from its plan (kd.studies); a run that must still be trained, outside kd.run_many,
    means the notebook and its plan have drifted apart: stop and say which run."""
    if os.environ.get("KD_PLAN_TRAINED") == "1" and not _PLANNED[0]:
        from .cache import describe
        raise UnplannedRun(f"{desc} ({describe(cfg)}, key {cfg.key()}) is not in this notebook's plan: add it to the "
                           f"notebook's plan in kd/studies (or train it through kd.run_many from a rule of that module)")


def machine_share(metrics: dict) -> float:
    """A run's training seconds as seconds of the whole machine: its threads' share of the
    cores (two one-thread runs side by side on 2 cores each cost half their seconds). A run
    recorded without its threads is taken to have used every core."""
    cores = metrics.get("cores") or os.cpu_count() or 1
    threads = metrics.get("threads") or cores
    return metrics["train_seconds"] * min(1.0, threads / cores)


def _note(key: str, trained: bool, metrics: dict, before: float | None = None) -> None:
    if not RUNS_ASKED.get(key, (False,))[0]:
        seconds = metrics["train_seconds"]
        RUNS_ASKED[key] = (trained, seconds, machine_share(metrics) if before is None else before)


@dataclass
class Result:
    config: RunConfig
    key: str
    model: nn.Module          # the trained network, in eval mode, on the run's device
    metrics: dict             # final_acc, best_acc, best_epoch, train_seconds, data, history
    trained: bool = False     # whether this call trained it (False: served from the run cache)

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
    """Whether the run cache holds `cfg` finished, trained here or on another device."""
    return find_finished(cfg, device) is not None


def find_finished(cfg: RunConfig, device: torch.device | None = None) -> Path | None:
    """The folder of `cfg` finished: this device's own (`<key>-<device tag>`), else one trained
    on another device and shipped back or imported (kd.parallel), else None. Nothing is
    checked here; kd.run checks the entry it serves."""
    own = _folder(f"{cfg.key()}-{device_tag(check_device(device))}")
    if (own / "metrics.json").exists() and (own / "model.pt").exists():
        return own
    others = sorted(p for p in paths.runs_dir().glob(f"{cfg.key()}-*")
                    if p.is_dir() and (p / "metrics.json").exists() and (p / "model.pt").exists())
    return others[0] if others else None


def preflight(cfg: RunConfig) -> None:
    """What kd.run checks of a config before it trains, without training: the data transforms
    leave a training set, the network builds for the data, the method accepts the network
    and its teacher. Raises the error kd.run would."""
    train_data, _ = split(cfg.data)
    student = _build_student(cfg, train_data)
    teacher = (build(cfg.teacher.model, train_data.num_classes, tuple(train_data.images.shape[1:]))
               if cfg.teacher is not None else None)
    METHODS[cfg.method.name](student, teacher, cfg.method, _context(cfg, train_data))


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


def progress_mode(progress: bool | None) -> str:
    """"bar" (a live tqdm bar), "line" (one line per trained run) or "off". `progress=False`
    is off; otherwise KD_PROGRESS decides when set ("line" under `make reproduce`, so that
    executed notebooks keep one line per run instead of a bar's redraws), else a bar."""
    if progress is False:
        return "off"
    mode = os.environ.get("KD_PROGRESS", "bar")
    if mode not in ("bar", "line", "off"):
        raise ValueError(f"KD_PROGRESS={mode!r} is not allowed; allowed: bar, line, off")
    return mode


def run(cfg: RunConfig, *, device: torch.device | str | None = None, progress: bool | None = None,
        name: str = "", record_gradients: bool = False) -> Result:
    """Train (or load from the cache) the model of `cfg`; teachers are run first, recursively.

    A cache entry that cannot be read is moved to runs/.corrupt/ with a warning and trained
    again. A run that another process is training is waited for (runs/.locks/), not trained
    twice. `record_gradients` stores each epoch's mean |grad| per weight tensor in the history
    (kd.gradients); a cached run trained without them is trained again, to identical weights.
    A `device` that is not one kd can train on here raises a ValueError naming it."""
    if not isinstance(cfg, RunConfig):
        raise ValueError(f"cfg={cfg!r} must be a kd.RunConfig")
    device = check_device(device)
    key = f"{cfg.key()}-{device_tag(device)}"
    folder = _folder(key)
    desc = name or f"{cfg.method.name}:{cfg.model.arch}{list(cfg.model.hidden) or ''} seed {cfg.seed}"
    train_data, _ = split(cfg.data)
    student = _build_student(cfg, train_data)

    def usable(metrics: dict | None) -> bool:
        return metrics is not None and (not record_gradients or "grad_names" in metrics)

    metrics = load_finished(folder, cfg, student, desc)
    if usable(metrics):
        _note(key, False, metrics)
        return Result(cfg, key, student.to(device).eval(), metrics)
    elsewhere = find_finished(cfg, device) if metrics is None else None
    if elsewhere is not None and elsewhere != folder:      # trained on another device, shipped here
        shipped = load_finished(elsewhere, cfg, student, desc)
        if usable(shipped):
            _note(elsewhere.name, False, shipped)
            return Result(cfg, elsewhere.name, student.to(device).eval(), shipped)
        student = _build_student(cfg, train_data)
    if metrics is not None:
        print(f"training {desc} again to record its gradients (the cached run has none; the "
              f"weights come out identical)", flush=True)
        student = _build_student(cfg, train_data)       # the initial weights, not the cached ones

    teacher = run(cfg.teacher, device=device, progress=progress, name=f"teacher of {desc}").model \
        if cfg.teacher is not None else None
    if cfg.teacher_seeds:       # an ensemble teacher: every member trained (or loaded) first
        teacher = Ensemble([teacher] + [
            run(cfg.teacher.with_(seed=s), device=device, progress=progress,
                name=f"teacher of {desc}, ensemble member seed {s}").model for s in cfg.teacher_seeds[1:]])
    first = run(cfg.init, device=device, progress=progress, name=f"stage 1 of {desc}") \
        if cfg.init is not None else None
    _check_planned(desc, cfg)
    with run_lock(key, desc):
        if metrics is None:
            metrics = load_finished(folder, cfg, student, desc)   # finished meanwhile elsewhere?
            if usable(metrics):
                _note(key, False, metrics)
                return Result(cfg, key, student.to(device).eval(), metrics)
            if metrics is not None:
                student = _build_student(cfg, train_data)
        if first is not None:
            student.load_state_dict(first.model.state_dict())
        student, metrics, resumed = _train(cfg, folder, student, teacher, train_data, device, desc,
                                           progress_mode(progress), record_gradients)
    _note(key, True, metrics, before=sum(h["seconds"] for h in metrics["history"][:resumed]))
    return Result(cfg, key, student, metrics, trained=True)


def measured(result: Result, name: str, params: dict, compute: Callable[[], dict]) -> dict:
    """A measurement of a trained run (AutoAttack robustness, say): `compute()` once, its
    JSON-serialisable dict cached in the run's folder under `name` and a hash of `params`
    (everything the measurement depends on besides the weights), written atomically. The
    cached dict is returned while the run and the params are unchanged."""
    blob = json.dumps(params, sort_keys=True, default=str)
    path = _folder(result.key) / "measures" / f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}.json"
    if path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("params") == json.loads(blob):
                return cached["value"]
        except (OSError, ValueError, AttributeError):
            pass                               # unreadable: measured again and rewritten
    value = compute()
    save_json(path, {"params": json.loads(blob), "value": value})
    return value


def wall_time(report_or_start) -> str:
    """The line a notebook's last cell prints: its wall time so far and the machine
    (kd.train.machine), how many of its runs were trained in this execution, and how many
    came from the run cache with their training as time of this machine (`machine_share`:
    `make reproduce` trains a notebook's plan ahead, so most of its cost is there)."""
    from .train import machine
    start = getattr(report_or_start, "started", report_or_start)
    seconds = time.perf_counter() - start
    trained = [s for here, s, _ in RUNS_ASKED.values() if here]
    cached = [(s, share) for here, s, share in RUNS_ASKED.values() if not here]
    ahead = sum(share for _, share in cached)
    return (f"wall time {int(seconds // 60)} min {seconds % 60:.0f} s on {machine()}; "
            f"{len(trained)} runs trained in this execution ({sum(trained):,.0f} s of training), "
            f"{len(cached)} served from the run cache (trained earlier in {sum(s for s, _ in cached):,.0f} s of "
            f"training, {ahead / 60:.0f} min of this machine's time); wall time plus that: "
            f"{(seconds + ahead) / 60:.0f} min")


def spent_seconds(report_or_start, runs: Iterable[Result]) -> tuple[float, float]:
    """What a notebook has spent against its budget: (its wall time so far, the training
    seconds of its own `runs` spent before this execution, as seconds of the whole machine:
    `machine_share`). The second term is what a run
    cache hides from the wall time: runs trained ahead of the execution, or in an interrupted
    earlier one (a resumed run's epochs before its checkpoint); a run trained in this process
    counts only its resumed epochs however often it is asked for again. Each run counts once.
    Runs a budget excludes (the shared teachers, notebook 01's noise seeds) are left out of
    `runs`."""
    start = getattr(report_or_start, "started", report_or_start)
    before = {r.key: RUNS_ASKED[r.key][2] for r in runs}
    return time.perf_counter() - start, sum(before.values())


def budget_line(report_or_start, budget_s: float, runs: Iterable[Result]) -> str:
    """The last cell's account of the budget: the wall time plus the earlier training of the
    notebook's own runs (`spent_seconds`), against `budget_s`."""
    if not budget_s > 0:
        raise ValueError(f"budget_s must be a positive number of seconds, not {budget_s!r}")
    wall, before = spent_seconds(report_or_start, runs)
    spent = wall + before
    verdict = "within it" if spent <= budget_s else f"over it by {(spent - budget_s) / 60:.0f} min"
    return (f"budget {budget_s / 60:.0f} min; spent {spent / 60:.0f} min = wall time {wall / 60:.0f} min "
            f"+ {before / 60:.0f} min of this notebook's runs trained before this execution: {verdict}")


def _train(cfg: RunConfig, folder: Path, student: nn.Module, teacher: nn.Module | None,
           train_data: Dataset, device: torch.device, desc: str, mode: str,
           record_gradients: bool = False) -> tuple[nn.Module, dict, int]:
    """Train the run (resuming from its checkpoint), write model.pt then metrics.json; return
    the trained network, its metrics and how many epochs its checkpoint had already run."""
    # a method's own heads (regressors, embeddings) start from the seed, whether or not a
    # teacher was trained in this process before
    torch.manual_seed(cfg.seed + 104_729)
    distiller = METHODS[cfg.method.name](student, teacher, cfg.method, _context(cfg, train_data))
    train_loader = DeviceLoader(train_data, cfg.train.batch_size, device, shuffle=True,
                                augment=cfg.data.augmentation, seed=cfg.seed)
    test_loader = DeviceLoader(evaluation_split(cfg.data), EVAL_BATCH, device)
    checkpoint = folder / "checkpoint.pt"
    if record_gradients and _recorded_without_gradients(checkpoint):
        print(f"{desc}: its checkpoint's epochs ran without recording gradients; starting afresh",
              flush=True)
        remove_checkpoint(folder)
    state = load_checkpoint(folder, cfg, distiller, desc)
    make_dirs(folder)
    save_json(folder / "config.json", cfg.to_dict())
    resumed = len(state["history"]) if state is not None else 0
    recorder = GradientRecorder(distiller.student) if record_gradients else None
    history = fit(distiller, train_loader, test_loader, cfg.train, cfg.seed, state=state,
                  on_epoch_end=lambda s: save_checkpoint(folder, s), desc=desc, progress=mode == "bar",
                  on_step=recorder)
    test_accs = [h["test_acc"] for h in history]
    best = max(range(len(test_accs)), key=test_accs.__getitem__)
    metrics = {"final_acc": test_accs[-1], "best_acc": test_accs[best], "best_epoch": best + 1,
               "train_seconds": sum(h["seconds"] for h in history), "data": source_of(cfg.data.name),
               "train_images": len(train_data), "device": device.type, "history": history,
               "threads": torch.get_num_threads(), "cores": os.cpu_count() or 1,
               **({"grad_names": recorder.names} if recorder is not None else {})}
    student = distiller.student.eval()
    save_torch(folder / "model.pt", {k: v.detach().cpu() for k, v in student.state_dict().items()})
    metrics[DIGESTS] = {"model.pt": digest(folder / "model.pt")}      # checked on every read
    save_json(folder / "metrics.json", metrics)
    remove_checkpoint(folder)
    if mode == "line":
        print(f"trained {desc}: {metrics['final_acc']:.2f}% at the last of {len(history)} epochs "
              f"(best {metrics['best_acc']:.2f}% at epoch {metrics['best_epoch']}) in "
              f"{metrics['train_seconds']:.0f} s" + (f", resumed after epoch {resumed}" if resumed else ""),
              flush=True)
    return student, metrics, resumed


def _recorded_without_gradients(checkpoint: Path) -> bool:
    """Whether a readable checkpoint's first epoch has no gradient record (an unreadable one
    is left to kd.cache.load_checkpoint, which moves it aside)."""
    if not checkpoint.exists():
        return False
    try:
        history = load_torch(checkpoint)["history"]
        return GRAD_KEY not in history[0]
    except Exception:
        return False


def loader_for(data: Dataset, device: torch.device | str | None = None,
               batch_size: int = EVAL_BATCH) -> DeviceLoader:
    """An evaluation loader (no shuffling, no augmentation) on the default device."""
    return DeviceLoader(data, batch_size, device if device is not None else default_device())
