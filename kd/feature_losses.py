"""Feature-, relation- and sample-based distillation losses, as pure functions of tensors.

Each function cites its paper and the equation it implements, and says which normalisation
it uses where papers and reference code differ. Defaults follow Sarfraz et al. 2020
("Knowledge distillation beyond model compression", Table I) unless stated otherwise.

Conventions shared by every loss here:
  * inputs are cast to float32 (`.float()`), so tensors produced under bf16 autocast are safe;
  * teacher tensors are detached: no gradient ever flows into the teacher;
  * feature maps are (batch, channels, height, width); embeddings are (batch, ...) and
    flattened to (batch, dim).
Adversarial examples (PGD, BSS's boundary attack and the others) live in `kd.attacks`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _as_list(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


def _common_size(a: Tensor, b: Tensor) -> tuple[int, int]:
    """The smaller spatial size, dimension by dimension, of two (B, C, H, W) maps."""
    return min(a.shape[-2], b.shape[-2]), min(a.shape[-1], b.shape[-1])


def _pool_to(f: Tensor, size: tuple[int, int]) -> Tensor:
    """Adaptive average pooling of a (B, C, H, W) map down to `size` (no-op if equal)."""
    return f if tuple(f.shape[-2:]) == tuple(size) else F.adaptive_avg_pool2d(f, size)


def _safe_norm(v: Tensor, eps: float = 1e-12) -> tuple[Tensor, Tensor]:
    """Euclidean norm over the last dim and a mask of the vectors that are not zero.

    sqrt has an infinite derivative at 0: the norm is taken of the clamped squared length and
    zero vectors are masked with `torch.where`, whose gradient to the unused branch is exactly
    0, so identical points give finite (zero) gradients instead of NaN.
    """
    sq = v.pow(2).sum(-1)
    nonzero = sq > eps
    return torch.where(nonzero, sq.clamp_min(eps).sqrt(), torch.zeros_like(sq)), nonzero


# ---------------------------------------------------------------------------------------------
# AT: attention transfer
# ---------------------------------------------------------------------------------------------

def attention_map(f: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Spatial attention Q = mean_c f_c^2, flattened and L2-normalised per example: (B, H*W).

    Zagoruyko & Komodakis 2017, "Paying more attention to attention", sec. 3.1: the map
    F_sum^2 (power p = 2 of the channel activations), here averaged rather than summed over
    channels, which changes nothing after the normalisation. If `size` is given the
    unnormalised map is adaptive-average-pooled to it before normalising (pooling f^2 then
    averaging channels equals the reverse, both being linear).
    """
    a = f.float().pow(2).mean(dim=1, keepdim=True)
    if size is not None:
        a = _pool_to(a, size)
    return F.normalize(a.flatten(1), dim=1)


def attention_transfer(student_feats: Tensor | Sequence[Tensor],
                       teacher_feats: Tensor | Sequence[Tensor], beta: float = 1000.0) -> Tensor:
    """beta * sum_j mean_{b,p} (a_s^j - a_t^j)_{b,p}^2 with a = attention_map(f).

    Zagoruyko & Komodakis 2017, eq. 2 writes beta/2 * sum_j || Q_s^j/||Q_s^j|| - Q_t^j/||Q_t^j|| ||_p;
    this is the form of the authors' CIFAR code (szagoruyko/attention-transfer, cifar.py:
    `opt.beta * sum(at_losses)`, each `(at(x) - at(y)).pow(2).mean()`), which RepDistiller keeps
    and to which the published betas belong: the squared difference of the normalised maps,
    averaged over the batch AND the H*W positions (not summed), times beta (not beta/2) summed
    over the pairs. Sarfraz Table I: beta = 1000.

    Pitfall guarded: pairs with different spatial sizes; the larger map is adaptive-average-
    pooled down to the smaller one (per dimension) before normalisation. Channels may differ.
    """
    s_list, t_list = _as_list(student_feats), _as_list(teacher_feats)
    if len(s_list) != len(t_list):
        raise ValueError(f"{len(s_list)} student maps but {len(t_list)} teacher maps")
    total = s_list[0].new_zeros((), dtype=torch.float32)
    for fs, ft in zip(s_list, t_list):
        size = _common_size(fs, ft)
        a_s, a_t = attention_map(fs, size), attention_map(ft.detach(), size)
        total = total + (a_s - a_t).pow(2).mean()
    return beta * total


# ---------------------------------------------------------------------------------------------
# SP: similarity-preserving
# ---------------------------------------------------------------------------------------------

def sp_similarity(f: Tensor) -> Tensor:
    """G~ = row-L2-normalised (Q Q^T), Q = f flattened to (b, c*h*w): a (b, b) matrix.

    Tung & Mori 2019, "Similarity-preserving knowledge distillation", eqs. 2-3 (teacher) and
    their student counterparts.
    """
    q = f.float().flatten(1)
    return F.normalize(q @ q.t(), dim=1)


def similarity_preserving(fs: Tensor | Sequence[Tensor], ft: Tensor | Sequence[Tensor],
                          gamma: float = 3000.0) -> Tensor:
    """gamma * sum_pairs ||G~_s - G~_t||_F^2 / b^2.

    Tung & Mori 2019, eq. 4 (the squared Frobenius norm divided by b^2, summed over layer
    pairs), with the weight gamma of their eq. 5; Sarfraz Table I: gamma = 3000. Student and
    teacher may have any channel counts and spatial sizes: only the b x b similarities meet.
    """
    s_list, t_list = _as_list(fs), _as_list(ft)
    if len(s_list) != len(t_list):
        raise ValueError(f"{len(s_list)} student maps but {len(t_list)} teacher maps")
    total = s_list[0].new_zeros((), dtype=torch.float32)
    for a, b in zip(s_list, t_list):
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"batch sizes differ: student {tuple(a.shape)}, teacher {tuple(b.shape)}")
        n = a.shape[0]
        total = total + (sp_similarity(a) - sp_similarity(b.detach())).pow(2).sum() / (n * n)
    return gamma * total


# ---------------------------------------------------------------------------------------------
# RKD: relational knowledge distillation
# ---------------------------------------------------------------------------------------------

def rkd_pairwise_distances(e: Tensor, eps: float = 1e-12) -> Tensor:
    """psi_D: the (n, n) Euclidean distances divided by their mean over non-zero pairs.

    Park et al. 2019, "Relational knowledge distillation", eq. 3 (mu = mean distance over
    pairs). Pitfall guarded: identical embeddings in a batch (distance 0) would give NaN
    gradients through sqrt and 0/0 if all are identical; see `_safe_norm`. Differences are
    formed explicitly (not by |a|^2 + |b|^2 - 2ab), so duplicates give exactly 0.
    """
    e = e.float().flatten(1)
    d, nonzero = _safe_norm(e.unsqueeze(0) - e.unsqueeze(1), eps)
    mu = d.sum() / nonzero.sum().clamp_min(1)
    return d / mu.clamp_min(eps)


def rkd_angles(e: Tensor, eps: float = 1e-12) -> Tensor:
    """psi_A: (n, n, n) cosines <u_ij, u_kj>, u_ij = (e_i - e_j)/||e_i - e_j|| (angle at e_j).

    Park et al. 2019, eq. 5. Degenerate triplets (a zero difference vector) contribute a
    cosine of 0 with a zero gradient instead of NaN.
    """
    e = e.float().flatten(1)
    diff = e.unsqueeze(0) - e.unsqueeze(1)          # diff[j, i] = e_i - e_j
    norm, nonzero = _safe_norm(diff, eps)
    unit = torch.where(nonzero.unsqueeze(-1), diff / norm.clamp_min(eps).unsqueeze(-1),
                       torch.zeros_like(diff))
    return unit @ unit.transpose(1, 2)              # [j, i, k] = <u_ij, u_kj>


def rkd_distance(es: Tensor, et: Tensor) -> Tensor:
    """Huber(psi_D(s), psi_D(t)) averaged over all n^2 pairs (i = j included, both 0).

    Park et al. 2019, eq. 4 (RKD-D), with the Huber loss of delta = 1 (`smooth_l1_loss`),
    and the mean over X^2 as in the authors' code.
    """
    return F.smooth_l1_loss(rkd_pairwise_distances(es), rkd_pairwise_distances(et.detach()))


def rkd_angle(es: Tensor, et: Tensor) -> Tensor:
    """Huber(psi_A(s), psi_A(t)) averaged over all n^3 triplets.

    Park et al. 2019, eq. 6 (RKD-A), Huber with delta = 1, mean over X^3 as in their code.
    """
    return F.smooth_l1_loss(rkd_angles(es), rkd_angles(et.detach()))


def rkd(es: Tensor, et: Tensor, w_dist: float = 25.0, w_angle: float = 50.0) -> Tensor:
    """w_dist * RKD-D + w_angle * RKD-A (Park et al. 2019, sec. 3.3; lambdas 25 and 50).

    RKD-D is w_angle = 0 and RKD-A is w_dist = 0; a zero-weighted term is not computed.
    """
    loss = es.new_zeros((), dtype=torch.float32)
    if w_dist:
        loss = loss + w_dist * rkd_distance(es, et)
    if w_angle:
        loss = loss + w_angle * rkd_angle(es, et)
    return loss


# ---------------------------------------------------------------------------------------------
# FSP: flow of solution procedure
# ---------------------------------------------------------------------------------------------

def fsp_matrix(f1: Tensor, f2: Tensor) -> Tensor:
    """G_ij = sum_{x,y} f1_i(x,y) f2_j(x,y) / (h*w): a (B, C1, C2) matrix per example.

    Yim et al. 2017, "A gift from knowledge distillation: fast optimization, network
    minimization and transfer learning", eq. 1. If the two maps' spatial sizes differ, the
    larger is adaptive-average-pooled to the smaller (per dimension), and h*w is that size.
    """
    size = _common_size(f1, f2)
    a, b = _pool_to(f1.float(), size), _pool_to(f2.float(), size)
    return a.flatten(2) @ b.flatten(2).transpose(1, 2) / (size[0] * size[1])


def fsp_loss(student_pairs: Sequence[tuple[Tensor, Tensor]],
             teacher_pairs: Sequence[tuple[Tensor, Tensor]],
             weights: Sequence[float] | None = None) -> Tensor:
    """sum_i w_i * mean_{b,j,k} (G_s^i - G_t^i)_{bjk}^2: the squared entries averaged.

    Yim et al. 2017, eq. 2: (1/N) sum_x sum_i lambda_i ||G_i^T(x) - G_i^S(x)||_2^2, the norm
    being the Frobenius norm of the C1 x C2 matrix. We divide each pair's norm by C1*C2 (a mean
    over entries, as the public FSP implementations do): with the sum, stage 1 of ResNet-8 from
    ResNet-14 diverged at Sarfraz's rate of 0.001 (tests/test_methods.py runs it).
    Weights default to 1 for every pair.
    Pitfall guarded: the student's channels must equal the teacher's in both maps of a pair
    (ValueError naming the shapes), otherwise the matrices cannot be compared.
    """
    if len(student_pairs) != len(teacher_pairs):
        raise ValueError(f"{len(student_pairs)} student pairs but {len(teacher_pairs)} teacher pairs")
    weights = [1.0] * len(student_pairs) if weights is None else list(weights)
    if len(weights) != len(student_pairs):
        raise ValueError(f"{len(weights)} weights for {len(student_pairs)} pairs")
    total = student_pairs[0][0].new_zeros((), dtype=torch.float32)
    for i, ((s1, s2), (t1, t2), w) in enumerate(zip(student_pairs, teacher_pairs, weights)):
        if s1.shape[:2] != t1.shape[:2] or s2.shape[:2] != t2.shape[:2]:
            raise ValueError(
                f"FSP pair {i}: student maps {tuple(s1.shape)}, {tuple(s2.shape)} and teacher maps "
                f"{tuple(t1.shape)}, {tuple(t2.shape)} differ in batch or channels")
        g_s, g_t = fsp_matrix(s1, s2), fsp_matrix(t1.detach(), t2.detach())
        total = total + w * (g_s - g_t).pow(2).mean()
    return total


# ---------------------------------------------------------------------------------------------
# FitNet hints
# ---------------------------------------------------------------------------------------------

def hint_loss(regressed_student: Tensor, teacher_feat: Tensor) -> Tensor:
    """1/2 ||u_h(x) - r(v_g(x))||^2, summed over C*H*W and averaged over the batch.

    Romero et al. 2015, "FitNets: hints for thin deep nets", eq. 3, per example, then the
    batch mean. Public codes (RepDistiller's HintLoss, `--distill hint -b 100`) take instead
    the element mean of `mse_loss` times a weight: smaller by C*H*W / (2 * weight), 41x for
    a 32x16x16 block-2 map at weight 100. kd follows the paper, and with it Sarfraz's stage 1,
    which gives no weight (Table I: W = [0, 1, 0]).
    """
    if regressed_student.shape != teacher_feat.shape:
        raise ValueError(f"regressed student {tuple(regressed_student.shape)} and teacher "
                         f"{tuple(teacher_feat.shape)} differ; map the student with HintRegressor")
    diff = regressed_student.float() - teacher_feat.detach().float()
    return 0.5 * diff.pow(2).flatten(1).sum(1).mean()


class HintRegressor(nn.Module):
    """r(.) of FitNets (Romero et al. 2015, sec. 2.2): conv (1x1 or 3x3, 'same') + BN + ReLU
    mapping the student's channels to the teacher's.

    The ReLU is FitNets' rule that "u_h and r must be the same non-linearity": the teacher's
    hint maps kd reads are ReLU outputs (post-activation CIFAR ResNets; for pre-activation
    networks FitNetHint reads ReLU(BN(.)) of the group output, see `activated`). Public codes
    (RepDistiller's ConvReg) end in the same ReLU. `relu=False` drops it.
    FitNets choose the conv kernel so that the output has the teacher's spatial size; here
    `forward(x, size)` instead resizes the student map first, by adaptive average pooling when
    it is larger than `size` and bilinear interpolation when it is smaller.
    """

    def __init__(self, student_channels: int, teacher_channels: int, kernel_size: int = 1,
                 relu: bool = True):
        super().__init__()
        if kernel_size not in (1, 3):
            raise ValueError(f"kernel_size must be 1 or 3, not {kernel_size}")
        self.conv = nn.Conv2d(student_channels, teacher_channels, kernel_size,
                              padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)
        self.relu = relu

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
                x = F.adaptive_avg_pool2d(x, size)
            else:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        out = self.bn(self.conv(x))
        return F.relu(out) if self.relu else out


# ---------------------------------------------------------------------------------------------
# Tf-KD: teacher-free distillation with a virtual teacher
# ---------------------------------------------------------------------------------------------

def tf_kd_virtual_teacher(labels: Tensor, num_classes: int, a: float = 0.9) -> Tensor:
    """p^d(k) = a if k = c else (1 - a)/(K - 1): the hand-designed teacher, (B, K), float32.

    Yuan et al. 2020, "Revisiting knowledge distillation via label smoothing regularization",
    sec. 4 (Tf-KD_reg); zhang eq. 4.
    """
    if num_classes < 2:
        raise ValueError(f"need at least 2 classes, got {num_classes}")
    p = torch.full((labels.shape[0], num_classes), (1.0 - a) / (num_classes - 1),
                   dtype=torch.float32, device=labels.device)
    return p.scatter(1, labels.view(-1, 1), a)


def tf_kd_reg(student_logits: Tensor, labels: Tensor, T: float, a: float = 0.9,
              soften_virtual: bool = True) -> Tensor:
    """T^2 * KL(p^d_T || softmax(s/T)), summed over classes, averaged over the batch.

    Yuan et al. 2020, Tf-KD_reg, eq. 9 (zhang eq. 4): the regulariser D_KL(p^d_T, p_T) of the
    objective (1 - alpha) H(q, p) + alpha D_KL(p^d_T, p_T); this function returns only the KL
    term, times T^2 like `losses.hinton_kd`; the caller adds the cross-entropy and the alpha
    mix. The virtual teacher p^d (`a` on the true class, (1 - a)/(K - 1) elsewhere) is
    softened at temperature T as the paper writes p^d_T, tempered like logits:
    p^d_T = softmax(log p^d / T); `soften_virtual=False` uses p^d as it is.
    The authors' public code departs from eq. 9: it applies softmax(p^d / T) to the
    probabilities, does not temper the student, and scales an element-wise-mean KL by a
    "multiplier" (100 for ResNet18); kd implements the equation, not the code.
    """
    p = tf_kd_virtual_teacher(labels, student_logits.shape[1], a)
    if soften_virtual:
        p = F.softmax(p.log() / T, dim=1)
    log_q = F.log_softmax(student_logits.float() / T, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean") * (T * T)


# ---------------------------------------------------------------------------------------------
# CRD: contrastive representation distillation
# ---------------------------------------------------------------------------------------------

class Embed(nn.Module):
    """g(.) of CRD: a linear map to `dim` then L2 normalisation (Tian et al. 2020, sec. 3.2)."""

    def __init__(self, in_dim: int, dim: int = 128):
        super().__init__()
        self.linear = nn.Linear(in_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear(x.flatten(1)).float(), dim=1)


class CRDMemory(nn.Module):
    """Memory bank of CRD: one slot per training sample for student and teacher embeddings.

    Tian, Krishnan & Isola 2020, "Contrastive representation distillation", sec. 3.4 (the NCE
    objective, eq. 10, with K negatives drawn from a memory bank updated by momentum).
    For a batch with dataset indices y, the positive of sample b is slot y_b and its K
    negatives are drawn uniformly, with replacement, from the other N - 1 slots (never y_b).

    `loss="nce"` (default) is the paper's NCE: with P = exp(v . m / tau) / Z,
    -sum_b [log P_pos/(P_pos + K/N) + sum_neg log (K/N)/(P_neg + K/N)] / B for each view, where
    Z = N * mean(exp(v . m / tau)) is estimated on the first batch (per view) and then fixed,
    as in the authors' code (without their 1e-7 in the denominators; logs are taken with
    logaddexp). `loss="softmax"` is the InfoNCE variant: cross-entropy of the positive among the
    K + 1 scores v . m / tau. The two views are the student embedding against the teacher
    memory and the teacher embedding against the student memory; the loss is their sum.

    The memory is updated after the loss has been computed, without gradient:
    m_y <- normalise(momentum * m_y + (1 - momentum) * v_y). Slots start uniform in
    [-1/sqrt(dim/3), 1/sqrt(dim/3)] like the reference code.
    """

    def __init__(self, n_data: int, dim: int = 128, k: int = 16384, tau: float = 0.07,
                 momentum: float = 0.5, loss: str = "nce"):
        super().__init__()
        if n_data < 2:
            raise ValueError("CRD needs at least 2 training samples")
        if loss not in ("nce", "softmax"):
            raise ValueError(f"loss must be 'nce' or 'softmax', not {loss!r}")
        self.n_data, self.k, self.tau, self.momentum, self.loss = n_data, k, tau, momentum, loss
        stdv = 1.0 / (dim / 3) ** 0.5
        self.register_buffer("memory_s", torch.rand(n_data, dim).mul_(2 * stdv).sub_(stdv))
        self.register_buffer("memory_t", torch.rand(n_data, dim).mul_(2 * stdv).sub_(stdv))
        self.register_buffer("z", torch.full((2,), -1.0))   # Z of (student, teacher) view; <0: unset

    def sample_indices(self, index: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, K + 1) slots: column 0 is the positive `index`, the rest uniform over the others."""
        r = torch.randint(0, self.n_data - 1, (index.shape[0], self.k), device=index.device,
                          generator=generator)
        neg = r + (r >= index.view(-1, 1)).long()   # skip the positive: uniform over N - 1 slots
        return torch.cat([index.view(-1, 1), neg], dim=1)

    def scores(self, v: Tensor, memory: Tensor, idx: Tensor, full: bool | None = None) -> Tensor:
        """(B, K + 1) dot products v_b . memory[idx_b]. The reference code gathers the slots,
        a (B, K + 1, d) copy: 1 GB per view at K = 16,384 and B = 128, which makes the step
        memory-bound on a CPU. Where the bank is not much larger than K + 1 (`full`, default
        N <= 4 (K + 1)), v @ memory^T scores every slot at a few times the multiply-adds and the
        needed columns are picked out of it: the same numbers, with a copy of N x d instead."""
        if full is None:
            full = self.n_data <= 4 * idx.shape[1]
        if full:
            return torch.gather(v @ memory.clone().T, 1, idx)   # a copy: update() writes in place
        return (memory[idx] @ v.unsqueeze(-1)).squeeze(-1)

    def _view_loss(self, v: Tensor, memory: Tensor, idx: Tensor, view: int) -> Tensor:
        logits = self.scores(v, memory, idx) / self.tau
        if self.loss == "softmax":
            return F.cross_entropy(logits, torch.zeros_like(idx[:, 0]))
        with torch.no_grad():
            estimate = logits.exp().mean() * self.n_data
            z = torch.where(self.z[view] < 0, estimate, self.z[view])
            self.z[view] = z
        log_p = logits - z.log()                                # log P = v.m/tau - log Z
        k = idx.shape[1] - 1
        log_mpn = torch.tensor(k / self.n_data, device=v.device).log()   # log(K * P_n), P_n = 1/N
        log_d1 = log_p[:, 0] - torch.logaddexp(log_p[:, 0], log_mpn)
        log_d0 = log_mpn - torch.logaddexp(log_p[:, 1:], log_mpn)
        return -(log_d1.sum() + log_d0.sum()) / v.shape[0]

    @torch.no_grad()
    def update(self, index: Tensor, v_s: Tensor, v_t: Tensor) -> None:
        """Momentum update of the slots `index` (Tian et al. 2020, sec. 3.4 / reference code)."""
        for memory, v in ((self.memory_s, v_s), (self.memory_t, v_t)):
            new = memory[index] * self.momentum + v.float() * (1 - self.momentum)
            memory.index_copy_(0, index, F.normalize(new, dim=1))

    def forward(self, v_s: Tensor, v_t: Tensor, index: Tensor,
                contrast_idx: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """CRD loss for L2-normalised embeddings v_s, v_t (B, d) of the samples `index`.

        `contrast_idx` (B, K') optionally gives the negatives (e.g. drawn from other classes,
        the reference code's 'exact' mode); by default they are drawn by `sample_indices`.
        """
        index = index.long()
        if contrast_idx is None:
            idx = self.sample_indices(index, generator)
        else:
            idx = torch.cat([index.view(-1, 1), contrast_idx.long()], dim=1)
        v_s, v_t = v_s.float(), v_t.float()
        loss = (self._view_loss(v_s, self.memory_t, idx, 0)
                + self._view_loss(v_t, self.memory_s, idx, 1))
        self.update(index, v_s.detach(), v_t.detach())
        return loss


class CRDLoss(nn.Module):
    """Embedding heads plus memory: `forward(feat_s, feat_t, index)` -> CRD loss.

    Features are taken before the heads (e.g. penultimate activations). The teacher's features
    are detached (its backbone is frozen) but its head is trained, as in Tian et al. 2020.
    """

    def __init__(self, s_dim: int, t_dim: int, n_data: int, dim: int = 128, k: int = 16384,
                 tau: float = 0.07, momentum: float = 0.5, loss: str = "nce"):
        super().__init__()
        self.embed_s, self.embed_t = Embed(s_dim, dim), Embed(t_dim, dim)
        self.memory = CRDMemory(n_data, dim, k, tau, momentum, loss)

    def forward(self, feat_s: Tensor, feat_t: Tensor, index: Tensor,
                contrast_idx: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        return self.memory(self.embed_s(feat_s), self.embed_t(feat_t.detach()), index,
                           contrast_idx, generator)
