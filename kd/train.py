"""One trainer for every experiment: a Distiller, an on-device loader, an optimiser and a
schedule. It sums the distiller's named losses and knows nothing of the method it runs.

Precision "auto" is bf16 autocast on CUDA and on a CPU with native bf16 (AVX512-BF16 or
AMX), float32 elsewhere; BatchNorm keeps float32 parameters and statistics either way.
Networks and colour batches are channels_last on every device (on this 2-core CPU a ResNet-8
step is 2.7x faster than in NCHW); torch.compile only when asked. Metrics are accumulated on
the device and read once per epoch, so a step never waits for the host.
"""
from __future__ import annotations

import contextlib
import functools
import math
import operator
import os
import platform
import time
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn
from tqdm.std import tqdm

from .config import TrainConfig
from .data import DeviceLoader
from .distill import Distiller
from .modes import eval_mode


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: torch.device | str | None) -> torch.device:
    """`device` as a torch.device kd can train on here (None: `default_device()`), else a
    ValueError naming `device` and the allowed ones: "cpu", "cuda" / "cuda:<n>" when that GPU
    is present, "mps" when present. "meta" and the like hold no data to train on."""
    if device is None:
        return default_device()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    allowed = ", ".join(["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(gpus)] if gpus else [])
                        + (["mps"] if mps else []))
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a device; allowed here: {allowed}") from None
    if d.type == "cuda" and not gpus:
        raise ValueError(f"device={device!r}: no CUDA GPU is available here; allowed here: {allowed}")
    if d.type == "cuda" and d.index is not None and d.index >= gpus:
        raise ValueError(f"device={device!r}: this machine has {gpus} GPU(s); allowed here: {allowed}")
    if d.type not in ("cpu", "cuda") and not (d.type == "mps" and mps):
        raise ValueError(f"device={device!r} is not a device kd trains on; allowed here: {allowed}")
    return d


def cpu_threads() -> int:
    """The torch threads kd's notebooks and processes train with on the CPU: KD_THREADS when it
    is set (`make test` gives each of its two side-by-side lanes one thread, so that the two
    never share a core: two two-thread processes on two cores each wait on the other's
    threads, and ran several times slower), else every core."""
    value = os.environ.get("KD_THREADS", "").strip()
    if not value:
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"KD_THREADS={value!r} must be a whole number >= 1 (torch threads), or unset for every core")
    return int(value)


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what the platform reports)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(device: torch.device | str | None = None) -> str:
    """One line naming what an execution's timings were measured on: the device (a GPU's
    name, or the CPU's model and cores), torch's CPU kernels (AVX2, AVX512, ...) and what
    precision "auto" means there. Timings are only comparable on the same line: the `cpu`
    budgets were set on a 2-core CPU with AVX512-BF16, where "auto" trains in bf16; on one
    without native bf16 kd trains in float32, several times slower (benchmarks/README.md)."""
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        where = f"cpu ({cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    kernels = torch.backends.cpu.get_cpu_capability()
    return f"{where}; torch {torch.__version__}, CPU kernels {kernels}; precision auto = {resolve_precision('auto', device)}"


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bf16 natively: CUDA, or a CPU with AVX512-BF16 or AMX."""
    device = torch.device(device)
    if device.type == "cuda":
        return True
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported()
                                     or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device: torch.device) -> str:
    """"fp32" or "bf16": what `precision` ("auto", "fp32", "bf16") means on `device`."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast when `precision` resolves to bf16 on `device`; else nothing."""
    device = torch.device(device)
    if resolve_precision(precision, device) != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "adadelta":      # the PyTorch MNIST example's (rho 0.9, eps 1e-6)
        return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def lr_factor(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at a (global) optimiser step. A run stopped early
    (cfg.schedule_epochs > cfg.epochs) follows the longer schedule's rates."""
    epoch = step / steps_per_epoch
    progress = step / ((cfg.schedule_epochs or cfg.epochs) * steps_per_epoch)
    if cfg.schedule == "step":
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.schedule == "exp":
        return cfg.gamma ** math.floor(epoch)
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "onecycle":   # linear warm-up over the first 25%, then linear to zero
        return progress / 0.25 if progress < 0.25 else (1 - progress) / 0.75
    return 1.0


@torch.no_grad()
def predict(model: nn.Module, loader: DeviceLoader, precision: str = "auto") -> torch.Tensor:
    """Logits for every image of a loader, in its order (model in eval mode)."""
    with eval_mode(model), autocast(loader.device, precision):
        return torch.cat([model(b.images).float() for b in loader.epoch(0)])


def accuracy(model: nn.Module, loader: DeviceLoader, precision: str = "auto") -> float:
    """Top-1 accuracy in percent."""
    logits = predict(model, loader, precision)
    return 100.0 * (logits.argmax(1) == loader.labels).float().mean().item()


class StepHook(Protocol):
    """A per-step hook of `fit` (e.g. kd.gradients.GradientRecorder): `after_backward` runs
    after every backward pass, before the optimiser step; `end_epoch` returns entries added
    to the epoch's history record. It must not change gradients or weights."""

    def after_backward(self, epoch: int, step: int) -> None: ...

    def end_epoch(self, epoch: int) -> dict: ...


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite; the message gives the epoch and step."""


def fit(distiller: Distiller, train_loader: DeviceLoader, test_loader: DeviceLoader | None,
        cfg: TrainConfig, seed: int, *, state: dict | None = None,
        on_epoch_end: Callable[[dict], None] | None = None, desc: str = "train",
        progress: bool = True, on_step: StepHook | None = None) -> list[dict]:
    """Train for cfg.epochs and return the per-epoch history.

    `state` (from a checkpoint) resumes after its last finished epoch; `on_epoch_end` gets the
    state after every epoch (history, student and optimiser state) to save a checkpoint;
    `on_step` sees every step after its backward pass (nothing is called when it is None).
    """
    device = train_loader.device
    distiller.to(device).to(memory_format=torch.channels_last)     # 4-d weights only
    if distiller.teacher is not None and distiller.teacher_logits_only and not train_loader.random:
        distiller.cache_teacher_logits(train_loader)
    optimizer = make_optimizer(distiller.learnable_parameters(), cfg)
    steps = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(cfg, s, steps))
    history: list[dict] = []
    if state is not None:
        distiller.load_learnable_state_dict(state["distiller"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = list(state["history"])
    precision = resolve_precision(cfg.precision, device)     # once, not in every step
    if cfg.compile:           # the fidelity sums stay outside the graph (kd.distill.Distiller.track_fidelity)
        distiller.track_fidelity = torch.compiler.disable(distiller.track_fidelity)
    step_fn = torch.compile(distiller.forward_train) if cfg.compile else distiller.forward_train
    bar = tqdm(total=cfg.epochs * steps, initial=len(history) * steps, disable=not progress,
               desc=desc, mininterval=2.0, unit="step", dynamic_ncols=True)
    if history:
        bar.set_postfix_str(f"resumed after epoch {len(history)}")

    try:
        for epoch in range(len(history), cfg.epochs):
            torch.manual_seed(seed * 1_000_003 + epoch)      # dropout etc.: a function of (seed, epoch)
            distiller.train()
            # per-step values stay on the device, kept by reference; reduced once per epoch
            step_losses: list[torch.Tensor] = []
            predictions: list[torch.Tensor] = []
            labels: list[torch.Tensor] = []
            named: dict[str, list[torch.Tensor]] = {}
            start = time.perf_counter()
            for step, batch in enumerate(train_loader.epoch(epoch)):
                with autocast(device, precision):
                    logits, losses = step_fn(batch, epoch)
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if on_step is not None:
                    on_step.after_backward(epoch, step)
                optimizer.step()
                scheduler.step()
                step_losses.append(loss.detach())
                predictions.append(logits.detach().argmax(1))
                labels.append(batch.labels)
                for name, value in losses.items():
                    named.setdefault(name, []).append(value.detach())
                bar.update()
            step_loss = torch.stack(step_losses).float()
            correct = (torch.cat(predictions) == torch.cat(labels)).sum()
            bad = torch.nonzero(~torch.isfinite(step_loss)).flatten()
            if len(bad):
                first = int(bad[0])
                raise NonFiniteLoss(f"{desc}: the loss is {step_loss[first].item()} at epoch "
                                    f"{epoch + 1}, step {first + 1} of {steps}; the run stopped")
            seconds = time.perf_counter() - start
            record = {"epoch": epoch + 1, "loss": step_loss.mean().item(),
                      **{f"loss_{k}": (functools.reduce(operator.add, v) / steps).item()
                         for k, v in named.items()},
                      "train_acc": 100.0 * correct.item() / len(train_loader.labels),
                      "lr": optimizer.param_groups[0]["lr"], "seconds": seconds,
                      **(on_step.end_epoch(epoch) if on_step is not None else {}),
                      **distiller.epoch_record()}
            if test_loader is not None:
                record["test_acc"] = accuracy(distiller.student, test_loader, precision)
            history.append(record)
            bar.set_postfix_str(f"epoch {epoch + 1} loss {record['loss']:.4f} "
                                f"train {record['train_acc']:.2f}%"
                                + (f" test {record['test_acc']:.2f}%" if "test_acc" in record else ""))
            if on_epoch_end is not None:
                on_epoch_end({"distiller": distiller.learnable_state_dict(),
                              "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "history": history})
    finally:
        bar.close()
    return history
