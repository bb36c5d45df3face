"""Distillers: each owns the student (and teacher, if any), keeps the teacher frozen in eval
mode, and turns a batch into the student's logits and a dict of named, weighted losses.
The trainer sums the dict; it never asks which method it runs.

The zoo of methods and the METHODS table are in `methods.py`. Adding a method: write its
loss (`losses.py` or `feature_losses.py`), a Distiller, and one entry in METHODS.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from . import losses
from .data import Batch, DeviceLoader, rows
from .modes import eval_mode


@dataclass
class Context:
    """What a method may need to build its own parts, given by the runner: a small example
    batch (for the shapes of heads and regressors), the number of training images (CRD's
    memory), the loader's normalisation (pixel-space attack steps), a factory of fresh
    students of the run's architecture, `make_student(k)` initialised from seed offset k, and
    the run's number of epochs (for losses whose weights decay over training)."""
    example: torch.Tensor
    num_samples: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    make_student: Callable[[int], nn.Module]
    epochs: int = 1

    @torch.no_grad()
    def features(self, model: nn.Module):
        """model(example, features=True) in eval mode, on the model's device."""
        with eval_mode(model):
            return model(self.example.to(next(model.parameters()).device), features=True)


class Distiller(nn.Module):
    """Plain training of the student with cross-entropy; the base of every method."""

    uses_teacher = False
    # True when the loss reads only the teacher's logits on the batch's own images, so that
    # they can be computed once per image when the inputs carry no random augmentation.
    teacher_logits_only = False

    def __init__(self, student: nn.Module, teacher: nn.Module | None = None, method=None,
                 context: Context | None = None):
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.method = method
        self._teacher_cache: torch.Tensor | None = None
        if teacher is not None:
            teacher.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True) -> "Distiller":
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def learnable_parameters(self) -> Iterator[nn.Parameter]:
        """Everything the optimizer updates: the student and the method's own heads, never
        the teacher."""
        frozen = {id(p) for p in self.teacher.parameters()} if self.teacher is not None else set()
        return (p for p in self.parameters() if id(p) not in frozen)

    def learnable_state_dict(self) -> dict[str, torch.Tensor]:
        """State of the student and the method's heads (what a checkpoint needs)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("teacher.")}

    def load_learnable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        wrong = [k for k in missing if not k.startswith("teacher.")] + list(unexpected)
        if wrong:
            raise KeyError(f"checkpoint does not fit this distiller: {wrong[:5]}")

    def run_teacher(self, images: torch.Tensor, features: bool = False):
        """The frozen teacher's forward under inference mode (no autograd bookkeeping at all).
        Its outputs are cloned out of inference mode, so that a loss may save them for the
        student's backward pass."""
        with torch.inference_mode():
            out = self.teacher(images, features=features)
        return _cloned(out)

    def cache_teacher_logits(self, loader: DeviceLoader) -> None:
        """Teacher logits for every image of an un-augmented loader, computed once."""
        if loader.random:
            raise ValueError("teacher logits can be cached only for inputs without augmentation")
        self.teacher.eval()
        step = 1024
        ready = loader.normalised()         # the loader's own normalised copy, when it keeps one
        self._teacher_cache = torch.cat([
            self.run_teacher(ready[i:i + step] if ready is not None
                             else loader.prepare(loader.images[i:i + step])).float()
            for i in range(0, len(loader.images), step)])

    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        if self._teacher_cache is not None:
            return rows(self._teacher_cache, batch.index)
        return self.run_teacher(batch.images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.student(images)

    def forward_train(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.student(batch.images)
        return logits, {"ce": losses.cross_entropy(logits, batch.labels)}

    @torch.no_grad()
    def track_fidelity(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
        """Add a training batch to the epoch's fidelity sums, as Stanton et al.'s gnosis logs
        them while it distils (`distillation_epoch`: train_ts_agree, train_ts_kl): top-1
        agreement and KL(p_t || p_s) at T = 1 between the student's training-mode logits and
        the teacher's, on the batch as augmented. The sums stay on the device; the weights and
        the losses are untouched. kd.fidelity measures the same in eval mode afterwards. Not
        compiled: kd.train.fit wraps it in torch.compiler.disable when it compiles a step (a
        decorator here would import torch._dynamo, 2 s, in every process that imports kd)."""
        s, t = student_logits.detach().float(), teacher_logits.detach().float()
        log_t = torch.log_softmax(t, dim=1)
        kl = (log_t.exp() * (log_t - torch.log_softmax(s, dim=1))).sum(1).sum()
        agree = (s.argmax(1) == t.argmax(1)).sum()
        if getattr(self, "_fidelity_sums", None) is None:
            self._fidelity_sums = [agree.new_zeros((), dtype=torch.float64), kl.new_zeros((), dtype=torch.float64), 0]
        sums = self._fidelity_sums
        sums[0] += agree
        sums[1] += kl
        sums[2] += len(s)

    def epoch_record(self) -> dict[str, float]:
        """Entries the trainer adds to the epoch's history record, then a fresh start:
        "train_agree" (% top-1 agreement with the teacher on the epoch's training batches) and
        "train_kl" (mean KL(p_t || p_s) at T = 1, nats) when `track_fidelity` saw batches."""
        sums, self._fidelity_sums = getattr(self, "_fidelity_sums", None), None
        if not sums or not sums[2]:
            return {}
        return {"train_agree": 100.0 * sums[0].item() / sums[2], "train_kl": sums[1].item() / sums[2]}


class HintonKD(Distiller):
    """(1 - alpha) * CE(y, s) + alpha * T^2 * KL(p_t^T || p_s^T)  (Hinton et al. 2015;
    zhang eq. 2)."""

    uses_teacher = True
    teacher_logits_only = True

    def forward_train(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        alpha, T = self.method.alpha, self.method.T
        logits = self.student(batch.images)
        teacher_logits = self.teacher_logits(batch)
        self.track_fidelity(logits, teacher_logits)
        return logits, {
            "ce": (1 - alpha) * losses.cross_entropy(logits, batch.labels),
            "kd": alpha * losses.hinton_kd(logits, teacher_logits, T),
        }


def _cloned(out):
    """A copy of a network's output (a tensor, a list of them or a Features) outside
    inference mode."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, list):
        return [_cloned(o) for o in out]
    if out is None:
        return None
    return type(out)(*(_cloned(o) for o in out))
