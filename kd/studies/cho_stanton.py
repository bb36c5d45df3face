"""Cho & Hariharan 2019 (notebook 40: C1, C2) and Stanton et al. 2021 (notebook 41: T1): the
runs of each notebook per profile, the rule that fixes the `cpu` arms, the paper's numbers,
and the fidelity measurements both notebooks read.

**Cho & Hariharan**, "On the efficacy of knowledge distillation" (ICCV 2019, arXiv
1910.01348). One student distilled from teachers of growing size; its accuracy and its *KD
error*, the student's top-1 error against the teacher's predictions (100 - top-1 agreement,
kd.fidelity.kd_error), on the training and the test set. ESKD (sec. 5) distils for the first
epochs and trains on cross-entropy alone afterwards (kd's `eskd`); the paper's closing
recommendation is a teacher stopped early. The KD loss is Hinton's, (1 - alpha) CE + alpha
T^2 KL, at kd's defaults alpha 0.9, T 4 (Sarfraz Table I, which every CIFAR notebook of kd
uses; the talk slides give "popular choices" T 3-5, alpha 0.9): the copies of the paper this
project can read give its abstract and first page only, not its alpha, T or ESKD epoch. ESKD
stops after half of the student's epochs (`ESKD_FRACTION`); Figure 3 of the paper (KD ahead
of the scratch student during ImageNet's first two learning-rate stages, behind during the
last; cited in RepDistiller issue #10) is why distillation stops before the schedule ends.
The early-stopped teacher is the largest teacher's own run stopped after half its schedule
(`TrainConfig.schedule_epochs`: the same weights as that run's first half).

**Stanton, Izmailov, Kirichenko, Alemi & Wilson**, "Does knowledge distillation really
work?" (NeurIPS 2021; code samuelstanton/gnosis). Fidelity is top-1 agreement and the
average predictive KL(p_t || p_s) at T = 1 (kd.fidelity), on the test set and on the
distillation set (the student's training images, with and without its augmentation), both
networks in eval mode; gnosis also logs them on the training batches as it distils
(kd's `train_agree`, `train_kl` in each epoch's history). Their distillation is pure soft
targets: gnosis `loss.alpha: 0.0` (weight of the hard labels) and `distill_loader.temp: 4.0`,
kd's `hinton` with alpha 1 (kd's alpha weighs the soft term) and T 4; its students train 300
epochs of SGD lr 0.05, Nesterov momentum 0.9, weight decay 1e-4, cosine to ~0, batch 128
(`config/image_classification.yaml`). The ensemble teacher averages its members' predictive
probabilities (gnosis `reduce_ensemble_logits`; kd `RunConfig.teacher_seeds`). MixUp is
applied to the distillation inputs alone, alpha 1 (gnosis `mixup_data`; kd's
`crop_flip_mixup`).
"""
from __future__ import annotations

import dataclasses
import math

from .. import recipes
from ..config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig, check_profile
from ..parallel import Job

# ============================================================================ Cho & Hariharan

CHO_KD = MethodConfig("hinton")                 # alpha 0.9, T 4
ESKD_FRACTION = 0.5                             # ESKD distils during the first half of the epochs
EARLY_TEACHER_FRACTION = 0.5                    # the early-stopped teacher: the first half of its schedule
CHO_STUDENT = {"smoke": "resnet8", "cpu": "resnet8", "paper": "resnet8"}
# the depth sweep; under `paper` the slides' width sweeps run as well (`CHO_WIDTH`)
CHO_TEACHERS = {"smoke": ("resnet14", "resnet26"),
                "cpu": ("resnet14", "resnet26", "resnet44", "resnet56"),
                "paper": ("resnet14", "resnet20", "resnet26", "resnet32", "resnet44", "resnet56", "resnet110")}
CHO_WIDTH = {"smoke": (), "cpu": (("wrn_16_1", ("wrn_16_2", "wrn_16_4")),),
             "paper": (("wrn_16_1", ("wrn_16_3", "wrn_16_4", "wrn_16_6", "wrn_16_8")),
                       ("wrn_28_1", ("wrn_28_3", "wrn_28_4", "wrn_28_6", "wrn_28_8")))}
CHO_SEEDS = {"smoke": (0, 1), "cpu": (0, 1), "paper": (0, 1, 2)}
CHO_NOISE_SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2, 3, 4)}
BUDGET_40_S = 120 * 60                           # notebook 40 under cpu, the shared teachers excluded

# The paper's numbers, as the talk slides print them (../shared/papers/shin-...-slides.md).
# KD error (%, train, test) of WRN16-1 and WRN28-1 students on CIFAR-10 from wider teachers:
CHO_KD_ERROR = {
    "WRN16-1": {"WRN16-3": (1.70, 6.32), "WRN16-4": (1.69, 6.52), "WRN16-6": (1.94, 6.91), "WRN16-8": (1.69, 7.01)},
    "WRN28-1": {"WRN28-3": (0.23, 4.05), "WRN28-4": (0.25, 4.53), "WRN28-6": (0.23, 4.54), "WRN28-8": (0.31, 4.81)},
}
# ImageNet, ResNet18 student: teacher -> (teacher's top-1 error, student's with KD, with ESKD);
# the student trained alone: 30.24
CHO_IMAGENET = {"ResNet18": (30.24, 30.57, 29.01), "ResNet34": (26.70, 30.79, 29.16),
                "ResNet50": (23.85, 30.95, 29.35)}
CHO_IMAGENET_ALONE = 30.24
# each claim's effect in the paper's own terms, in accuracy points (or KD-error points):
PAPER_40 = {
    # student accuracy from the largest teacher minus from the smallest (ImageNet: 30.95 vs 30.57 error)
    "largest minus smallest teacher": round(CHO_IMAGENET["ResNet18"][1] - CHO_IMAGENET["ResNet50"][1], 2),
    # test and train KD error from WRN16-8 minus from WRN16-3 (CIFAR-10)
    "test KD error, largest minus smallest": round(7.01 - 6.32, 2),
    "train KD error, largest minus smallest": round(1.69 - 1.70, 2),
    # ESKD minus full KD, accuracy points, from ResNet50 (the largest) and ResNet18 (the smallest)
    "ESKD gain, largest teacher": round(CHO_IMAGENET["ResNet50"][1] - CHO_IMAGENET["ResNet50"][2], 2),
    "ESKD gain, smallest teacher": round(CHO_IMAGENET["ResNet18"][1] - CHO_IMAGENET["ResNet18"][2], 2),
}
PAPER_40["ESKD gain, largest minus smallest"] = round(PAPER_40["ESKD gain, largest teacher"]
                                                      - PAPER_40["ESKD gain, smallest teacher"], 2)
# claim 1 ("the student does not get better with a bigger teacher") is judged no-better-than
# with this margin, stated before any run: a student from the largest teacher better than from
# the smallest by 0.5 points or more would be "better"
NO_BETTER_MARGIN = 0.5


def cho_teachers(profile: str) -> tuple[str, ...]:
    """The depth sweep's teachers under the profile, smallest first."""
    return CHO_TEACHERS[check_profile(profile)]


def eskd_method(profile: str) -> MethodConfig:
    """ESKD: Hinton KD (alpha 0.9, T 4) during the first `ESKD_FRACTION` of the profile's
    epochs (cpu: 5 of 10; paper: 100 of 200), cross-entropy alone afterwards."""
    epochs = recipes.schedule(profile).epochs
    return MethodConfig("eskd", stop_epoch=max(1, round(ESKD_FRACTION * epochs)))


def early_stopped(teacher_run: RunConfig, fraction: float = EARLY_TEACHER_FRACTION) -> RunConfig:
    """`teacher_run` stopped after `fraction` of its epochs: the same schedule
    (`schedule_epochs`), the same weights as that run's first epochs (Cho & Hariharan's
    early-stopped teacher)."""
    epochs = teacher_run.train.epochs
    return teacher_run.with_(train__epochs=max(1, round(fraction * epochs)), train__schedule_epochs=epochs)


def cho_teacher(teacher: str, profile: str) -> RunConfig:
    """A teacher of notebook 40: "<arch>" is the shared seed-0 baseline (recipes.teacher);
    "early:<arch>" that run stopped after half its schedule."""
    if teacher.startswith("early:"):
        return early_stopped(recipes.teacher(teacher.removeprefix("early:"), profile))
    return recipes.teacher(teacher, profile)


def cho_arm(arm: str, teacher: str | None, profile: str, seed: int = 0, student: str | None = None) -> RunConfig:
    """One run of notebook 40: `arm` "alone" (the student by cross-entropy), "kd" (Hinton KD
    from `teacher`) or "eskd" (ESKD from `teacher`); `teacher` as `cho_teacher` reads it;
    `student` the student network (default: the profile's `CHO_STUDENT`)."""
    student = student or CHO_STUDENT[check_profile(profile)]
    if arm == "alone":
        return recipes.baseline(student, profile, seed=seed)
    if arm not in ("kd", "eskd"):
        raise ValueError(f"arm={arm!r} is not one of notebook 40's: alone, kd, eskd")
    method = CHO_KD if arm == "kd" else eskd_method(profile)
    return recipes.student(student, method, cho_teacher(teacher, profile), profile, seed)


def label_40(arm: str, teacher: str | None, student: str | None = None) -> str:
    """How notebook 40 names an arm: "KD from resnet56", "ESKD from early:resnet56", ..."""
    name = {"alone": "alone", "kd": "KD", "eskd": "ESKD"}[arm]
    who = f"{student} " if student else ""
    return f"{who}{name}" if teacher is None else f"{who}{name} from {teacher}"


# The cpu plan's arms, in the order of the rule: the core (C1's depth sweep with full KD, ESKD
# from the smallest and the largest teacher, KD from the largest stopped early, the student
# alone), then the optional arms, each added only while the projection stays within the
# budget: ESKD from the middle teachers, then the width point (WRN-16-1 from WRN-16-2 and -4).
def _core_40(profile: str) -> list[tuple[str, str | None, str | None]]:
    teachers = cho_teachers(profile)
    eskd = teachers if profile == "paper" else (teachers[0], teachers[-1])
    return ([("alone", None, None)] + [("kd", t, None) for t in teachers] + [("eskd", t, None) for t in eskd]
            + [("kd", f"early:{teachers[-1]}", None)])


def _optional_40(profile: str) -> list[list[tuple[str, str | None, str | None]]]:
    teachers = cho_teachers(profile)
    groups = [] if profile == "paper" else [[("eskd", t, None) for t in teachers[1:-1]]]
    for student, wide in CHO_WIDTH[profile]:
        groups.append([("alone", None, student)] + [("kd", t, student) for t in wide])
    return [g for g in groups if g]


# Seconds per training epoch of each distinct run of the cpu plan, kd's trainer on the 2-core
# machine with native bf16 the budgets are set for. Anchors: ResNet-8 alone 16.7 s and Hinton KD
# of ResNet-8 from ResNet-26 28.3 s (notebook 20's cost table, its committed cpu execution), so a
# ResNet-26 teacher's forward pass costs 11.6 s an epoch. The rest scale those anchors by
# kd.measure.epoch_seconds (8 batches, 1 thread, nice 19) taken back to back with them, twice, on
# the development machine while other jobs loaded it (load average 6-12 on 2 cores: the ratios
# are rough): each teacher's forward pass as a multiple of ResNet-26's (ResNet-14 0.61, -44 1.95,
# -56 2.45, WRN-16-2 1.45, WRN-16-4 ~4.4), ResNet-56 alone 7.2x ResNet-8 alone, WRN-16-1 alone
# 1.55x. Rounded up.
CPU_EPOCH_SECONDS_40 = {
    ("alone", None, None): 16.7,
    ("kd", "resnet14", None): 24.0,
    ("kd", "resnet26", None): 28.3,
    ("kd", "resnet44", None): 39.5,
    ("kd", "resnet56", None): 45.0,
    ("teacher", "resnet56", None): 120.0,         # ResNet-56 alone: the early-stopped teacher's epochs
    ("alone", None, "wrn_16_1"): 26.0,
    ("kd", "wrn_16_2", "wrn_16_1"): 43.0,
    ("kd", "wrn_16_4", "wrn_16_1"): 77.0,
}
# the rule fills the plan to this share of the budget, leaving the rest to the evaluation, the
# noise values, the notebook's own overhead and a shared machine
PLAN_SHARE = 0.85
EVAL_SECONDS_40 = 15.0                           # KD error of one student: train and test splits, both nets


def _arm_seconds_40(arm: tuple[str, str | None, str | None], profile: str) -> float:
    """Projected training seconds of one seed of an arm under the cpu recipe (plus its
    evaluation); an early-stopped teacher's own training is added once by `plan_seconds_40`."""
    kind, teacher, student = arm
    epochs = recipes.schedule(profile).epochs
    alone = CPU_EPOCH_SECONDS_40[("alone", None, student)]
    if kind == "alone":
        return epochs * alone
    full = teacher.removeprefix("early:")
    kd_epoch = CPU_EPOCH_SECONDS_40[("kd", full, student)]
    if kind == "kd":
        return epochs * kd_epoch + EVAL_SECONDS_40
    stop = eskd_method(profile).stop_epoch
    return stop * kd_epoch + (epochs - stop) * alone + EVAL_SECONDS_40


def plan_seconds_40(arms: list[tuple[str, str | None, str | None]], profile: str = "cpu") -> float:
    """Projected seconds of notebook 40's own runs under cpu: every arm over `CHO_SEEDS`, the
    extra seeds of the noise settings, and the early-stopped teacher (the shared teachers and
    notebook 01's runs, the student alone among them, are not counted: `shared_run`)."""
    seeds = CHO_SEEDS[profile]
    total = sum(len(seeds) * _arm_seconds_40(a, profile) for a in arms
                if not shared_run(cho_arm(a[0], a[1], profile, seeds[-1], a[2]), profile))
    for arm in _noise_arms_40(profile):
        total += (len(CHO_NOISE_SEEDS[profile]) - len(seeds)) * _arm_seconds_40(arm, profile)
    early = [t for _, t, _ in arms if t and t.startswith("early:")]
    for t in set(early):
        total += cho_teacher(t, profile).train.epochs * CPU_EPOCH_SECONDS_40[("teacher", t.removeprefix("early:"), None)]
    return total


def arms_40(profile: str) -> list[tuple[str, str | None, str | None]]:
    """Notebook 40's arms under the profile, by the rule printed in the notebook: under `cpu`,
    the core arms, then each optional group only if the projection of everything so far plus
    the group stays within `PLAN_SHARE` of `BUDGET_40_S` (a group that does not fit ends the list); under
    `smoke` and `paper` the core and every group."""
    arms = _core_40(check_profile(profile))
    for group in _optional_40(profile):
        if profile == "cpu" and plan_seconds_40(arms + group, profile) > PLAN_SHARE * BUDGET_40_S:
            break
        arms += group
    return arms


def _noise_arms_40(profile: str) -> list[tuple[str, str | None, str | None]]:
    teachers = cho_teachers(profile)
    return [("kd", teachers[0], None), ("kd", teachers[-1], None)]


def plan_40(profile: str) -> list[Job]:
    """Notebook 40's runs: the shared teachers (trained once for every notebook), the
    early-stopped teacher, then every arm of `arms_40` over `CHO_SEEDS`."""
    check_profile(profile)
    teachers = sorted({t for _, t, _ in arms_40(profile) if t}, key=lambda t: (t.startswith("early:"), t))
    jobs = [Job(cho_teacher(t, profile), f"teacher {t}") for t in teachers]
    jobs += [Job(cho_arm(kind, t, profile, s, student), f"{label_40(kind, t, student)}, seed {s}")
             for kind, t, student in arms_40(profile) for s in CHO_SEEDS[profile]]
    return jobs


def noise_settings_40(profile: str) -> dict:
    """C1 and C2 judge against full KD from the smallest teacher (claims 1, 2; the student's
    accuracy and its KD errors) and from the largest (claims 3, 4): each over
    `CHO_NOISE_SEEDS` (cpu: 3 seeds, one beyond the plan's two)."""
    seeds = CHO_NOISE_SEEDS[check_profile(profile)]
    return {f"KD from {t}": (cho_arm("kd", t, profile), seeds)
            for t in (cho_teachers(profile)[0], cho_teachers(profile)[-1])}


# ============================================================================ Stanton et al.

STANTON_KD = MethodConfig("hinton", alpha=1.0, T=4.0)     # pure soft targets at T 4 (gnosis)
STANTON_NET = {"smoke": "resnet8", "cpu": "resnet8", "paper": "resnet56"}
STANTON_DATASET = {"smoke": "cifar10", "cpu": "cifar10", "paper": "cifar100"}
ENSEMBLE_SEEDS = (0, 1, 2)                     # the teacher's members; seed 0 is the self-distillation teacher
STANTON_SEEDS = {"smoke": (10, 11), "cpu": (10, 11, 12), "paper": (10, 11, 12)}   # students: no teacher's seed
SUBSET_DIVISOR = 5                             # "less distillation data": 1/5 of the training set a class
AUG_SEED = 2021                                # the one augmented pass of the distillation set that fidelity reads
# Stanton's student recipe (gnosis config/image_classification.yaml), used for every run under `paper`
STANTON_TRAIN = TrainConfig(epochs=300, batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True,
                            weight_decay=1e-4, schedule="cosine")
BUDGET_41_S = 90 * 60                           # notebook 41 under cpu, the shared teachers excluded
# the arms: name -> (teacher "self" or "ensemble", augmentation (None: crop+flip), 1/SUBSET_DIVISOR of the data)
ARMS_41 = {
    "self, crop+flip": ("self", None, False),
    "ensemble, none": ("ensemble", "none", False),
    "ensemble, crop+flip": ("ensemble", None, False),
    "ensemble, crop+flip+mixup": ("ensemble", "crop_flip_mixup", False),
    "ensemble, crop+flip, 1/5 data": ("ensemble", None, True),
}
OPTIONAL_41 = {
    "self, none": ("self", "none", False),
    "self, crop+flip+mixup": ("self", "crop_flip_mixup", False),
}
# claims 1 and 2's bars, stated before any run: "well below 100%" is below 99% top-1 agreement on
# the training images; "agreeing poorly" is below 95% on the test images
WELL_BELOW = 99.0
POOR_AGREEMENT = 95.0
# seconds per training epoch (cpu, the budgets' 2-core bf16 machine), (teacher, augmentation) ->
# s: ResNet-8 alone's 16.7 (notebook 20) times kd.measure.epoch_seconds ratios taken as for
# CPU_EPOCH_SECONDS_40 (self-distillation with crop+flip 1.61 and 1.61x ResNet-8 alone, the
# ensemble 1.78 and 1.64x; without augmentation the teacher's logits are computed once, 1.09 and
# 1.14x), rounded up; mixup as crop+flip. A fifth of the data costs a fifth.
CPU_EPOCH_SECONDS_41 = {("self", "none"): 19.0, ("self", "crop_flip"): 27.0, ("self", "crop_flip_mixup"): 27.0,
                        ("ensemble", "none"): 19.0, ("ensemble", "crop_flip"): 30.0,
                        ("ensemble", "crop_flip_mixup"): 30.0}
EVAL_SECONDS_41 = 25.0                           # one student's fidelity on test, train and augmented train


def stanton_member(profile: str, seed: int = 0) -> RunConfig:
    """A teacher (ensemble member) of notebook 41: under `cpu` and `smoke` the shared
    ResNet-8 baseline at `seed` (notebook 01's runs: seed 0 is recipes.teacher("resnet8"),
    1-4 its noise seeds); under `paper` ResNet-56 on CIFAR-100 by Stanton's recipe."""
    if check_profile(profile) == "paper":
        return RunConfig(data=recipes.data(profile, STANTON_DATASET[profile]),
                         model=recipes.network(STANTON_NET[profile], profile), train=STANTON_TRAIN, seed=seed)
    return recipes.baseline(STANTON_NET[profile], profile, seed=seed)


def stanton_arm(name: str, profile: str, seed: int) -> RunConfig:
    """The student run of arm `name` (a key of ARMS_41 or OPTIONAL_41) for one seed: the
    teacher's network, pure soft targets at T 4 from the seed-0 member ("self") or the
    three-member ensemble, the arm's augmentation, all of the training set or a fifth of
    every class; the profile's CIFAR schedule (`paper`: Stanton's)."""
    kind, augment, subset = {**ARMS_41, **OPTIONAL_41}[name]
    teacher = stanton_member(profile, ENSEMBLE_SEEDS[0])
    data = teacher.data
    if subset:
        full = data.per_class or (5000 if STANTON_DATASET[profile] == "cifar10" else 500)
        data = dataclasses.replace(data, per_class=max(1, full // SUBSET_DIVISOR))
    if augment is not None:
        data = dataclasses.replace(data, augment=augment)
    train = STANTON_TRAIN if profile == "paper" else recipes.schedule(profile)
    return RunConfig(data=data, model=teacher.model, method=STANTON_KD, train=train, seed=seed,
                     teacher=teacher, teacher_seeds=ENSEMBLE_SEEDS if kind == "ensemble" else ())


def _arm_seconds_41(name: str, profile: str) -> float:
    """Projected seconds of one seed of an arm under cpu: training, and its fidelity on the
    test images and the distillation set twice (every member of the teacher runs)."""
    kind, augment, subset = {**ARMS_41, **OPTIONAL_41}[name]
    epochs = recipes.schedule(profile).epochs
    members = len(ENSEMBLE_SEEDS) if kind == "ensemble" else 1
    seconds = epochs * CPU_EPOCH_SECONDS_41[kind, augment or "crop_flip"]
    return seconds / (SUBSET_DIVISOR if subset else 1) + EVAL_SECONDS_41 * (members + 1) / 2


def plan_seconds_41(names: list[str], profile: str = "cpu") -> float:
    """Projected seconds of notebook 41's own runs under cpu: every arm over its seeds (the
    ensemble members are notebook 01's runs, shared and not counted)."""
    return sum(len(STANTON_SEEDS[profile]) * _arm_seconds_41(n, profile) for n in names)


def arms_41(profile: str) -> list[str]:
    """Notebook 41's arms: `ARMS_41`, then each optional arm (self-distillation without
    augmentation, then with MixUp) while the cpu projection stays within `PLAN_SHARE` of
    `BUDGET_41_S`; every arm under `paper`, none of the optional ones under `smoke` (a
    pipeline check)."""
    names = list(ARMS_41)
    if check_profile(profile) == "smoke":
        return names
    for name in OPTIONAL_41:
        if profile == "cpu" and plan_seconds_41(names + [name], profile) > PLAN_SHARE * BUDGET_41_S:
            break
        names.append(name)
    return names


def plan_41(profile: str) -> list[Job]:
    """Notebook 41's runs: the ensemble's members (the self-distillation teacher first), then
    every arm over `STANTON_SEEDS`."""
    jobs = [Job(stanton_member(profile, s), f"teacher member, seed {s}") for s in ENSEMBLE_SEEDS]
    jobs += [Job(stanton_arm(n, profile, s), f"{n}, seed {s}") for n in arms_41(profile) for s in STANTON_SEEDS[profile]]
    return jobs


def noise_settings_41(profile: str) -> dict:
    """T1's controls: every arm another is judged against, over its own seeds (the agreement's
    seed noise), and the teacher's network trained alone (claim 2: the self-distilled
    student's accuracy against its teacher's), over notebook 01's noise seeds."""
    seeds = STANTON_SEEDS[check_profile(profile)]
    alone = (0, 1) if profile == "smoke" else tuple(recipes.NOISE_SEEDS)
    settings = {name: (stanton_arm(name, profile, seeds[0]), seeds)
                for name in ("self, crop+flip", "ensemble, none", "ensemble, crop+flip",
                             "ensemble, crop+flip, 1/5 data")}
    settings["teacher's network alone"] = (stanton_member(profile, 0), alone)
    return settings


# ============================================================================ fidelity of runs

def teacher_model(result):
    """The trained teacher of a run: its one teacher, or the ensemble of its members."""
    from ..fidelity import Ensemble
    from ..runner import run
    cfg = result.config
    if cfg.teacher is None:
        raise ValueError(f"run {result.key} has no teacher")
    first = run(cfg.teacher, progress=False).model
    if not cfg.teacher_seeds:
        return first
    return Ensemble([first] + [run(cfg.teacher.with_(seed=s), progress=False).model for s in cfg.teacher_seeds[1:]])


def fidelity_of(result, split: str, augmented: bool = False, teacher=None) -> dict:
    """kd.fidelity.fidelity of a run's network against its teacher (or the trained run
    `teacher`, a kd.Result: e.g. one independent network against another), in eval mode, on
    `split` "test" (the run's test images) or "train" (its own training images, its
    distillation set; `augmented`: under its augmentation, one pass seeded by AUG_SEED).
    Cached with the run (kd.measured). Returns Fidelity.as_dict() plus "kd_error"."""
    from ..data import DeviceLoader
    from ..fidelity import fidelity
    from ..runner import EVAL_BATCH, evaluation_split, measured, split as train_split
    if split not in ("train", "test"):
        raise ValueError(f"split={split!r} must be 'train' or 'test'")
    if augmented and split != "train":
        raise ValueError("augmented=True measures the distillation set: give split='train'")
    cfg = result.config
    teacher_keys = ([teacher.key] if teacher is not None else
                    [cfg.teacher.key()] + [cfg.teacher.with_(seed=s).key() for s in cfg.teacher_seeds[1:]])
    params = {"split": split, "augment": cfg.data.augmentation if augmented else "none",
              "aug_seed": AUG_SEED if augmented else None, "teacher": teacher_keys,
              "precision": cfg.train.precision, "batch": EVAL_BATCH}

    def compute() -> dict:
        data = train_split(cfg.data)[0] if split == "train" else evaluation_split(cfg.data)
        device = next(result.model.parameters()).device
        loader = DeviceLoader(data, EVAL_BATCH, device, augment=params["augment"], seed=AUG_SEED)
        t = teacher.model if teacher is not None else teacher_model(result)
        return fidelity(t, result.model, loader, cfg.train.precision).as_dict()

    value = dict(measured(result, "fidelity", params, compute))
    value["kd_error"] = 100.0 - value["agreement"]
    return value


# ============================================================================ verdict helpers

def no_better(treatment, control, *, margin: float, noise, name: str = "", unit: str = "points"):
    """"treatment is no better than control": the one-sided half of kd.equivalence's two
    one-sided tests (Schuirmann 1987), at the same alpha and with the same se (paired by seed,
    floored by `noise`): *held* if the upper end of the 90% interval of treatment - control
    lies below +margin (no better by the margin: within it, or worse), *did not hold* if its
    lower end lies above +margin (better by more than the margin), *inconclusive* otherwise.
    The margin is stated before the runs."""
    from ..verdicts import DID_NOT_HOLD, HELD, INCONCLUSIVE, equivalence
    eq = equivalence(treatment, control, margin=margin, noise=noise, name=name, unit=unit)
    if eq.interval is None:
        verdict = INCONCLUSIVE
    elif eq.interval[1] < margin:
        verdict = HELD
    elif eq.interval[0] > margin:
        verdict = DID_NOT_HOLD
    else:
        verdict = INCONCLUSIVE
    level = f"{100 * (1 - 2 * eq.alpha):g}%"
    evidence = eq.evidence.rsplit(" -> ", 1)[0] + (
        "" if eq.interval is None else
        f"; upper end {eq.interval[1]:+.2f} {'<' if eq.interval[1] < margin else '>='} +{margin:g}") + f" -> {verdict}"
    rule = (f"no better than, one-sided at alpha {eq.alpha:g} (the upper half of kd.equivalence's TOST): held if the "
            f"{level} interval of the effect ends below +{margin:g}{' ' + unit if unit else ''} (the margin stated "
            f"before the runs), did not hold if it starts above it, inconclusive otherwise")
    return dataclasses.replace(eq, verdict=verdict, test="no better than (one-sided)", evidence=evidence, rule=rule)


def gain_noise(noise):
    """The seed noise of a *gain* (one arm minus another of the same seed) from the noise of
    one arm: sqrt(2) times its std, for judging a difference of two gains (four arms) with
    kd.compare, whose floor assumes a difference of two arms."""
    return dataclasses.replace(noise, std=noise.std * math.sqrt(2),
                               setting=f"{noise.setting}, x sqrt(2): the noise of a gain")


def _values(runs, value) -> list[float]:
    return [float(value(r)) for r in runs]


# ============================================================================ notebook 40's numbers

def _wrn_name(arch: str) -> str:
    """"wrn_16_3" -> "WRN16-3" (the slides' spelling)."""
    _, depth, width = arch.split("_")
    return f"WRN{depth}-{width}"


def runs_40(profile: str) -> dict[tuple, list]:
    """Every arm of `arms_40` -> its Results over `CHO_SEEDS` (kd.run: the cache serves
    what kd.run_many trained)."""
    from ..runner import run
    return {arm: [run(cho_arm(arm[0], arm[1], profile, s, arm[2]), progress=False) for s in CHO_SEEDS[profile]]
            for arm in arms_40(profile)}


def measures_40(runs: dict[tuple, list]) -> dict[tuple, dict[str, list[float]]]:
    """Per arm and seed: final-epoch test accuracy, and for a distilled arm the KD error
    (Cho & Hariharan: 100 - top-1 agreement with its teacher, eval mode) on the student's
    training images (un-augmented) and on the test images."""
    out = {}
    for arm, results in runs.items():
        m = {"acc": _values(results, lambda r: r.final_acc)}
        if arm[0] != "alone":
            m["train KD error"] = _values(results, lambda r: fidelity_of(r, "train")["kd_error"])
            m["test KD error"] = _values(results, lambda r: fidelity_of(r, "test")["kd_error"])
        out[arm] = m
    return out


def table_40(m: dict, teacher_acc: dict[str, float], profile: str, report=None) -> str:
    """The paper's numbers beside ours, one line per arm: the teacher's accuracy, the
    student's (mean ± std over seeds) and its KD errors; with `report`, each is a row of C1
    or C2 (paper column: the slides' WRN KD errors where the arm is one of theirs)."""
    from statistics import fmean, stdev

    def cell(values):
        return f"{fmean(values):6.2f} ± {stdev(values) if len(values) > 1 else 0:4.2f}"
    lines = [f"{'arm':34s} {'teacher %':>9s} {'student % (n)':>17s} {'train KD err':>15s} {'test KD err':>15s} "
             f"{'paper train/test':>16s}"]
    for (kind, teacher, student), v in m.items():
        name = label_40(kind, teacher, student)
        paper = (None, None)
        if student and teacher and _wrn_name(student) in CHO_KD_ERROR:
            paper = CHO_KD_ERROR[_wrn_name(student)].get(_wrn_name(teacher), (None, None))
        t_acc = f"{teacher_acc[teacher]:9.2f}" if teacher else f"{'-':>9s}"
        errs = [cell(v[k]) if k in v else f"{'-':>13s}" for k in ("train KD error", "test KD error")]
        theirs = "-" if paper[0] is None else f"{paper[0]:.2f} / {paper[1]:.2f}"
        lines.append(f"{name:34s} {t_acc} {cell(v['acc'])} ({len(v['acc'])}) {errs[0]:>15s} {errs[1]:>15s} {theirs:>16s}")
        if report is not None:
            claim = "C2" if kind == "eskd" or (teacher or "").startswith("early:") else "C1"
            report.row(claim, f"{name}: student accuracy (final epoch)", v["acc"])
            for k, p in zip(("train KD error", "test KD error"), paper):
                if k in v:
                    report.row(claim, f"{name}: {k}", v[k], paper=p)
    if report is not None:
        for teacher, acc in teacher_acc.items():
            report.row("C2" if teacher.startswith("early:") else "C1", f"teacher {teacher}: accuracy (final epoch)", acc)
    return "\n".join(lines)


def judge_40(report, m: dict, noise: dict, profile: str) -> None:
    """Record C1's and C2's parts and wholes (kd.verdicts protocol). `noise[(setting,
    quantity)]` is the kd.Noise of quantity "acc", "train KD error" or "test KD error" over
    the setting's seeds (kd.studies.noise of notebook 40)."""
    from statistics import fmean
    from ..verdicts import compare
    small, large = cho_teachers(profile)[0], cho_teachers(profile)[-1]
    ns, nl = f"KD from {small}", f"KD from {large}"
    kd_s, kd_l = m[("kd", small, None)], m[("kd", large, None)]
    es_s, es_l = m[("eskd", small, None)], m[("eskd", large, None)]
    early = m[("kd", f"early:{large}", None)]
    c1 = [report.judge("C1", f"the student is no better from {large} than from {small} (claim 1)",
                       no_better(kd_l["acc"], kd_s["acc"], margin=NO_BETTER_MARGIN, noise=noise[ns, "acc"],
                                 name=f"KD from {large} vs from {small}"),
                       part="claim 1: no better from the largest teacher", main=True,
                       paper=PAPER_40["largest minus smallest teacher"])]
    for where in ("test", "train"):
        key = f"{where} KD error"
        c1.append(report.judge("C1", f"the {key} grows from {small} to {large} (claim 2)",
                               compare(kd_l[key], kd_s[key], noise=noise[ns, key], direction=+1,
                                       name=f"{key}, {large} vs {small}", unit="points"),
                               part=f"claim 2: {key} grows", paper=PAPER_40[f"{key}, largest minus smallest"]))
    report.combine("C1", "bigger teachers are not better teachers (Cho & Hariharan): the student is no better "
                   "from the largest teacher, and its KD error grows with the teacher's size", c1,
                   main="claim 1: no better from the largest teacher")
    gain_s = [e - k for e, k in zip(es_s["acc"], kd_s["acc"])]
    gain_l = [e - k for e, k in zip(es_l["acc"], kd_l["acc"])]
    c2 = [report.judge("C2", f"ESKD beats full KD from {small} (claim 3)",
                       compare(es_s["acc"], kd_s["acc"], noise=noise[ns, "acc"], name=f"ESKD vs KD from {small}"),
                       part="claim 3: ESKD beats full KD (smallest teacher)", main=True,
                       paper=PAPER_40["ESKD gain, smallest teacher"]),
          report.judge("C2", f"ESKD beats full KD from {large} (claim 3)",
                       compare(es_l["acc"], kd_l["acc"], noise=noise[nl, "acc"], name=f"ESKD vs KD from {large}"),
                       part="claim 3: ESKD beats full KD (largest teacher)", paper=PAPER_40["ESKD gain, largest teacher"]),
          report.judge("C2", f"ESKD's gain is larger from {large} than from {small} (claim 3)",
                       compare(gain_l, gain_s, noise=gain_noise(noise[nl, "acc"]),
                               name=f"ESKD gain, {large} minus {small}"),
                       part="claim 3: most of all from the largest teacher",
                       paper=PAPER_40["ESKD gain, largest minus smallest"]),
          report.judge("C2", f"{large} stopped early is a better teacher than {large} trained fully (claim 4)",
                       compare(early["acc"], kd_l["acc"], noise=noise[nl, "acc"],
                               name=f"KD from early:{large} vs from {large}"),
                       part="claim 4: an early-stopped teacher is better")]
    report.combine("C2", "early-stopped KD beats full KD, most of all from the largest teacher, and an "
                   "early-stopped teacher beats the fully trained one (Cho & Hariharan)", c2,
                   main="claim 3: ESKD beats full KD (smallest teacher)")
    report.row("C2", f"ESKD minus KD from {small} (points)", gain_s, paper=PAPER_40["ESKD gain, smallest teacher"],
               unit="points")
    report.row("C2", f"ESKD minus KD from {large} (points)", gain_l, paper=PAPER_40["ESKD gain, largest teacher"],
               unit="points")
    report.row("C1", f"KD from {large} minus from {small}: student accuracy (points)",
               [a - b for a, b in zip(kd_l["acc"], kd_s["acc"])], paper=PAPER_40["largest minus smallest teacher"],
               unit="points")
    print(f"gains of ESKD over KD, per seed: {small} {gain_s}, {large} {gain_l} (means {fmean(gain_s):+.2f}, "
          f"{fmean(gain_l):+.2f})")


def figure_40(m: dict, teacher_acc: dict[str, float], band_std: float, profile: str):
    """Student accuracy, train KD error and test KD error against the teacher's depth: full
    KD and ESKD side by side (dots: seeds; lines: means), KD from the early-stopped largest
    teacher, and the student alone (band: its mean ± 2 x the seed std of one run,
    `band_std`)."""
    import matplotlib.pyplot as plt
    from statistics import fmean
    teachers = list(cho_teachers(profile))
    depth = {t: int(t.removeprefix("resnet")) for t in teachers}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    styles = {"kd": ("#3b75af", "o", "full KD", 0.0),
              "eskd": ("#e1812c", "s", f"ESKD (KD for {ESKD_FRACTION:.0%} of the epochs)", 1.0)}
    for ax, key in zip(axes, ("acc", "train KD error", "test KD error")):
        for kind, (colour, marker, label, shift) in styles.items():
            xs = [t for t in teachers if (kind, t, None) in m]
            for t in xs:
                ax.scatter([depth[t] + shift] * len(m[(kind, t, None)][key]), m[(kind, t, None)][key],
                           color=colour, marker=marker, alpha=0.45, s=18)
            ax.plot([depth[t] + shift for t in xs], [fmean(m[(kind, t, None)][key]) for t in xs], color=colour,
                    marker=marker, label=label)
        early = m[("kd", f"early:{teachers[-1]}", None)][key]
        ax.scatter([depth[teachers[-1]] + 2] * len(early), early, color="#55a868", marker="^", s=30,
                   label=f"full KD from {teachers[-1]} stopped at {EARLY_TEACHER_FRACTION:.0%} of its schedule")
        if key == "acc":
            alone = fmean(m[("alone", None, None)]["acc"])
            ax.axhspan(alone - 2 * band_std, alone + 2 * band_std, color="#cccccc", alpha=0.5,
                       label=f"student alone: mean ± 2 seed std (that of KD from {teachers[0]})")
            ax.axhline(alone, color="#888888", lw=0.8)
        ax.set_xticks([depth[t] for t in teachers],
                      [f"{t}\n{teacher_acc[t]:.1f}%" for t in teachers], fontsize=8)
        ax.set_xlabel("teacher (its test accuracy)")
        ax.set_ylabel({"acc": "student test accuracy (%)", "train KD error": "KD error on the training images (%)",
                       "test KD error": "KD error on the test images (%)"}[key])
    axes[0].legend(fontsize=7)
    student = CHO_STUDENT[profile]
    fig.suptitle(f"Cho & Hariharan: {student} from teachers of growing depth ({profile}; KD error = 100 - "
                 f"top-1 agreement with the teacher, eval mode; dots: seeds)", fontsize=10)
    fig.tight_layout()
    return fig


# ============================================================================ notebook 41's numbers

# the fidelity measurements of notebook 41: name -> (split, augmented)
FIDELITY_41 = {"test": ("test", False), "train": ("train", False), "train, augmented": ("train", True)}


def runs_41(profile: str) -> dict[str, list]:
    """Every arm of `arms_41` -> its Results over `STANTON_SEEDS` (served by the cache)."""
    from ..runner import run
    return {name: [run(stanton_arm(name, profile, s), progress=False) for s in STANTON_SEEDS[profile]]
            for name in arms_41(profile)}


def measures_41(runs: dict[str, list]) -> dict[str, dict[str, list[float]]]:
    """Per arm and seed: final-epoch test accuracy, and agreement (%) and predictive KL (nats)
    with its teacher on the test images, on the distillation set as it is ("train") and under
    the arm's augmentation ("train, augmented"), both networks in eval mode."""
    out = {}
    for name, results in runs.items():
        m = {"acc": _values(results, lambda r: r.final_acc)}
        for what, (split, augmented) in FIDELITY_41.items():
            values = [fidelity_of(r, split, augmented) for r in results]
            m[f"{what} agreement"] = [v["agreement"] for v in values]
            m[f"{what} KL"] = [v["kl"] for v in values]
        out[name] = m
    return out


def table_41(m: dict, report=None) -> str:
    """Ours, one line per arm (mean ± std over seeds); with `report`, each number a row of T1
    (the paper's are plotted, not printed: no paper column)."""
    from statistics import fmean, stdev
    keys = ["acc"] + [f"{w} {q}" for w in FIDELITY_41 for q in ("agreement", "KL")]
    head = ["test acc %", "test agree %", "test KL", "train agree %", "train KL", "aug. agree %", "aug. KL"]
    lines = [f"{'arm':32s}" + "".join(f"{h:>16s}" for h in head)]
    for name, v in m.items():
        cells = [f"{fmean(v[k]):.2f} ± {stdev(v[k]) if len(v[k]) > 1 else 0:.2f}" if "KL" not in k
                 else f"{fmean(v[k]):.3f} ± {stdev(v[k]) if len(v[k]) > 1 else 0:.3f}" for k in keys]
        lines.append(f"{name:32s}" + "".join(f"{c:>16s}" for c in cells))
        if report is not None:
            for k in keys:
                report.row("T1", f"{name}: {k if k != 'acc' else 'test accuracy (final epoch)'}", v[k],
                           unit="nats" if "KL" in k else "%")
    return "\n".join(lines)


def judge_41(report, m: dict, noise: dict, teacher_acc: float) -> None:
    """Record T1's parts and whole (kd.verdicts protocol). `noise[(setting, quantity)]` is the
    kd.Noise of quantity ("acc", "test agreement", "train agreement", "train, augmented
    agreement") over the setting's seeds (kd.studies.noise of notebook 41). A comparison with a
    fixed bar (99%, 95%) passes the bar as the control of every seed: its se floor counts the
    bar as a second noisy arm, sqrt(2) too large, a conservative test."""
    from ..verdicts import compare
    A, B, C = "self, crop+flip", "ensemble, none", "ensemble, crop+flip"
    D, E = "ensemble, crop+flip+mixup", "ensemble, crop+flip, 1/5 data"
    aug = "train, augmented agreement"

    def bar(name, quantity, level, what):
        values = m[name][quantity]
        return compare(values, [level] * len(values), noise=noise[name, quantity], direction=-1,
                       name=f"{name}: {what} below {level:g}%", unit="%")
    parts = [
        report.judge("T1", f"self-distilled students agree with their teacher on less than {WELL_BELOW:g}% of "
                     f"the training images (claim 1)", bar(A, "train agreement", WELL_BELOW, "train agreement"),
                     part="claim 1: train agreement well below 100% (self-distillation)", main=True),
        report.judge("T1", f"students of the ensemble agree with it on less than {WELL_BELOW:g}% of the training "
                     f"images (claim 1)", bar(C, "train agreement", WELL_BELOW, "train agreement"),
                     part="claim 1: train agreement well below 100% (ensemble)"),
        report.judge("T1", "self-distilled students are more accurate than their teacher (claim 2)",
                     compare(m[A]["acc"], [teacher_acc], paired=False, noise=noise["teacher's network alone", "acc"],
                             name=f"{A} vs its teacher"),
                     part="claim 2: self-distilled students beat their teacher"),
        report.judge("T1", f"... while agreeing with it on less than {POOR_AGREEMENT:g}% of the test images (claim 2)",
                     bar(A, "test agreement", POOR_AGREEMENT, "test agreement"),
                     part="claim 2: while agreeing poorly"),
        report.judge("T1", "crop+flip raises the test agreement over no augmentation (claim 3)",
                     compare(m[C]["test agreement"], m[B]["test agreement"], noise=noise[B, "test agreement"],
                             name=f"{C} vs {B}: test agreement", unit="%"),
                     part="claim 3: augmentation raises test agreement (crop+flip)"),
        report.judge("T1", "mixup on crop+flip raises the test agreement further (claim 3)",
                     compare(m[D]["test agreement"], m[C]["test agreement"], noise=noise[C, "test agreement"],
                             name=f"{D} vs {C}: test agreement", unit="%"),
                     part="claim 3: augmentation raises test agreement (mixup)"),
        report.judge("T1", "heavier augmentation (mixup on crop+flip) lowers the agreement on the distillation "
                     "set itself (claim 4)",
                     compare(m[D][aug], m[C][aug], noise=noise[C, aug], direction=-1,
                             name=f"{D} vs {C}: agreement on the augmented distillation set", unit="%"),
                     part="claim 4: heavier augmentation lowers distillation-set agreement (mixup)"),
        report.judge("T1", "crop+flip lowers the agreement on the distillation set against none (claim 4)",
                     compare(m[C][aug], m[B][aug], noise=noise[B, aug], direction=-1,
                             name=f"{C} vs {B}: agreement on the distillation set", unit="%"),
                     part="claim 4: heavier augmentation lowers distillation-set agreement (crop+flip)"),
        report.judge("T1", f"five times the distillation data lowers the agreement on it (claim 4)",
                     compare(m[C][aug], m[E][aug], noise=noise[E, aug], direction=-1,
                             name=f"{C} vs {E}: agreement on the augmented distillation set", unit="%"),
                     part="claim 4: more data lowers distillation-set agreement"),
    ]
    report.combine("T1", "students do not match their teachers even on the training data (Stanton et al.)", parts,
                   main="claim 1: train agreement well below 100% (self-distillation)")


def figure_41(m: dict, runs: dict[str, list], teacher_acc: dict[str, float], profile: str):
    """Left: agreement with the teacher against test accuracy for every student (filled: on
    the test images; open: on the distillation set as it is; one point per seed; squares:
    self-distillation, circles: the ensemble), the teachers' accuracies as vertical lines.
    Right: agreement on the training batches over the epochs, as the trainer logs it (train
    mode, augmented; mean over seeds, band: min to max)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator
    colours = dict(zip(m, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.8))
    for name, v in m.items():
        marker = "s" if name.startswith("self") else "o"
        ax1.scatter(v["acc"], v["test agreement"], color=colours[name], marker=marker, label=name)
        ax1.scatter(v["acc"], v["train agreement"], facecolors="none", edgecolors=colours[name], marker=marker)
        curves = np.array([[h.get("train_agree", np.nan) for h in r.metrics["history"]] for r in runs[name]])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax2.plot(epochs, np.nanmean(curves, 0), color=colours[name], marker=".", label=name)
        ax2.fill_between(epochs, np.nanmin(curves, 0), np.nanmax(curves, 0), color=colours[name], alpha=0.15)
    for (label, acc), style in zip(teacher_acc.items(), ("--", ":")):
        ax1.axvline(acc, color="#555555", ls=style, lw=1, label=f"{label}: {acc:.2f}%")
    ax1.scatter([], [], color="k", label="filled: on the test images")
    ax1.scatter([], [], facecolors="none", edgecolors="k", label="open: on the distillation set (no augmentation)")
    ax1.set_xlabel("student test accuracy (%)")
    ax1.set_ylabel("top-1 agreement with the teacher (%), eval mode")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("epoch")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax2.set_xlim(0.5, max(len(r.metrics["history"]) for rs in runs.values() for r in rs) + 0.5)
    ax2.set_ylabel("agreement on the training batches (%), train mode")
    ax2.set_title("as gnosis logs it while distilling (train_ts_agree); band: min to max over seeds", fontsize=9)
    fig.suptitle(f"Stanton et al.: fidelity against accuracy, {STANTON_NET[profile]} students ({profile}; "
                 f"one point per seed)", fontsize=10)
    fig.tight_layout()
    return fig


# ============================================================================ what the notebooks print

# the quantities whose seed noise the verdicts use: name -> value(result)
QUANTITIES_40 = {"acc": lambda r: r.final_acc,
                 "train KD error": lambda r: fidelity_of(r, "train")["kd_error"],
                 "test KD error": lambda r: fidelity_of(r, "test")["kd_error"]}
QUANTITIES_41 = {"acc": lambda r: r.final_acc,
                 "test agreement": lambda r: fidelity_of(r, "test")["agreement"],
                 "train agreement": lambda r: fidelity_of(r, "train")["agreement"],
                 "train, augmented agreement": lambda r: fidelity_of(r, "train", True)["agreement"]}
# He et al. 2016 ("Deep residual learning for image recognition", Table 6): CIFAR-10 test accuracy of
# their ResNets with the standard 164-epoch recipe, the regime cell's reference for the teachers
# (Cho & Hariharan plot their CIFAR-10 accuracies without printing them)
HE_2016_CIFAR10 = {"resnet20": 91.25, "resnet32": 92.49, "resnet44": 92.83, "resnet56": 93.03, "resnet110": 93.57}


def shared_run(cfg: RunConfig, profile: str) -> bool:
    """Whether a run is shared with other notebooks and left out of this one's budget: a
    shared teacher (recipes.teacher, the seed-0 baseline of its network) or one of notebook
    01's runs (the ResNet-8 baseline's noise seeds among them)."""
    from .cifar_recipe import plan as plan_01
    if cfg.method.name != "ce" or cfg.teacher is not None:
        return False
    try:
        if cfg == recipes.teacher(cfg.model.arch, profile, dataset=cfg.data.name):
            return True
    except ValueError:
        return False
    return cfg.key() in {j.config.key() for j in plan_01(profile)}


def rule_40(profile: str) -> str:
    """Notebook 40's plan and its cpu rule, as printed before any run."""
    seeds = CHO_SEEDS[profile]
    lines = [f"profile {profile}: student {CHO_STUDENT[profile]}, teachers {', '.join(cho_teachers(profile))}; "
             f"seeds {list(seeds)}, noise controls over {list(CHO_NOISE_SEEDS[profile])}; ESKD stops after epoch "
             f"{eskd_method(profile).stop_epoch} of {recipes.schedule(profile).epochs}"]
    if profile == "cpu":
        core = _core_40(profile)
        lines.append(f"rule: the core arms run whatever their projection; each optional group (in this order) "
                     f"runs only if the projection with it stays within {PLAN_SHARE:.0%} of the "
                     f"{BUDGET_40_S / 60:.0f}-minute budget (the rest: evaluation, noise values, overhead)")
        lines.append(f"  core: {', '.join(label_40(*a) for a in core)}: projected {plan_seconds_40(core) / 60:.0f} min")
        arms = list(core)
        for group in _optional_40(profile):
            total = plan_seconds_40(arms + group) / 60
            fits = total <= PLAN_SHARE * BUDGET_40_S / 60
            lines.append(f"  + {', '.join(label_40(*a) for a in group)}: {total:.0f} min -> "
                         f"{'run' if fits else 'skipped (and every later group)'}")
            if not fits:
                break
            arms += group
        lines.append("  (seconds per epoch: " + ", ".join(
            f"{label_40(k, t, st) if k != 'teacher' else t + ' alone'} {v:g}" for (k, t, st), v in
            CPU_EPOCH_SECONDS_40.items()) + "; shared teachers and notebook 01's runs not counted)")
    lines.append(f"arms run: {', '.join(label_40(*a) for a in arms_40(profile))}")
    return "\n".join(lines)


def rule_41(profile: str) -> str:
    """Notebook 41's plan and its cpu rule, as printed before any run."""
    lines = [f"profile {profile}: {STANTON_NET[profile]} students and teachers on {STANTON_DATASET[profile]}; "
             f"ensemble members seeds {list(ENSEMBLE_SEEDS)} (seed {ENSEMBLE_SEEDS[0]}: the self-distillation "
             f"teacher); students seeds {list(STANTON_SEEDS[profile])}; pure soft targets, T {STANTON_KD.T:g}"]
    if profile == "cpu":
        lines.append(f"rule: the arms {' | '.join(ARMS_41)} run whatever their projection; each optional arm "
                     f"(in this order) runs only if the projection with it stays within {PLAN_SHARE:.0%} of "
                     f"the {BUDGET_41_S / 60:.0f}-minute budget")
        names = list(ARMS_41)
        lines.append(f"  core: projected {plan_seconds_41(names) / 60:.0f} min")
        for name in OPTIONAL_41:
            total = plan_seconds_41(names + [name]) / 60
            fits = total <= PLAN_SHARE * BUDGET_41_S / 60
            lines.append(f"  + {name}: {total:.0f} min -> {'run' if fits else 'skipped (and every later arm)'}")
            if not fits:
                break
            names.append(name)
        lines.append("  (seconds per epoch: " + ", ".join(f"{k} with {a} {v:g}" for (k, a), v in
                                                          CPU_EPOCH_SECONDS_41.items())
                     + f"; evaluation {EVAL_SECONDS_41:g} s a student and teacher pass; the members are notebook "
                       f"01's runs, not counted)")
    lines.append(f"arms run: {' | '.join(arms_41(profile))}")
    return "\n".join(lines)


def regime_rows_40(m: dict, teacher_acc: dict[str, float], profile: str) -> list[tuple[str, float, float | None]]:
    """Notebook 40's regime: every teacher (the paper column: He et al. 2016's CIFAR-10
    accuracy of that ResNet where they give one; Cho & Hariharan print none), the student
    alone and from each teacher, and the largest teacher-student gap beside ImageNet's
    ResNet50 - ResNet18 (the slides: 76.15 - 69.76)."""
    from statistics import fmean
    student = CHO_STUDENT[profile]
    rows = [(f"teacher {t}" + (" (paper column: He et al. 2016)" if t in HE_2016_CIFAR10 else ""), acc,
             HE_2016_CIFAR10.get(t)) for t, acc in teacher_acc.items()]
    alone = fmean(m[("alone", None, None)]["acc"])
    rows.append((f"{student} alone", alone, None))
    rows += [(f"{student}, {label_40(*arm)}", fmean(v["acc"]), None) for arm, v in m.items()
             if arm[2] is None and arm[0] != "alone"]
    large = cho_teachers(profile)[-1]
    rows.append((f"gap: teacher {large} minus {student} alone (paper: ImageNet ResNet50 - ResNet18)",
                 teacher_acc[large] - alone, round(CHO_IMAGENET["ResNet18"][0] - CHO_IMAGENET["ResNet50"][0], 2)))
    return rows


def regime_rows_41(m: dict, teacher_acc: dict[str, float], profile: str) -> list[tuple[str, float, float | None]]:
    """Notebook 41's regime: the self-distillation teacher and the ensemble, each arm's
    students, and the teacher-student gaps; no paper column (Stanton et al.'s CIFAR-100
    ResNet-56 numbers are plotted, not printed, and are another dataset)."""
    from statistics import fmean
    rows = [(f"teacher: {name}", acc, None) for name, acc in teacher_acc.items()]
    rows += [(f"students: {name}", fmean(v["acc"]), None) for name, v in m.items()]
    self_teacher, ensemble = list(teacher_acc.values())[:2]
    rows.append(("gap: self-distillation teacher minus its students", self_teacher - fmean(m["self, crop+flip"]["acc"]), None))
    rows.append(("gap: ensemble minus its crop+flip students", ensemble - fmean(m["ensemble, crop+flip"]["acc"]), None))
    return rows


def print_regime(info: dict) -> str:
    """The regime as lines: ours beside the paper's column and the difference."""
    width = max(len(e["what"]) for e in info["rows"])
    lines = [f"{'':{width}s} {'ours':>8s} {'paper':>8s} {'ours - paper':>13s}"]
    for e in info["rows"]:
        paper = "-" if e["paper"] is None else f"{e['paper']:8.2f}"
        gap = "-" if e["gap"] is None else f"{e['gap']:+13.2f}"
        lines.append(f"{e['what']:{width}s} {e['ours']:8.2f} {paper:>8s} {gap:>13s}")
    lines.append(f"short recipe (an accuracy more than {info['short_gap']:g} points below the paper's column): "
                 f"{info['short']}")
    return "\n".join(lines)
