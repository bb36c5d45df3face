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


def step_schedule(epochs: int) -> TrainConfig:
    """Sarfraz's step schedule over `epochs` epochs: lr 0.1, x0.2 at 30%, 60% and 75% of
    training (epochs 60/120/150 of 200), SGD momentum 0.9, batch 128, weight decay 5e-4."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 1")
    milestones = tuple(sorted({max(1, round(epochs * m / PAPER_EPOCHS)) for m in PAPER_MILESTONES}
                              - {epochs} if epochs > 1 else ()))
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                       weight_decay=5e-4, schedule="step", milestones=milestones, gamma=0.2)


def schedule(profile: str) -> TrainConfig:
    """The CIFAR training schedule of a profile."""
    epochs = {"smoke": 1, "cpu": CPU_EPOCHS, "paper": PAPER_EPOCHS}[check_profile(profile)]
    return step_schedule(epochs)


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
    train = schedule(profile) if epochs is None else step_schedule(epochs)
    return RunConfig(data=data(profile, dataset), model=network(arch, profile), train=train,
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


# zhang 4.4 (after Maroto et al. 2022): PGD-7 adversarial training, 50 epochs, SGD from lr 0.1
# with exponential decay, ResNet18. Neither paper gives the decay rate: kd decays to 1/100 of
# the initial rate over the run (gamma = 0.01 ** (1 / epochs), reached after the last epoch), with
# momentum 0.9, weight decay
# 5e-4 and batch 128 as in the CIFAR recipe. Under cpu a PGD-7 epoch costs about eight clean
# ones, so the network is ResNet-8 and the run 10 epochs.
AT_EPOCHS = {"smoke": 1, "cpu": 10, "paper": 50}
AT_NETWORK = {"smoke": "resnet8", "cpu": "resnet8", "paper": "resnet18"}
PGD7 = MethodConfig("pgd_at", eps=8 / 255, step_size=2 / 255, steps=7)


def adversarial_schedule(epochs: int) -> TrainConfig:
    """zhang 4.4's schedule over `epochs` epochs: SGD momentum 0.9, batch 128, weight decay
    5e-4, lr 0.1 multiplied by gamma = 0.01 ** (1 / epochs) after every epoch."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 1")
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                       weight_decay=5e-4, schedule="exp", gamma=0.01 ** (1 / epochs))


def adversarial_baseline(profile: str, seed: int = 0, arch: str | None = None) -> RunConfig:
    """zhang Table 5's "AT student, no teacher": `arch` (default `AT_NETWORK[profile]`) trained
    with cross-entropy on PGD-7 examples (eps 8/255, step 2/255, random start)."""
    return RunConfig(data=data(profile), model=network(arch or AT_NETWORK[check_profile(profile)],
                                                       profile),
                     method=PGD7, train=adversarial_schedule(AT_EPOCHS[profile]), seed=seed)


def adversarial_teacher(profile: str, arch: str | None = None) -> RunConfig:
    """The adversarially trained teacher of notebook 12 (zhang Table 5, after Maroto et al.):
    the seed-0 PGD-7 baseline of the student's own architecture."""
    return adversarial_baseline(profile, seed=0, arch=arch)


# Sarfraz et al. 2020 (notebook 20): Table I's methods with MethodConfig's defaults, which are
# Table I's settings (ONE's T is 3); CRD is in kd's zoo but not in the paper. Each student
# learns from its family's teacher: ResNet-26 for the ResNets, WRN-40-2 for the WRNs. FitNet
# and FSP train in two stages (Sarfraz III): stage 1 fits the hint or the flow matrices alone
# for half as many epochs as stage 2 (100 of 200) at lr 0.001, x0.1 at 60% and 80% (epochs 60
# and 80); stage 2 is Hinton KD (alpha 0.9, T 4) from the stage-1 weights, standard schedule.
SARFRAZ_METHODS = ("ce", "hinton", "bss", "fitnet", "fsp", "at", "sp", "rkd_d", "rkd_a",
                   "rkd_da", "one", "dml")
SARFRAZ_EXTRA = ("crd",)
SARFRAZ_TEACHER = {**{f"resnet{d}": "resnet26" for d in (8, 14, 20, 26)},
                   **{f"wrn_{d}_2": "wrn_40_2" for d in (10, 16, 28, 40)}}
TWO_STAGE = ("fitnet", "fsp")


def stage1_schedule(profile: str) -> TrainConfig:
    """Sarfraz's initialisation stage of FitNet and FSP: half the profile's epochs (100 of 200
    under `paper`, 5 of 10 under `cpu`), SGD lr 0.001 x0.1 at 60% and 80%, momentum 0.9, batch
    128, weight decay 5e-4."""
    epochs = max(1, schedule(profile).epochs // 2)
    milestones = tuple(sorted({m for m in (round(0.6 * epochs), round(0.8 * epochs)) if 0 < m < epochs}))
    return TrainConfig(epochs=epochs, batch_size=128, optimizer="sgd", lr=0.001, momentum=0.9,
                       weight_decay=5e-4, schedule="step", milestones=milestones, gamma=0.1)


def sarfraz_arm(method: str, arch: str, profile: str, seed: int = 0,
                dataset: str = "cifar10") -> RunConfig:
    """The run of Sarfraz Table III/IV's cell (`method`, student `arch`) for one seed: "ce" is
    the baseline; "one" and "dml" train without a teacher (their own ensemble or peer); "fitnet"
    and "fsp" are the stage-2 run, whose `init` is the stage-1 run; the others distil from
    `SARFRAZ_TEACHER[arch]`'s teacher."""
    if method not in SARFRAZ_METHODS + SARFRAZ_EXTRA:
        raise ValueError(f"method={method!r} is not one of Sarfraz's arms: "
                         f"{', '.join(SARFRAZ_METHODS + SARFRAZ_EXTRA)}")
    if arch not in SARFRAZ_TEACHER:
        raise ValueError(f"arch={arch!r} is not a Sarfraz student: {', '.join(SARFRAZ_TEACHER)}")
    if method == "ce":
        return baseline(arch, profile, seed=seed, dataset=dataset)
    if method in ("one", "dml"):
        return RunConfig(data=data(profile, dataset), model=network(arch, profile),
                         method=MethodConfig(method, T=3.0 if method == "one" else 4.0),
                         train=schedule(profile), seed=seed)
    teacher_run = teacher(SARFRAZ_TEACHER[arch], profile, dataset)
    if method in TWO_STAGE:
        stage1 = RunConfig(data=teacher_run.data, model=network(arch, profile),
                           method=MethodConfig(method), train=stage1_schedule(profile), seed=seed,
                           teacher=teacher_run)
        return student(arch, MethodConfig("hinton"), teacher_run, profile, seed).with_(init=stage1)
    return student(arch, MethodConfig(method), teacher_run, profile, seed)


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


# zhang Tables 3-5 give no KD hyper-parameters; kd takes Yuan et al. 2020's ResNet18 settings
# (their public configs; Tf-KD reg with the virtual teacher softened as eq. 9 writes it, not
# the code's "multiplier" variant): Tf-KD self alpha 0.95, T 6; Tf-KD reg alpha 0.1, T 20,
# a 0.99; Re-KD alpha 0.6, T 20 (their ResNet18-from-MobileNetV2 run). The adversarial arms of
# Table 5 keep the same settings; Maroto et al.'s AKD arm uses Tf-KD self's, so that it differs
# from AT Tf-KD self only in reading the teacher on the attacked image.
REVERSED = MethodConfig("reversed", alpha=0.6, T=20.0)
TFKD_SELF = MethodConfig("tfkd_self", alpha=0.95, T=6.0)
TFKD_REG = MethodConfig("tfkd_reg", alpha=0.1, T=20.0, a=0.99)
AT_TFKD_SELF = MethodConfig("adversarial", alpha=0.95, T=6.0, eps=8 / 255, step_size=2 / 255, steps=7)
AT_TFKD_REG = MethodConfig("adversarial_tfkd_reg", alpha=0.1, T=20.0, a=0.99, eps=8 / 255,
                           step_size=2 / 255, steps=7)
AKD = MethodConfig("akd", alpha=0.95, T=6.0, eps=8 / 255, step_size=2 / 255, steps=7)
# zhang's networks (Tables 3-4): the weaker and the stronger one of reversed KD (the stronger
# is the student), and the network of Tf-KD: ResNet18 in the paper, under cpu the student of
# reversed KD. Under cpu two CIFAR ResNets with about the paper's 2:1 ratio of parameters
# (ResNet-14 0.17M : ResNet-8 0.078M, as ResNet50 23.5M : ResNet18 11.2M).
ZHANG_NETWORKS = {"smoke": ("resnet8", "resnet14"), "cpu": ("resnet8", "resnet14"),
                  "paper": ("resnet18", "resnet50")}
TFKD_NETWORK = {"smoke": "resnet14", "cpu": "resnet14", "paper": "resnet18"}


def adversarial_student(method: MethodConfig, profile: str, seed: int = 0,
                        teacher_run: RunConfig | None = None) -> RunConfig:
    """A zhang Table 5 arm: `AT_NETWORK[profile]` trained on PGD-7 examples by `method`
    (AT_TFKD_SELF, AT_TFKD_REG, AKD) under the adversarial schedule; methods with a teacher
    get `teacher_run` (default: `adversarial_teacher(profile)`)."""
    base = adversarial_baseline(profile, seed=seed)
    from .methods import METHODS
    teacher_run = (teacher_run or adversarial_teacher(profile)) if METHODS[method.name].uses_teacher else None
    return RunConfig(data=base.data, model=base.model, method=method, train=base.train, seed=seed,
                     teacher=teacher_run)


def noise_std(profile: str) -> float:
    """The seed-to-seed standard deviation of the ResNet-8 baseline's final-epoch accuracy
    under the profile, over `NOISE_SEEDS` (notebook 01 trains these runs; later notebooks
    get them from the run cache): the noise every CIFAR claim is judged against."""
    import statistics

    from .runner import run
    accs = [run(baseline("resnet8", profile, seed=s), name=f"ResNet-8 baseline, seed {s} (noise)").final_acc
            for s in NOISE_SEEDS]
    return statistics.stdev(accs)


# Gupta et al. (notebook 30, Table 2): students of the ResNet50 teacher's own family with fewer
# blocks per stage and a larger stem stride; "ideal" is [1, 1, 1, 1] at stride 2 (their pick:
# the largest inference-time ratio without giving up much accuracy). The KD loss is the one
# their section 1.2 writes for CIFAR-10, cls_loss + div_loss = CE(y, s) + KL(t || s) with s, t
# the plain softmaxes of the logits: no temperature (T = 1) and equal weights. kd's Hinton form
# (1 - alpha) CE + alpha T^2 KL at alpha 0.5, T 1 is that sum halved (same minimiser, gradients
# halved). The paper gives no alpha, T or schedule anywhere else (Appendix A holds only the
# proofs of Lemmas 1-2); every run uses the profile's CIFAR schedule. The reduced set is "the
# first 500 images of each class" (DataConfig.per_class keeps the first images in dataset
# order; under smoke, whose full set is 20 a class, a tenth of it, 2 a class), trained for the
# same epochs (so 1/10 of the steps).
GUPTA_TEACHER = "resnet50"
GUPTA_STUDENTS = {
    "[1,1,1,1]": dict(blocks=(1, 1, 1, 1), stem_stride=1),
    "[2,2,0,0]": dict(blocks=(2, 2, 0, 0), stem_stride=1),
    "[1,1,0,0]": dict(blocks=(1, 1, 0, 0), stem_stride=1),
    "[1,1,1,1], stride 2": dict(blocks=(1, 1, 1, 1), stem_stride=2),
    "[1,1,1,1], stride 4": dict(blocks=(1, 1, 1, 1), stem_stride=4),
}
GUPTA_IDEAL = "[1,1,1,1], stride 2"
GUPTA_KD = MethodConfig("hinton", alpha=0.5, T=1.0)
GUPTA_REDUCED_PER_CLASS = 500


def gupta_student(layout: str, profile: str, seed: int = 0, reduced: bool = False,
                  distil: bool = True) -> RunConfig:
    """Gupta Table 2's run of student `layout` (a key of `GUPTA_STUDENTS`): the ResNet50 family
    at the profile's width (`CPU_WIDTH` outside `paper`), the profile's CIFAR-10 schedule,
    trained with `GUPTA_KD` from `teacher("resnet50", profile)` or, `distil=False`, with
    cross-entropy alone ("no KD loss"); `reduced`: on the first 500 images of each class (a
    tenth of the full set; smoke: 2 of its 20), evaluated on the same test images."""
    if layout not in GUPTA_STUDENTS:
        raise ValueError(f"layout={layout!r} is not one of Gupta's students: {', '.join(GUPTA_STUDENTS)}")
    teacher_run = teacher(GUPTA_TEACHER, profile)
    data_cfg = teacher_run.data
    if reduced:
        per_class = (GUPTA_REDUCED_PER_CLASS if data_cfg.per_class is None
                     else min(GUPTA_REDUCED_PER_CLASS, max(1, data_cfg.per_class // 10)))
        data_cfg = DataConfig(data_cfg.name, per_class=per_class, test_per_class=data_cfg.test_per_class)
    model = network(GUPTA_TEACHER, profile, **GUPTA_STUDENTS[layout])
    return RunConfig(data=data_cfg, model=model, method=GUPTA_KD if distil else MethodConfig("ce"),
                     train=schedule(profile), seed=seed, teacher=teacher_run if distil else None)
