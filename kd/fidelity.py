"""How closely a student matches its teacher: Stanton et al.'s fidelity metrics, Cho &
Hariharan's KD error, and the ensemble teacher whose predictive probabilities are averaged.

- **Top-1 agreement** (Stanton, Izmailov, Kirichenko, Alemi & Wilson 2021, "Does knowledge
  distillation really work?", sec. 3): (100/n) sum_i 1{argmax_j p_t(j|x_i) = argmax_j p_s(j|x_i)},
  in percent, as gnosis computes it (`gnosis/utils/metrics.py: classifier_agreement`,
  `boilerplate/eval_epoch.py`: `predicted.eq(teacher_predicted)`, x 100).
- **Average predictive KL** (same section): (1/n) sum_i KL(p_t(.|x_i) || p_s(.|x_i)) at
  temperature 1, in nats (gnosis `eval_epoch`: `kl_divergence(Categorical(logits=teacher),
  Categorical(logits=student))`, averaged over the examples; gnosis averages per-batch means,
  kd averages over examples, the same for equal batches).
- **KD error** (Cho & Hariharan 2019, "On the efficacy of knowledge distillation", sec. 4):
  the error of the student measured against the teacher's predictions as labels, in percent:
  100 - top-1 agreement.
- **Ensemble teacher** (Stanton et al.'s deep ensembles; gnosis `reduce_ensemble_logits`):
  the members' softmax probabilities averaged, returned as log-probabilities, which act as
  logits (softmax(log p_bar) = p_bar; at temperature T the soft targets are softmax(log p_bar / T),
  as gnosis tempers the reduced logits).

`fidelity(teacher, student, loader)` runs both networks in eval mode over one pass of a loader:
the test split, the training split as it is, or the training split under its augmentation
(a seeded, random loader: the same augmented images reach both networks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import DeviceLoader
from .modes import eval_mode


def agreement(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> float:
    """Top-1 agreement in percent: the share of rows whose argmax is the same in both (Stanton
    et al. 2021, sec. 3; ties go to the first maximum, as torch.argmax breaks them)."""
    _check_pair(teacher_logits, student_logits)
    return 100.0 * (teacher_logits.argmax(1) == student_logits.argmax(1)).double().mean().item()


def kd_error(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> float:
    """Cho & Hariharan's KD error in percent: the student's top-1 error when the teacher's
    top-1 predictions are the labels, 100 - agreement."""
    return 100.0 - agreement(teacher_logits, student_logits)


def predictive_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> float:
    """Average predictive KL(p_t || p_s) at temperature 1, in nats, over the rows (Stanton et
    al. 2021, sec. 3): sum_j p_t(j) (log p_t(j) - log p_s(j)), averaged; computed in float64
    from log-softmaxes, so that 0 * log 0 is 0 and a model against itself gives exactly 0."""
    _check_pair(teacher_logits, student_logits)
    log_t = F.log_softmax(teacher_logits.double(), dim=1)
    log_s = F.log_softmax(student_logits.double(), dim=1)
    return F.kl_div(log_s, log_t, reduction="sum", log_target=True).item() / len(log_t)


def ensemble_logits(member_logits: list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """log((1/M) sum_m softmax(z_m)): the log of the members' averaged predictive
    probabilities, as gnosis's `reduce_ensemble_logits` forms it (logsumexp of the members'
    log-softmaxes minus log M), in float32."""
    if len(member_logits) == 0:
        raise ValueError("an ensemble needs at least one member's logits")
    stacked = torch.stack([F.log_softmax(z.float(), dim=1) for z in member_logits])
    return torch.logsumexp(stacked, dim=0) - math.log(len(member_logits))


class Ensemble(nn.Module):
    """A teacher made of trained networks whose predictive probabilities are averaged
    (Stanton et al. 2021; gnosis `ClassifierEnsemble` + `reduce_ensemble_logits`). Its
    forward returns `ensemble_logits` of the members: log-probabilities, which every
    soft-target loss reads as logits. It has no features to give (features=True raises)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble teacher needs two or more members, got {len(members)}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, features: bool = False) -> torch.Tensor:
        if features:
            raise ValueError("an ensemble teacher gives logits only (the averaged log-probabilities), "
                             "no features: use it with methods that read the teacher's logits")
        return ensemble_logits([m(x) for m in self.members])


@dataclass(frozen=True)
class Fidelity:
    """A student's fidelity to its teacher on `n` images: top-1 `agreement` (%), the average
    predictive `kl` (nats, T = 1), and both networks' accuracy (%) on the loader's labels."""
    agreement: float
    kl: float
    n: int
    teacher_acc: float
    student_acc: float

    @property
    def kd_error(self) -> float:
        """Cho & Hariharan's KD error: 100 - agreement (%)."""
        return 100.0 - self.agreement

    def as_dict(self) -> dict:
        return {"agreement": self.agreement, "kl": self.kl, "n": self.n, "teacher_acc": self.teacher_acc,
                "student_acc": self.student_acc}


@torch.no_grad()
def fidelity(teacher: nn.Module, student: nn.Module, loader: DeviceLoader,
             precision: str = "auto") -> Fidelity:
    """Top-1 agreement and average predictive KL (T = 1) of `student` with `teacher` over one
    pass of `loader` (its epoch 0), both networks in eval mode (their modes are restored
    afterwards) and fed the same batches: for an augmented loader, the same augmented images.
    `precision` is the runs' own ("auto": bf16 autocast where kd trains in bf16); the
    softmaxes are taken in float64."""
    from .train import autocast
    teacher_logits, student_logits, labels = [], [], []
    with eval_mode(teacher), eval_mode(student), autocast(loader.device, precision):
        for batch in loader.epoch(0):
            teacher_logits.append(teacher(batch.images).float())
            student_logits.append(student(batch.images).float())
            labels.append(batch.labels)
    t, s, y = torch.cat(teacher_logits), torch.cat(student_logits), torch.cat(labels)
    return Fidelity(agreement=agreement(t, s), kl=predictive_kl(t, s), n=len(y),
                    teacher_acc=100.0 * (t.argmax(1) == y).double().mean().item(),
                    student_acc=100.0 * (s.argmax(1) == y).double().mean().item())


def _check_pair(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> None:
    if teacher_logits.dim() != 2 or teacher_logits.shape != student_logits.shape or not len(teacher_logits):
        raise ValueError(f"teacher and student logits must be two non-empty (n, classes) tensors of one "
                         f"shape, got {tuple(teacher_logits.shape)} and {tuple(student_logits.shape)}")
