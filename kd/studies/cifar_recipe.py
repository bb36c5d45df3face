"""Notebook 01, the `cpu` recipe of the CIFAR studies: its plan and its settings per profile.

What every CIFAR study shares (the schedules, the networks, the teachers) is in kd.recipes;
this module holds what notebook 01 trains to calibrate and describe it.
"""
from __future__ import annotations

from .. import recipes
from ..config import check_profile
from ..parallel import Job

# smoke: a pipeline check on 20 images a class; cpu: the candidates and 5 noise seeds;
# paper: the paper's 200 epochs only (on a GPU)
SETTINGS = {
    "smoke": dict(candidates=(1, 2), noise_seeds=(0, 1), timing_steps=2),
    "cpu": dict(candidates=recipes.CANDIDATE_EPOCHS, noise_seeds=recipes.NOISE_SEEDS, timing_steps=20),
    "paper": dict(candidates=(recipes.PAPER_EPOCHS,), noise_seeds=recipes.NOISE_SEEDS, timing_steps=50),
}


def plan(profile: str) -> list[Job]:
    """Notebook 01's runs: ResNet-8 at each candidate length, every network of
    `recipes.NETWORKS` (seed 0; ResNet-26's and WRN-40-2's are the shared teachers), and the
    ResNet-8 baseline over the noise seeds."""
    s = SETTINGS[check_profile(profile)]
    jobs = [Job(recipes.baseline("resnet8", profile, seed=0, epochs=e), f"ResNet-8 alone, {e} epochs")
            for e in s["candidates"]]
    jobs += [Job(recipes.baseline(arch, profile, seed=0), f"{arch} alone, seed 0") for arch in recipes.NETWORKS]
    jobs += [Job(recipes.baseline("resnet8", profile, seed=seed), f"resnet8 alone, seed {seed}")
             for seed in s["noise_seeds"]]
    return jobs


def noise_jobs(profile: str) -> list[Job]:
    """The runs of `recipes.noise_std`: the ResNet-8 baseline over `recipes.NOISE_SEEDS`."""
    return [Job(recipes.baseline("resnet8", profile, seed=s), f"ResNet-8 baseline, seed {s} (noise)")
            for s in recipes.NOISE_SEEDS]
