"""Zhang et al., "Knowledge distillation in an adversarial context" (notebooks 10, 11, 12):
the runs of each notebook per profile.

- Notebook 10 (Z1, Z2; with Gupta's G1): Hinton's MNIST MLPs. The teacher 1200-1200 with
  dropout (0.5, inputs 0.2), the student 400 units; Hinton KD at T 10, alpha 0.9; Z2 leaves
  a digit out of the student's training set. Trained in float32 on every device.
- Notebook 11 (Z3-Z5): reversed KD and teacher-free KD on CIFAR-10 (`kd.recipes`' networks
  and hyper-parameters), the gradients recorded for Z5.
- Notebook 12 (Z6): PGD-7 adversarial training with and without teacher-free KD.
"""
from __future__ import annotations

import dataclasses

from .. import recipes
from ..config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig, check_profile
from ..parallel import Job

# ------------------------------------------------------------------ zhang's CIFAR recipes
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
    return RunConfig(data=recipes.data(profile), model=recipes.network(arch or AT_NETWORK[check_profile(profile)],
                                                       profile),
                     method=PGD7, train=adversarial_schedule(AT_EPOCHS[profile]), seed=seed)


def adversarial_teacher(profile: str, arch: str | None = None) -> RunConfig:
    """The adversarially trained teacher of notebook 12 (zhang Table 5, after Maroto et al.):
    the seed-0 PGD-7 baseline of the student's own architecture."""
    return adversarial_baseline(profile, seed=0, arch=arch)



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
    from ..methods import METHODS
    teacher_run = (teacher_run or adversarial_teacher(profile)) if METHODS[method.name].uses_teacher else None
    return RunConfig(data=base.data, model=base.model, method=method, train=base.train, seed=seed,
                     teacher=teacher_run)




# ------------------------------------------------------------------ notebook 10 (MNIST)
# smoke: a pipeline check on 100 images a class; cpu: the papers' setting on full MNIST;
# paper: the same setting with more seeds (MNIST needs no GPU).
MNIST_SETTINGS = {
    "smoke": dict(seeds=[0], per_class=100, teacher_epochs=1, student_epochs=1, holdout=500, timing=(3, 1)),
    "cpu": dict(seeds=[0, 1, 2], per_class=None, teacher_epochs=20, student_epochs=10, holdout=5000, timing=(30, 3)),
    "paper": dict(seeds=[0, 1, 2, 3, 4], per_class=None, teacher_epochs=20, student_epochs=10, holdout=5000,
                  timing=(30, 3)),
}
# float32 on every device: notebook 10's results were measured in float32 (precision "auto"
# would train in bf16 on a CPU with native bf16, see benchmarks/README.md)
MNIST_PRECISION = "fp32"
OMITTED = {"one": 1, "two": 2}           # Z2: the digit left out of the student's training set


def mnist_data(profile: str) -> DataConfig:
    return DataConfig("mnist", per_class=MNIST_SETTINGS[check_profile(profile)]["per_class"])


def mnist_teacher(profile: str, seed: int = 0) -> RunConfig:
    """Z1's teacher: 1200-1200 ReLU MLP, dropout 0.5 (inputs 0.2), SGD lr 0.02 momentum 0.9,
    cosine, batch 128."""
    s = MNIST_SETTINGS[check_profile(profile)]
    return RunConfig(data=mnist_data(profile),
                     model=ModelConfig("mlp", (1200, 1200), dropout=0.5, input_dropout=0.2),
                     train=TrainConfig(epochs=s["teacher_epochs"], batch_size=128, optimizer="sgd", lr=0.02,
                                       momentum=0.9, schedule="cosine", precision=MNIST_PRECISION), seed=seed)


def mnist_student(profile: str, seed: int = 0, distil: bool = False, teacher: RunConfig | None = None,
                  data: DataConfig | None = None) -> RunConfig:
    """Z1's student: one hidden layer of 400 units, SGD lr 0.01 momentum 0.9, batch 64; with
    `distil`, Hinton KD at T 10, alpha 0.9 from `teacher` (default: the seed's own teacher)."""
    s = MNIST_SETTINGS[check_profile(profile)]
    cfg = RunConfig(data=data or mnist_data(profile), model=ModelConfig("mlp", (400,)),
                    train=TrainConfig(epochs=s["student_epochs"], batch_size=64, optimizer="sgd", lr=0.01,
                                      momentum=0.9, precision=MNIST_PRECISION), seed=seed)
    if not distil:
        return cfg
    return cfg.with_(method=MethodConfig("hinton", T=10.0, alpha=0.9),
                     teacher=teacher or mnist_teacher(profile, seed))


def jitter_teacher(profile: str, seed: int = 0) -> RunConfig:
    """Z1's ablation: the teacher trained on jittered images (no input dropout, lr 0.05)."""
    t = mnist_teacher(profile, seed)
    return t.with_(data=dataclasses.replace(t.data, augment="jitter"), model__input_dropout=0.0, train__lr=0.05)


def omitted_data(profile: str, digit: int) -> DataConfig:
    """Z2's training set: MNIST without `digit`, `holdout` images set aside to choose the bias."""
    s = MNIST_SETTINGS[check_profile(profile)]
    return DataConfig("mnist", holdout=s["holdout"], per_class=s["per_class"], leave_out=(digit,))


def plan_10(profile: str) -> list[Job]:
    """Notebook 10's Zhang runs (Z1, its jittered-teacher ablation, Z2); Gupta's G1 runs are
    `kd.studies.gupta.plan_g1`."""
    seeds = MNIST_SETTINGS[check_profile(profile)]["seeds"]
    jobs = []
    for seed in seeds:
        jobs += [Job(mnist_teacher(profile, seed), f"Z1 teacher, seed {seed}"),
                 Job(mnist_student(profile, seed), f"Z1 student alone, seed {seed}"),
                 Job(mnist_student(profile, seed, distil=True), f"Z1 student with KD, seed {seed}")]
    jobs += [Job(jitter_teacher(profile, seeds[0]), f"Z1 jittered teacher, seed {seeds[0]}"),
             Job(mnist_student(profile, seeds[0], distil=True, teacher=jitter_teacher(profile, seeds[0])),
                 f"Z1 student with KD from the jittered teacher, seed {seeds[0]}")]
    for word, digit in OMITTED.items():
        data = omitted_data(profile, digit)
        for seed in seeds:
            jobs += [Job(mnist_student(profile, seed, data=data), f"Z2 without '{word}', no KD, seed {seed}"),
                     Job(mnist_student(profile, seed, distil=True, data=data), f"Z2 without '{word}', KD, seed {seed}")]
    return jobs


def noise_settings_10(profile: str) -> dict:
    """Z1's setting: the MNIST student alone, over 5 seeds (2 under smoke)."""
    seeds = (0, 1) if check_profile(profile) == "smoke" else (0, 1, 2, 3, 4)
    return {"MNIST student alone": (mnist_student(profile, 0), seeds)}


# ------------------------------------------------------------------ notebook 11 (CIFAR-10)
SEEDS_11 = {"smoke": [0, 1], "cpu": [0, 1, 2], "paper": [0, 1, 2]}
GRAD_SEEDS_11 = {"smoke": [1], "cpu": [1, 2], "paper": [0, 1, 2]}


def arms_11(profile: str) -> dict[str, dict[str, RunConfig]]:
    """Notebook 11's arms, each a seed-0 RunConfig: Z3 ("weaker alone", "stronger alone",
    "stronger from weaker (Re-KD)") and Z4 ("baseline", "Tf-KD self", "Tf-KD reg")."""
    weak, strong = ZHANG_NETWORKS[check_profile(profile)]
    net = TFKD_NETWORK[profile]
    z3 = {"weaker alone": recipes.baseline(weak, profile), "stronger alone": recipes.baseline(strong, profile),
          "stronger from weaker (Re-KD)": recipes.student(strong, REVERSED, recipes.teacher(weak, profile),
                                                          profile)}
    no_teacher = recipes.baseline(net, profile)
    z4 = {"baseline": no_teacher,
          "Tf-KD self": recipes.student(net, TFKD_SELF, recipes.teacher(net, profile), profile),
          "Tf-KD reg": no_teacher.with_(method=TFKD_REG)}
    return {"Z3": z3, "Z4": z4}


def plan_11(profile: str) -> list[Job]:
    """Notebook 11's runs over its seeds; Z5 records the gradients of the plain network on
    `GRAD_SEEDS_11` and of both Tf-KD forms on every seed."""
    seeds, grads = SEEDS_11[check_profile(profile)], GRAD_SEEDS_11[profile]
    weak, strong = ZHANG_NETWORKS[profile]
    net = TFKD_NETWORK[profile]
    arms = arms_11(profile)
    label = {"weaker alone": f"{weak} alone", "stronger alone": f"{strong} alone",
             "stronger from weaker (Re-KD)": f"Re-KD {strong} from {weak}", "baseline": f"{net} alone",
             "Tf-KD self": f"Tf-KD self {net}", "Tf-KD reg": f"Tf-KD reg {net}"}
    recorded = {"stronger alone": grads, "baseline": grads, "Tf-KD self": seeds, "Tf-KD reg": seeds}
    jobs = []
    for group in ("Z3", "Z4"):
        for name, cfg in arms[group].items():
            if group == "Z4" and name == "baseline" and net == strong:
                continue                         # the same runs as Z3's "stronger alone"
            jobs += [Job(cfg.with_(seed=s), f"{label[name]}, seed {s}", record_gradients=s in recorded.get(name, ()))
                     for s in seeds]
    return jobs


def noise_settings_11(profile: str) -> dict:
    """Z3's and Z4's control: the stronger network (Tf-KD's network) alone, over 5 seeds."""
    seeds = (0, 1) if check_profile(profile) == "smoke" else (0, 1, 2, 3, 4)
    net = TFKD_NETWORK[profile]
    return {f"{net} alone": (recipes.baseline(net, profile), seeds)}


# ------------------------------------------------------------------ notebook 12 (adversarial)
# two seeds per arm under cpu (the verdicts are paired by seed; one seed left the training seed's noise out)
SEEDS_12 = {"smoke": [0, 1], "cpu": [0, 1], "paper": [0, 1, 2]}


def arms_12(profile: str) -> dict[str, RunConfig]:
    """Notebook 12's arms (zhang Table 5), each a seed-0 RunConfig."""
    return {"AT alone": adversarial_baseline(profile),
            "AKD, AT teacher (Maroto)": adversarial_student(AKD, profile),
            "AT Tf-KD reg": adversarial_student(AT_TFKD_REG, profile),
            "AT Tf-KD self": adversarial_student(AT_TFKD_SELF, profile)}


def plan_12(profile: str) -> list[Job]:
    return [Job(cfg.with_(seed=s), f"{name}, seed {s}") for name, cfg in arms_12(profile).items()
            for s in SEEDS_12[check_profile(profile)]]


def noise_settings_12(profile: str) -> dict:
    """Z6's control: PGD-7 adversarial training alone, over 3 seeds (a PGD-7 epoch costs about
    eight clean ones; smoke: 2)."""
    seeds = (0, 1) if check_profile(profile) == "smoke" else (0, 1, 2)
    return {"AT alone": (adversarial_baseline(profile), seeds)}
