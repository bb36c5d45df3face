"""Size and speed of networks: parameters, multiply-accumulates, inference time."""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .modes import eval_mode


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


def inference_ratio(teacher: nn.Module, student: nn.Module, batch: torch.Tensor,
                    repeats: int = 30, rounds: int = 3) -> tuple[float, float, float]:
    """Teacher/student inference-time ratio on the same batch and device: medians over
    interleaved rounds, so that drift in the machine's speed touches both alike.
    Returns (teacher seconds, student seconds, ratio)."""
    t, s = [], []
    for _ in range(rounds):
        t.append(inference_seconds(teacher, batch, repeats))
        s.append(inference_seconds(student, batch, repeats))
    teacher_s, student_s = statistics.median(t), statistics.median(s)
    return teacher_s, student_s, teacher_s / student_s
