"""Size and speed of networks: parameters, multiply-accumulates, inference time; and the
machine every timing was taken on."""
from __future__ import annotations

import statistics
import time
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .modes import eval_mode
from .train import cpu_name, machine, resolve_precision  # noqa: F401  (kd.measure.machine, as before)


def count_params(model: nn.Module, include_bias: bool = True) -> int:
    """Number of parameters; without biases when include_bias is False (zhang Table 1 counts
    weights only: 940800 + 1440000 + 12000 for the 784-1200-1200-10 teacher)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if include_bias or not name.endswith("bias"))


@torch.no_grad()
def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass per input image (what zhang Table 1 calls
    FLOPS: 2,392,800 for the teacher), from PyTorch's FLOP counter (2 FLOPs per MAC)."""
    counter = FlopCounterMode(display=False)
    with eval_mode(model), counter:
        model(example)
    return counter.get_total_flops() // 2 // example.shape[0]


@torch.inference_mode()
def inference_seconds(model: nn.Module, batch: torch.Tensor, repeats: int = 30, warmup: int = 3) -> float:
    """Median wall time of one forward pass over `batch` (eval mode, inference mode)."""
    sync = torch.cuda.synchronize if batch.is_cuda else (lambda: None)
    times = []
    with eval_mode(model):
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            model(batch)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


class Speed(NamedTuple):
    """Median seconds of one forward pass over the batch, and their ratio teacher / student."""
    teacher_s: float
    student_s: float
    ratio: float


def inference_ratio(teacher: nn.Module, student: nn.Module, batch: torch.Tensor,
                    repeats: int = 30, rounds: int = 3) -> Speed:
    """Teacher/student inference-time ratio on the same batch and device (gupta Tables 1-2):
    medians over interleaved rounds, so that drift in the machine's speed touches both
    alike. Returns Speed(teacher seconds, student seconds, ratio), a tuple."""
    if not isinstance(teacher, nn.Module) or not isinstance(student, nn.Module):
        raise TypeError("teacher and student must be torch.nn.Module instances")
    if not isinstance(batch, torch.Tensor) or batch.ndim < 2 or len(batch) == 0 or not batch.is_floating_point():
        raise ValueError(f"batch must be a non-empty floating-point tensor, batch first; got "
                         f"{getattr(batch, 'shape', type(batch).__name__)} {getattr(batch, 'dtype', '')}")
    for name, value in (("repeats", repeats), ("rounds", rounds)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a whole number >= 1")
    t, s = [], []
    for _ in range(rounds):
        t.append(inference_seconds(teacher, batch, repeats))
        s.append(inference_seconds(student, batch, repeats))
    teacher_s, student_s = statistics.median(t), statistics.median(s)
    return Speed(teacher_s, student_s, teacher_s / student_s)


def epoch_seconds(cfg, steps: int = 20, rounds: int = 3, device: torch.device | str | None = None) -> float:
    """Seconds one training epoch of a RunConfig takes on this machine, measured with kd's
    own trainer: a warm-up pass, then `rounds` passes of `steps` batches of the run's method,
    network, batch size, augmentation and precision (a teacher runs with its initial weights:
    its cost does not depend on them); the median pass, scaled to the number of batches in
    the run's training split. The median keeps a brief disturbance of one pass out.
    Evaluation is not included."""
    from .config import TrainConfig
    from .data import DeviceLoader
    from .methods import METHODS
    from .runner import _build_student, _context, split
    from .train import default_device, fit
    device = torch.device(device) if device is not None else default_device()
    train, _ = split(cfg.data)
    batches = -(-len(train) // cfg.train.batch_size)
    timed = train.subset(torch.arange(min(len(train), steps * cfg.train.batch_size)))
    teacher = _build_student(cfg.teacher, train) if cfg.teacher is not None else None
    if cfg.teacher_seeds:       # an ensemble teacher runs every member
        from .fidelity import Ensemble
        teacher = Ensemble([_build_student(cfg.teacher, train, k) for k in range(len(cfg.teacher_seeds))])
    distiller = METHODS[cfg.method.name](_build_student(cfg, train), teacher, cfg.method,
                                         _context(cfg, train))
    loader = DeviceLoader(timed, cfg.train.batch_size, device, shuffle=True,
                          augment=cfg.data.augmentation, seed=cfg.seed)
    one_epoch = TrainConfig(**{**cfg.train.__dict__, "epochs": 1, "schedule": "constant", "milestones": ()})
    fit(distiller, loader, None, one_epoch, cfg.seed, progress=False)           # warm-up
    passes = [fit(distiller, loader, None, one_epoch, cfg.seed, progress=False)[0]["seconds"]
              for _ in range(rounds)]
    return statistics.median(passes) / len(loader) * batches
