"""The standard runs of the CIFAR studies, per profile: one place that says what "the
ResNet-26 teacher under `cpu`" is, so that every notebook asking for it gets the identical
RunConfig and the run cache trains it once for all of them.

- `paper`: Sarfraz et al.'s CIFAR recipe (Table I's training scheme): SGD momentum 0.9,
  batch 128, lr 0.1 multiplied by 0.2 at epochs 60, 120 and 150, weight decay 5e-4, 200
  epochs, random crop (4-pixel reflect padding) and horizontal flip.
- `cpu`: the same recipe with its step schedule compressed to `CPU_EPOCHS` epochs (the
  milestones at the same fractions of training: 30%, 60%, 75%). Notebook
  01_cifar_recipe.ipynb shows how `CPU_EPOCHS` was chosen, from the baselines' accuracy
  and time on a 2-core CPU alone, never from a KD result.
- `smoke`: one epoch on 20 images a class, evaluated on 20 test images a class: a pipeline
  check only.

Teachers are the seed-0 baselines of their network (`teacher("resnet26", profile)` is
`baseline("resnet26", profile, seed=0)`): notebook 01 trains them while calibrating.
`network` gives the ModelConfig of an architecture under a profile: under `cpu` and `smoke`
Gupta's ResNet18/50 family runs at `CPU_WIDTH` of its channels (notebook 30), the CIFAR
ResNets and WRNs unchanged. `adversarial_baseline` is zhang Table 5's PGD-7 adversarial
training (`adversarial_teacher`: its seed 0, the AT teacher of notebook 12).
"""
from __future__ import annotations

from .config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig, check_profile

PAPER_EPOCHS = 200
PAPER_MILESTONES = (60, 120, 150)
# chosen in notebook 01 by the rule it prints (time of the largest downstream plan; accuracy
# shown): notebook 20's 24 KD runs of ResNet-8 from ResNet-26 fit its 3 hours at 10, not 20
CPU_EPOCHS = 10
CANDIDATE_EPOCHS = (5, 10, 20)
# the networks the CIFAR studies use most; the teachers of Sarfraz's two families
NETWORKS = ("resnet8", "resnet14", "resnet26", "wrn_16_2", "wrn_40_2")
TEACHERS = ("resnet26", "wrn_40_2")


def step_schedule(epochs: int, lr: float = 0.1) -> TrainConfig:
    """Sarfraz's step schedule over `epochs` epochs: lr 0.1, x0.2 at 30%, 60% and 75% of
    training (epochs 60/120/150 of 200), SGD momentum 0.9, batch 128, weight decay 5e-4
    (`lr`: another peak rate, for notebook 01's calibration)."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 1")
    milestones = tuple(sorted({max(1, round(epochs * m / PAPER_EPOCHS)) for m in PAPER_MILESTONES}
                              - {epochs} if epochs > 1 else ()))
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=lr, momentum=0.9,
                       weight_decay=5e-4, schedule="step", milestones=milestones, gamma=0.2)


# The cpu schedule (the budgeted-training issue): step schedules are made for long runs; under a
# fixed small budget a rate that decays to zero over the whole run reaches more (Li, Yumer and
# Ramanan, "Budgeted Training", ICLR 2020; Smith and Topin's one-cycle policy). Notebook 01
# calibrates it from baselines alone, by `choose_schedule`: each of `BUDGET_SCHEDULES` at each of
# its peak rates, seed 0 of ResNet-8 and ResNet-26; the best rate of each schedule (mean over
# the two networks) is a finalist and gets seed 1; the finalist with the highest mean over the
# two networks and two seeds is the cpu schedule. kd's one-cycle: linear warm-up over the first
# 25% of the steps to the peak rate, then linear to zero; cosine from the peak rate to zero.
BUDGET_SCHEDULES = {"step": (0.05, 0.1, 0.2), "cosine": (0.05, 0.1, 0.2), "onecycle": (0.1, 0.2, 0.4)}
# the cpu schedule (kind, peak rate) `choose_schedule` picked in notebook 01's calibration
CPU_SCHEDULE = ("step", 0.1)
CALIBRATION_NETWORKS = ("resnet8", "resnet26")
CALIBRATION_SEEDS = (0, 1)


def budget_schedule(kind: str, lr: float, epochs: int) -> TrainConfig:
    """The CIFAR recipe (SGD momentum 0.9, batch 128, weight decay 5e-4) over `epochs` epochs
    with schedule `kind` ("step": Sarfraz's, compressed; "cosine"; "onecycle") peaking at `lr`."""
    if kind not in BUDGET_SCHEDULES:
        raise ValueError(f"schedule={kind!r} is not a calibrated schedule; allowed: {', '.join(BUDGET_SCHEDULES)}")
    if kind == "step":
        return step_schedule(epochs, lr)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 1")
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=lr, momentum=0.9,
                       weight_decay=5e-4, schedule=kind)


def calibration_run(arch: str, kind: str, lr: float, profile: str, seed: int = 0) -> RunConfig:
    """Notebook 01's calibration run: `arch` trained alone under schedule `kind` at peak `lr`,
    at the profile's length."""
    epochs = {"smoke": 1, "cpu": CPU_EPOCHS, "paper": PAPER_EPOCHS}[check_profile(profile)]
    return RunConfig(data=data(profile), model=network(arch, profile),
                     train=budget_schedule(kind, lr, epochs), seed=seed)


def finalists(seed0: dict[tuple[str, float], float]) -> list[tuple[str, float]]:
    """The best peak rate of each schedule by `seed0[(kind, lr)]` (the seed-0 accuracy averaged
    over the calibration networks); a tie goes to the lower rate."""
    best: dict[str, tuple[str, float]] = {}
    for (kind, lr), acc in sorted(seed0.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if kind not in best or acc > seed0[best[kind]]:
            best[kind] = (kind, lr)
    return [best[k] for k in BUDGET_SCHEDULES if k in best]


def choose_schedule(means: dict[tuple[str, float], float]) -> tuple[str, float]:
    """The finalist with the highest mean accuracy (over the calibration networks and seeds);
    a tie goes to the earlier schedule of `BUDGET_SCHEDULES`, then the lower rate."""
    if not means:
        raise ValueError("choose_schedule needs at least one finalist")
    order = list(BUDGET_SCHEDULES)
    return max(means, key=lambda k: (means[k], -order.index(k[0]), -k[1]))


def schedule(profile: str, epochs: int | None = None) -> TrainConfig:
    """The CIFAR training schedule of a profile: `paper` Sarfraz's step schedule over 200
    epochs; `cpu` (and `smoke`, at 1 epoch) the calibrated `CPU_SCHEDULE` over `CPU_EPOCHS`.
    `epochs`: the same schedule over another length (notebook 01's candidates)."""
    check_profile(profile)
    if profile == "paper":
        return step_schedule(epochs or PAPER_EPOCHS)
    return budget_schedule(*CPU_SCHEDULE, epochs or {"smoke": 1, "cpu": CPU_EPOCHS}[profile])


def data(profile: str, dataset: str = "cifar10") -> DataConfig:
    """The CIFAR data of a profile: the whole training and test splits (`smoke`: 20 images a
    class of each). `dataset` "cifar100" is offered under `paper` only: it cannot be had
    offline, and the `cpu` notebooks run CIFAR-10 in its place and say so."""
    check_profile(profile)
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"dataset={dataset!r} is not a CIFAR dataset; allowed: cifar10, cifar100")
    if dataset == "cifar100" and profile != "paper":
        raise ValueError(f"cifar100 is run under the paper profile only, not {profile!r}: it "
                         f"cannot be had offline (use cifar10 and say so)")
    if profile == "smoke":
        return DataConfig(dataset, per_class=20, test_per_class=20)
    return DataConfig(dataset)


# Gupta's ResNet50 (23.5M parameters) cannot be trained on 2 cores: under cpu and smoke the
# ResNet18/50 family keeps its blocks and strides at 1/8 of the channels (ResNet50: 0.38M
# parameters, about a ResNet-26's epoch time on this machine); paper runs full width
CPU_WIDTH = 0.125
SCALED = ("resnet18", "resnet50")


def network(arch: str | ModelConfig, profile: str, **options) -> ModelConfig:
    """The ModelConfig of `arch` (with builder `options` such as blocks, stem_stride) under the
    profile: ResNet18/50 at `CPU_WIDTH` of their channels outside `paper`, other networks as
    named. A ModelConfig is returned as given: the caller has chosen everything."""
    check_profile(profile)
    if isinstance(arch, ModelConfig):
        if options:
            raise ValueError(f"give options {sorted(options)} in the ModelConfig, not beside it")
        return arch
    if arch in SCALED and profile != "paper":
        options.setdefault("width", CPU_WIDTH)
    return ModelConfig(arch, **options)


def baseline(arch: str | ModelConfig, profile: str, seed: int = 0, dataset: str = "cifar10",
             epochs: int | None = None) -> RunConfig:
    """A network trained alone with cross-entropy under the profile's recipe (`epochs`: the
    same recipe compressed to another length, for notebook 01's calibration)."""
    return RunConfig(data=data(profile, dataset), model=network(arch, profile), train=schedule(profile, epochs),
                     seed=seed)


def teacher(arch: str, profile: str, dataset: str = "cifar10") -> RunConfig:
    """The teacher of a CIFAR study: the seed-0 baseline of `arch`, shared by every notebook
    that distils from it: ResNet-26 and WRN-40-2 for Sarfraz's two families (notebook 20),
    ResNet-14/ResNet18 for zhang's reversed KD (notebook 11), ResNet50 for Gupta's students
    (notebook 30, at `CPU_WIDTH` outside `paper`)."""
    return baseline(arch, profile, seed=0, dataset=dataset)


def student(arch: str | ModelConfig, method: MethodConfig, teacher_run: RunConfig, profile: str,
            seed: int = 0) -> RunConfig:
    """`arch` distilled from `teacher_run` by `method` under the profile's recipe."""
    return RunConfig(data=teacher_run.data, model=network(arch, profile), method=method,
                     train=schedule(profile), seed=seed, teacher=teacher_run)


# the seed noise of the cpu recipe is measured on ResNet-8 over these seeds (notebook 01)
NOISE_SEEDS = (0, 1, 2, 3, 4)
# the largest downstream plan: notebook 20's minimum, 12 methods x 2 seeds of ResNet-8
# distilled from ResNet-26, within its 3-hour budget
PLAN_RUNS, PLAN_BUDGET_S = 24, 3 * 3600


def choose_epochs(candidates: tuple[int, ...], kd_epoch_seconds: float, runs: int = PLAN_RUNS,
                  budget_s: float = PLAN_BUDGET_S) -> int:
    """The rule notebook 01 states before any KD run: the longest candidate length at which
    `runs` KD runs of `kd_epoch_seconds` per epoch fit in `budget_s` (the shortest if none
    does). Only time enters; the notebook shows the accuracy each length gives up."""
    if kd_epoch_seconds <= 0 or not candidates:
        raise ValueError(f"need candidates and kd_epoch_seconds > 0, got {candidates}, {kd_epoch_seconds}")
    fitting = [e for e in candidates if runs * e * kd_epoch_seconds <= budget_s]
    return max(fitting) if fitting else min(candidates)
