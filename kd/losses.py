"""Distillation losses as pure functions of tensors. Each cites the paper and equation."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(logits: torch.Tensor, T: float) -> torch.Tensor:
    """q_i = exp(z_i / T) / sum_j exp(z_j / T)  (Hinton et al. 2015, eq. 1; zhang eq. 1)."""
    return F.softmax(logits.float() / T, dim=1)


def hinton_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), summed over classes and averaged over the batch.

    Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network", sec. 2:
    the soft-target term, multiplied by T^2 so that its gradients keep their size as T
    changes. Equal, up to a constant, to the soft cross-entropy H(p_t, p_s) at temperature T;
    the KL form makes its minimum 0, reached when the two tempered distributions agree.
    Softmaxes are taken in float32 even under bf16 autocast. The teacher's logits are detached
    here, whatever the caller passes: no gradient ever reaches the teacher through this term.
    """
    log_p_s = F.log_softmax(student_logits.float() / T, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach().float() / T, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (T * T)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy with hard labels, averaged over the batch (in float32)."""
    return F.cross_entropy(logits.float(), labels)
