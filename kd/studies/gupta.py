"""Gupta et al., "Exploring knowledge distillation": the runs of notebook 30 (G2) and of
notebook 10's G1 per profile."""
from __future__ import annotations

from .. import gupta as _g, recipes
from ..config import MethodConfig, ModelConfig, RunConfig, TrainConfig, check_profile
from ..parallel import Job
from . import zhang

# G1 (Gupta Table 1): hidden units, T, epochs, batch; paper: accuracy %, training seconds,
# teacher/student inference-time ratio
G1_ROWS = [(50, 3.5, 3, 32, 95.97, 30.998, 315.332), (300, 3.5, 3, 16, 97.24, 95.715, 138.753),
           (300, 3.5, 3, 64, 97.12, 48.421, 129.564), (300, 3.5, 2, 32, 96.17, 25.108, 126.174),
           (300, 10.0, 3, 32, 96.87, 64.573, 123.326), (300, 1.0, 3, 32, 96.98, 65.171, 123.264),
           (300, 3.5, 3, 32, 97.26, 64.854, 119.127), (300, 3.5, 5, 32, 97.23, 247.926, 116.654),
           (600, 3.5, 3, 32, 97.21, 103.010, 38.005)]


def g1_teacher(profile: str) -> RunConfig:
    """G1's teacher: 1200-1200 MLP, one epoch of Adam lr 1e-3, batch 32."""
    return RunConfig(data=zhang.mnist_data(profile), model=ModelConfig("mlp", (1200, 1200)),
                     seed=zhang.MNIST_SETTINGS[check_profile(profile)]["seeds"][0],
                     train=TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=1e-3,
                                       precision=zhang.MNIST_PRECISION))


def g1_student(profile: str, hidden: int, T: float, epochs: int, batch_size: int) -> RunConfig:
    teacher = g1_teacher(profile)
    return RunConfig(data=teacher.data, model=ModelConfig("mlp", (hidden,)), seed=teacher.seed,
                     method=MethodConfig("hinton", T=T, alpha=0.9), teacher=teacher,
                     train=TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3,
                                       precision=zhang.MNIST_PRECISION))


def plan_g1(profile: str) -> list[Job]:
    return [Job(g1_teacher(profile), "G1 teacher")] + [
        Job(g1_student(profile, hidden, T, epochs, batch), f"G1 {hidden} units T={T} {epochs} ep batch {batch}")
        for hidden, T, epochs, batch, *_ in G1_ROWS]


def plan_30(profile: str) -> list[Job]:
    """Notebook 30's runs: the ResNet50 teacher, then every row of Table 2 over its seeds."""
    return [Job(recipes.teacher(recipes.GUPTA_TEACHER, profile), "ResNet50 teacher")] + [
        Job(_g.config(label, profile, s), f"{label}, seed {s}") for label in _g.ROWS for s in _g.seeds(label, profile)]
