"""The method zoo: one Distiller per method, and METHODS, the table the configs read.

Each distiller turns a batch into the student's logits and a dict of named, weighted losses;
the trainer sums the dict and never asks which method it runs. Defaults follow Sarfraz et al.
2020, Table I, unless the method's own paper says otherwise.

Two-stage methods are two runs: the stage-1 run (method "fitnet" or "fsp") trains the student
on the hint or the flow matrices alone, and the stage-2 run (method "hinton") starts from it
through `RunConfig(init=stage1)`.
"""
from __future__ import annotations

import torch
from torch import nn

from . import attacks
from . import feature_losses as fl
from . import losses
from .data import Batch
from .distill import Context, Distiller, HintonKD
from .models.resnet_cifar import StagedNet


def _paired(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> tuple[list, list]:
    """The last k stages of each network, k the smaller count (block 1..3 of CIFAR nets)."""
    k = min(len(student), len(teacher))
    return student[-k:], teacher[-k:]


def _weight(method, default: float) -> float:
    """The method's own loss weight: `method.weight` when given (0 included), else `default`."""
    return default if method.weight is None else method.weight


class FeatureDistiller(Distiller):
    """Base of the methods that read the teacher's features: runs both networks with
    features=True (the teacher without gradient) and adds `feature_loss` to cross-entropy."""

    uses_teacher = True

    def teacher_features(self, images: torch.Tensor):
        return self.run_teacher(images, features=True)

    def forward_train(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.student(batch.images, features=True)
        t = self.teacher_features(batch.images)
        return s.logits, {"ce": losses.cross_entropy(s.logits, batch.labels),
                          **self.feature_loss(s, t, batch)}

    def feature_loss(self, s, t, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class AttentionTransfer(FeatureDistiller):
    """CE + beta sum_j mean ||Q_s^j - Q_t^j||^2 at blocks 1, 2, 3 (Zagoruyko & Komodakis 2017,
    eq. 2, weighted as their code weighs it: see fl.attention_transfer; beta 1000 as in Sarfraz
    Table I)."""

    def feature_loss(self, s, t, batch):
        fs, ft = _paired(s.stages, t.stages)
        return {"at": fl.attention_transfer(fs, ft, beta=_weight(self.method, 1000.0))}


class SimilarityPreserving(FeatureDistiller):
    """CE + gamma ||G_s - G_t||_F^2 / b^2 at block 3 (Tung & Mori 2019, eq. 4-5; gamma 3000)."""

    def feature_loss(self, s, t, batch):
        return {"sp": fl.similarity_preserving(s.stages[-1], t.stages[-1],
                                               gamma=_weight(self.method, 3000.0))}


class RelationalKD(FeatureDistiller):
    """CE + 25 * RKD-D + 50 * RKD-A on the pooled embedding (Park et al. 2019, eq. 3-6);
    "rkd_d" and "rkd_a" keep one of the two terms."""

    terms = (True, True)

    def feature_loss(self, s, t, batch):
        use_d, use_a = self.terms
        return {"rkd": fl.rkd(s.embedding, t.embedding, w_dist=self.method.w_dist if use_d else 0.0,
                              w_angle=self.method.w_angle if use_a else 0.0)}


class RelationalKDDistance(RelationalKD):
    terms = (True, False)


class RelationalKDAngle(RelationalKD):
    terms = (False, True)


def _activated_stages(model: nn.Module, f) -> list[torch.Tensor]:
    """The stage maps as the next layer reads them (ReLU outputs; `model.activated`), or the
    raw stage outputs for networks without a stem or `activated`."""
    if f.stem is None or not hasattr(model, "activated"):
        return list(f.stages)
    return model.activated([f.stem, *f.stages])[1:]


class FitNetHint(FeatureDistiller):
    """Stage 1 of FitNet (Romero et al. 2015, eq. 3): the student's block features, mapped by a
    trained regressor (conv, BN, ReLU), regress the teacher's activated block maps, summed over
    C*H*W (fl.hint_loss); no label loss. `block_weights` weighs blocks 1, 2, 3 (Sarfraz Table
    I: W = [0, 1, 0], block 2 only). The teacher's maps are ReLU outputs (for pre-activation
    WRNs ReLU(BN(group output)), see `activated`), so the regressor ends in the same ReLU."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        self.block_weights = tuple(method.block_weights or (0.0, 1.0, 0.0))
        s_stages, t_stages = _paired(context.features(student).stages, context.features(teacher).stages)
        if len(self.block_weights) != len(s_stages):
            raise ValueError(f"block_weights={self.block_weights} has {len(self.block_weights)} "
                             f"entries for {len(s_stages)} paired blocks")
        self.regressors = nn.ModuleList(
            fl.HintRegressor(fs.shape[1], ft.shape[1]) for fs, ft in zip(s_stages, t_stages))

    def forward_train(self, batch, epoch):
        s = self.student(batch.images, features=True)
        t = self.teacher_features(batch.images)
        with torch.no_grad():
            t_maps = _activated_stages(self.teacher, t)
        fs, ft = _paired(s.stages, t_maps)
        hint = sum(w * fl.hint_loss(r(a, tuple(b.shape[-2:])), b)
                   for w, r, a, b in zip(self.block_weights, self.regressors, fs, ft) if w)
        return s.logits, {"hint": hint}


class FlowOfSolution(FeatureDistiller):
    """Stage 1 of FSP (Yim et al. 2017, eq. 2): the student's flow matrices between the stem
    and block 1, block 1 and 2, block 2 and 3 match the teacher's; no label loss.
    `block_weights` weighs the three pairs (Sarfraz Table I: W = [1, 3, 1]). The maps are the
    activated ones (Yim's are ReLU outputs; for pre-activation WRNs, ReLU(BN(group output)),
    see WideResNet.activated): on the raw sums, stage 1 diverged at lr 0.001 on the WRN pair."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        self.block_weights = tuple(method.block_weights or (1.0, 3.0, 1.0))
        s, t = context.features(student), context.features(teacher)
        if s.stem is None or t.stem is None or not hasattr(student, "activated"):
            raise ValueError("FSP needs networks with a stem and blocks (CIFAR ResNets, WRNs, "
                             "ResNet18/50)")
        s_pairs, t_pairs = self.pairs(student, s), self.pairs(teacher, t)
        if len(s_pairs) != len(t_pairs) or len(self.block_weights) != len(s_pairs):
            raise ValueError(f"block_weights={self.block_weights}: FSP pairs blocks, and the "
                             f"student has {len(s_pairs)} pairs, the teacher {len(t_pairs)}")
        for i, ((a, b), (c, d)) in enumerate(zip(s_pairs, t_pairs)):
            if a.shape[1] != c.shape[1] or b.shape[1] != d.shape[1]:
                raise ValueError(f"FSP pair {i + 1}: student channels {a.shape[1]}->{b.shape[1]}, "
                                 f"teacher {c.shape[1]}->{d.shape[1]}; FSP needs equal widths")

    @staticmethod
    def pairs(model: nn.Module, f) -> list[tuple[torch.Tensor, torch.Tensor]]:
        maps = model.activated([f.stem, *f.stages])
        return list(zip(maps[:-1], maps[1:]))

    def forward_train(self, batch, epoch):
        s = self.student(batch.images, features=True)
        t = self.teacher_features(batch.images)
        with torch.no_grad():
            t_pairs = self.pairs(self.teacher, t)
        return s.logits, {"fsp": fl.fsp_loss(self.pairs(self.student, s), t_pairs,
                                             self.block_weights)}


class ContrastiveKD(FeatureDistiller):
    """CE + 0.8 * CRD (Tian et al. 2020, eq. 10 with the memory bank of sec. 3.4): embedding
    heads trained with the student, one memory slot per training image, `negatives` (16384)
    negatives, tau 0.07, momentum 0.5."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        s_dim = context.features(student).embedding.shape[1]
        t_dim = context.features(teacher).embedding.shape[1]
        self.crd = fl.CRDLoss(s_dim, t_dim, context.num_samples, k=method.negatives)

    def feature_loss(self, s, t, batch):
        return {"crd": _weight(self.method, 0.8) * self.crd(s.embedding, t.embedding, batch.index)}


class MutualLearning(Distiller):
    """DML (Zhang et al. 2018): a cohort of two students of the same architecture trained in
    lockstep; each minimises CE plus T^2 KL(p_peer^T || p_self^T) to the other's (detached)
    prediction (Sarfraz Table I: T 4, cohort 2). The first student is the one evaluated."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        self.peer = context.make_student(1)

    def forward_train(self, batch, epoch):
        z1, z2 = self.student(batch.images), self.peer(batch.images)
        T = self.method.T
        return z1, {"ce": losses.cross_entropy(z1, batch.labels),
                    "kl": losses.hinton_kd(z1, z2.detach(), T),
                    "peer_ce": losses.cross_entropy(z2, batch.labels),
                    "peer_kl": losses.hinton_kd(z2, z1.detach(), T)}


class NativeEnsemble(Distiller):
    """ONE (Lan, Zhu & Gong 2018, "Knowledge distillation by on-the-fly native ensemble",
    sec. 3): the student's stem and all stages but the last are shared by `branches` (3)
    branches, each a copy of the last stage and classifier; a gate (pooled shared features ->
    FC -> BN -> ReLU -> softmax) weighs the branches' logits into the ensemble teacher z_e.
    Loss: sum_i CE(z_i) + CE(z_e) + T^2 sum_i KL(p_e^T || p_i^T), T 3 (Sarfraz Table I), the
    ensemble's targets detached. Branch 0 is the student itself, the network evaluated."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        if not isinstance(student, StagedNet) or len(student.stages) < 2:
            raise ValueError("ONE shares all stages but the last: it needs a residual network "
                             "with two or more stages (CIFAR ResNet, WRN, ResNet18/50)")
        branches = []
        for k in range(1, method.branches):
            branch = context.make_student(k)             # fresh weights for each branch
            branch.stem = nn.Identity()                 # fed the shared features instead
            branch.stages = branch.stages[-1:]
            branches.append(branch)
        self.branches = nn.ModuleList(branches)
        shared = self._shared(context.example.to(next(student.parameters()).device)).shape[1]
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(shared, method.branches), nn.BatchNorm1d(method.branches),
                                  nn.ReLU())

    def _shared(self, x: torch.Tensor) -> torch.Tensor:
        h = self.student.stem(x)
        for stage in self.student.stages[:-1]:
            h = stage(h)
        return h

    def forward_train(self, batch, epoch):
        s = self.student
        h = self._shared(batch.images)
        logits = [s.classifier(s.pool(s.stages[-1](h)))] + [b(h) for b in self.branches]
        weights = torch.softmax(self.gate(h).float(), dim=1)
        ensemble = sum(weights[:, i:i + 1] * z.float() for i, z in enumerate(logits))
        T = self.method.T
        return logits[0], {
            "ce": sum(losses.cross_entropy(z, batch.labels) for z in logits),
            "ce_ensemble": losses.cross_entropy(ensemble, batch.labels),
            "kd": sum(losses.hinton_kd(z, ensemble.detach(), T) for z in logits)}


class TeacherFreeReg(Distiller):
    """Tf-KD reg (Yuan et al. 2020, eq. 9; zhang eq. 4): (1 - alpha) CE + alpha T^2
    KL(p^d_T || p_s^T) with the virtual teacher p^d putting `a` on the true class and
    (1 - a)/(K - 1) elsewhere, softened at T (`feature_losses.tf_kd_reg`). Yuan's ResNet18
    setting: alpha 0.1, T 20, a 0.99."""

    def forward_train(self, batch, epoch):
        alpha, T = self.method.alpha, self.method.T
        logits = self.student(batch.images)
        return logits, {"ce": (1 - alpha) * losses.cross_entropy(logits, batch.labels),
                        "tfkd": alpha * fl.tf_kd_reg(logits, batch.labels, T, a=self.method.a)}


class EarlyStoppedKD(HintonKD):
    """ESKD (Cho & Hariharan 2019): Hinton KD until epoch `stop_epoch`, cross-entropy alone
    afterwards (epochs counted from 1: stop_epoch=5 distils during epochs 1-5)."""

    def forward_train(self, batch, epoch):
        if epoch < self.method.stop_epoch:
            return super().forward_train(batch, epoch)
        logits = self.student(batch.images)
        return logits, {"ce": losses.cross_entropy(logits, batch.labels)}


def _student_pgd(distiller: Distiller, batch: Batch) -> torch.Tensor:
    """PGD examples of the batch against the student (Madry et al. 2018): L_inf ball of
    `eps`, `steps` sign steps of `step_size` from a random start, maximising the student's
    cross-entropy. Steps and bounds are in pixel units [0, 1], mapped through the loader's
    normalisation; the attack runs the student in eval mode, so BatchNorm statistics do not
    move."""
    m = distiller.method
    return attacks.pgd_attack(distiller.student, batch.images, batch.labels, losses.cross_entropy,
                              eps=m.eps * distiller.scale, step=m.step_size * distiller.scale,
                              steps=m.steps, lower=distiller.lower, upper=distiller.upper)


class AdversarialTraining(Distiller):
    """PGD adversarial training (Madry et al. 2018, eq. 2.1; zhang Table 5's "AT student, no
    teacher"): cross-entropy on PGD examples of the batch (eps 8/255, step 2/255, 7 steps,
    random start: zhang's PGD-7), no teacher and no clean term."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        _pixel_bounds(self, context)

    def forward_train(self, batch, epoch):
        logits = self.student(_student_pgd(self, batch))
        return logits, {"ce": losses.cross_entropy(logits, batch.labels)}


class AdversarialKD(HintonKD):
    """Adversarial KD (zhang eq. 6-7): the student learns on PGD examples of its own clean
    inputs (as `AdversarialTraining`) against the teacher's soft targets on the clean
    inputs: (1 - alpha) CE(s(x_adv), y) + alpha T^2 KL(p_t(x)^T || p_s(x_adv)^T)."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        _pixel_bounds(self, context)

    def forward_train(self, batch, epoch):
        m = self.method
        target = self.teacher_logits(batch)
        logits = self.student(_student_pgd(self, batch))
        return logits, {"ce": (1 - m.alpha) * losses.cross_entropy(logits, batch.labels),
                        "kd": m.alpha * losses.hinton_kd(logits, target, m.T)}


class AdversarialTfKDReg(AdversarialTraining):
    """AT Tf-KD reg (zhang eq. 7): PGD-7 examples x' of the student as in
    `AdversarialTraining`, and Tf-KD reg's objective on them:
    (1 - alpha) CE(s(x'), y) + alpha T^2 KL(p^d_T || p_s(x')^T)."""

    def forward_train(self, batch, epoch):
        m = self.method
        logits = self.student(_student_pgd(self, batch))
        return logits, {"ce": (1 - m.alpha) * losses.cross_entropy(logits, batch.labels),
                        "tfkd": m.alpha * fl.tf_kd_reg(logits, batch.labels, m.T, a=m.a)}


class AdversarialKDOnAttacked(AdversarialKD):
    """AKD as kd reads Maroto et al. 2022 ("On the benefits of knowledge distillation for
    adversarial robustness"; zhang Table 5's "student from an AT teacher"): adversarial
    training of the student on a mixture of the labels and the teacher's outputs, the teacher
    read on the same PGD example x' the student sees:
    (1 - alpha) CE(s(x'), y) + alpha T^2 KL(p_t(x')^T || p_s(x')^T). It differs from
    `AdversarialKD` (zhang eq. 6, teacher on the clean x) only there."""

    teacher_logits_only = False

    def forward_train(self, batch, epoch):
        m = self.method
        x_adv = _student_pgd(self, batch)
        target = self.run_teacher(x_adv)
        logits = self.student(x_adv)
        return logits, {"ce": (1 - m.alpha) * losses.cross_entropy(logits, batch.labels),
                        "kd": m.alpha * losses.hinton_kd(logits, target, m.T)}


def _pixel_bounds(module: nn.Module, context: Context) -> None:
    """Buffers `scale`, `lower`, `upper`: pixel units [0, 1] mapped through the normalisation.

    The attacks stay in the normalised space of the batches: a sign step of eps/std per
    channel, clipped to [(0 - mean)/std, (1 - mean)/std], is the pixel-space sign step of eps
    clipped to [0, 1] (what `attacks.Normalized` would give), and BSS's L2 step is taken where
    its authors take it, in the space the teacher is fed."""
    mean = torch.tensor(context.mean).view(1, -1, 1, 1)
    std = torch.tensor(context.std).view(1, -1, 1, 1)
    module.register_buffer("scale", 1 / std, persistent=False)
    module.register_buffer("lower", (0 - mean) / std, persistent=False)
    module.register_buffer("upper", (1 - mean) / std, persistent=False)


class BoundarySupportingKD(Distiller):
    """BSS (Heo et al. 2019, "Knowledge distillation with adversarial samples supporting
    decision boundary"): CE + alpha(n) KD + beta(n) BS, where BS is the soft-target loss on
    boundary supporting samples: up to `attack_size` (32) base samples that teacher and
    student both classify correctly (the ones they disagree on most), moved by `bss_steps`
    (10) attack steps toward the teacher's boundary with a target class drawn from the
    teacher's softmax without its top-1 (attacks.bss_attack, eqs. 4-6). The weights
    decay over the run as in the authors' code, alpha from 4 to 1 and beta from 2 to 0 at 3/4
    of training; the soft-target terms are KL at temperature T (Sarfraz: T 4) without the T^2
    factor, as there. Sarfraz's "max eps = 16" bound on the perturbation is not applied."""

    uses_teacher = True

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        self.epochs = context.epochs
        _pixel_bounds(self, context)

    def weights(self, epoch: int) -> tuple[float, float]:
        progress = epoch / self.epochs
        return 1 + 3 * max(0.0, 1 - progress), 2 * max(0.0, 1 - 4 * progress / 3)

    def forward_train(self, batch, epoch):
        m, x, y = self.method, batch.images, batch.labels
        t_logits = self.teacher_logits(batch)
        logits = self.student(x)
        alpha, beta = self.weights(epoch)
        named = {"ce": losses.cross_entropy(logits, y),
                 "kd": alpha * losses.hinton_kd(logits, t_logits, m.T) / m.T ** 2}
        base = attacks.bss_select(t_logits, logits.detach(), y, max_samples=m.attack_size)
        if beta > 0 and len(base):
            targets = attacks.bss_targets(t_logits[base], y[base])
            x_bss = attacks.bss_attack(self.teacher, x[base], targets, steps=m.bss_steps,
                                       lower=self.lower, upper=self.upper)
            t_bss = self.run_teacher(x_bss)
            named["bss"] = beta * losses.hinton_kd(self.student(x_bss), t_bss, m.T) / m.T ** 2
        return logits, named


class SelfKD(HintonKD):
    """Tf-KD self (Yuan et al. 2020): Hinton KD from a trained copy of the student's own
    architecture (the config check asks teacher.model == model)."""

    same_architecture = True


METHODS: dict[str, type[Distiller]] = {
    "ce": Distiller,
    "hinton": HintonKD,
    "bss": BoundarySupportingKD,
    "reversed": HintonKD,            # Re-KD: the same loss, a weaker network as the teacher
    "tfkd_self": SelfKD,
    "tfkd_reg": TeacherFreeReg,
    "eskd": EarlyStoppedKD,
    "at": AttentionTransfer,
    "sp": SimilarityPreserving,
    "rkd_d": RelationalKDDistance,
    "rkd_a": RelationalKDAngle,
    "rkd_da": RelationalKD,
    "fitnet": FitNetHint,
    "fsp": FlowOfSolution,
    "crd": ContrastiveKD,
    "dml": MutualLearning,
    "one": NativeEnsemble,
    "adversarial": AdversarialKD,
    "pgd_at": AdversarialTraining,
    "adversarial_tfkd_reg": AdversarialTfKDReg,
    "akd": AdversarialKDOnAttacked,
}


# ---------------------------------------------------------------------------------------------
# Ojha et al. 2023's Hint and CRD, in RepDistiller's conventions (loss = gamma CE + beta other)
# ---------------------------------------------------------------------------------------------

class ConvRegressor(nn.Module):
    """RepDistiller's ConvReg (HobbitLong/RepDistiller, models/util.py): maps the student's
    feature map to the teacher's shape, then BN and ReLU. Same or larger size: a conv whose
    kernel (1 + s_H - t_H) x (1 + s_W - t_W) takes the sizes down (1x1 when equal); twice the
    size: conv3x3 stride 2; half the size: transposed conv4x4 stride 2."""

    def __init__(self, s_shape: torch.Size, t_shape: torch.Size):
        super().__init__()
        (s_c, s_h, s_w), (t_c, t_h, t_w) = tuple(s_shape[1:]), tuple(t_shape[1:])
        if s_h == 2 * t_h:
            self.conv = nn.Conv2d(s_c, t_c, 3, stride=2, padding=1)
        elif 2 * s_h == t_h:
            self.conv = nn.ConvTranspose2d(s_c, t_c, 4, stride=2, padding=1)
        elif s_h >= t_h and s_w >= t_w:
            self.conv = nn.Conv2d(s_c, t_c, (1 + s_h - t_h, 1 + s_w - t_w))
        else:
            raise ValueError(f"student map {tuple(s_shape[1:])} cannot be regressed onto the "
                             f"teacher's {tuple(t_shape[1:])}")
        self.bn = nn.BatchNorm2d(t_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class HintKD(FeatureDistiller):
    """Single-stage Hint as RepDistiller trains it (`--distill hint`; Ojha et al. 2023, eq. 2):
    CE + beta * MSE(r(f_s), f_t), the mean squared error over every element (RepDistiller's
    HintLoss, nn.MSELoss) between the regressed student map (ConvRegressor) and the teacher's
    map at one paired stage, trained jointly with the student; no soft targets (alpha = 0).
    `block_weights` weighs the paired stages (default: the last one only; for `mnist_net` that
    is the 64-channel conv); `weight` is beta (default 100, RepDistiller's script; Ojha's
    MNIST setting is 2). Unlike `fitnet` (FitNet's stage 1: no label loss, sum-over-elements
    hint, a second stage of KD), the label loss and the hint are minimised together.

    One entry more in `block_weights` than there are paired stages weighs the logits: the
    student's logits regress the teacher's by the same element-mean MSE, without a regressor
    (Ojha et al. 2023, sec. 4.3 and Figure 4d: Hint at every layer up to the logits, F7)."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        s_stages, t_stages = _paired(context.features(student).stages, context.features(teacher).stages)
        self.block_weights = tuple(method.block_weights or (0.0,) * (len(s_stages) - 1) + (1.0,))
        if len(self.block_weights) not in (len(s_stages), len(s_stages) + 1):
            raise ValueError(f"block_weights={self.block_weights} has {len(self.block_weights)} "
                             f"entries for {len(s_stages)} paired stages (one more weighs the logits)")
        self.logit_weight = self.block_weights[len(s_stages)] if len(self.block_weights) > len(s_stages) else 0.0
        self.regressors = nn.ModuleList(ConvRegressor(a.shape, b.shape) if w else nn.Identity()
                                        for w, a, b in zip(self.block_weights, s_stages, t_stages))

    def feature_loss(self, s, t, batch):
        fs, ft = _paired(s.stages, t.stages)
        hint = sum(w * nn.functional.mse_loss(r(a).float(), b.detach().float())
                   for w, r, a, b in zip(self.block_weights, self.regressors, fs, ft) if w)
        if self.logit_weight:
            hint = hint + self.logit_weight * nn.functional.mse_loss(s.logits.float(), t.logits.detach().float())
        return {"hint": _weight(self.method, 100.0) * hint}


class ContrastiveKDTau(ContrastiveKD):
    """CRD with its NCE temperature tau given as `T` (RepDistiller's `--nce_t`; Tian et al.
    0.07, Ojha et al.'s MNIST setting 0.1): CE + weight * CRD, weight 0.8 by default, the
    memory bank of `crd` with `negatives` negatives. kd's `crd` keeps Tian's 0.07."""

    def __init__(self, student, teacher=None, method=None, context: Context | None = None):
        super().__init__(student, teacher, method, context)
        self.crd.memory.tau = method.T


METHODS.update({
    "hint": HintKD,
    "crd_tau": ContrastiveKDTau,
})
