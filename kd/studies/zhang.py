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


# ------------------------------------------------------------------ notebook 11 (CIFAR-10)
SEEDS_11 = {"smoke": [0, 1], "cpu": [0, 1, 2], "paper": [0, 1, 2]}
GRAD_SEEDS_11 = {"smoke": [1], "cpu": [1, 2], "paper": [0, 1, 2]}


def arms_11(profile: str) -> dict[str, dict[str, RunConfig]]:
    """Notebook 11's arms, each a seed-0 RunConfig: Z3 ("weaker alone", "stronger alone",
    "stronger from weaker (Re-KD)") and Z4 ("baseline", "Tf-KD self", "Tf-KD reg")."""
    weak, strong = recipes.ZHANG_NETWORKS[check_profile(profile)]
    net = recipes.TFKD_NETWORK[profile]
    z3 = {"weaker alone": recipes.baseline(weak, profile), "stronger alone": recipes.baseline(strong, profile),
          "stronger from weaker (Re-KD)": recipes.student(strong, recipes.REVERSED, recipes.teacher(weak, profile),
                                                          profile)}
    no_teacher = recipes.baseline(net, profile)
    z4 = {"baseline": no_teacher,
          "Tf-KD self": recipes.student(net, recipes.TFKD_SELF, recipes.teacher(net, profile), profile),
          "Tf-KD reg": no_teacher.with_(method=recipes.TFKD_REG)}
    return {"Z3": z3, "Z4": z4}


def plan_11(profile: str) -> list[Job]:
    """Notebook 11's runs over its seeds; Z5 records the gradients of the plain network on
    `GRAD_SEEDS_11` and of both Tf-KD forms on every seed."""
    seeds, grads = SEEDS_11[check_profile(profile)], GRAD_SEEDS_11[profile]
    weak, strong = recipes.ZHANG_NETWORKS[profile]
    net = recipes.TFKD_NETWORK[profile]
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


# ------------------------------------------------------------------ notebook 12 (adversarial)
SEEDS_12 = {"smoke": [0], "cpu": [0], "paper": [0, 1, 2]}


def arms_12(profile: str) -> dict[str, RunConfig]:
    """Notebook 12's arms (zhang Table 5), each a seed-0 RunConfig."""
    return {"AT alone": recipes.adversarial_baseline(profile),
            "AKD, AT teacher (Maroto)": recipes.adversarial_student(recipes.AKD, profile),
            "AT Tf-KD reg": recipes.adversarial_student(recipes.AT_TFKD_REG, profile),
            "AT Tf-KD self": recipes.adversarial_student(recipes.AT_TFKD_SELF, profile)}


def plan_12(profile: str) -> list[Job]:
    return [Job(cfg.with_(seed=s), f"{name}, seed {s}") for name, cfg in arms_12(profile).items()
            for s in SEEDS_12[check_profile(profile)]]
