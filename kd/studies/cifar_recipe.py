"""Notebook 01, the `cpu` recipe of the CIFAR studies: its plan and its settings per profile.

What every CIFAR study shares (the schedules, the networks, the teachers) is in kd.recipes;
this module holds what notebook 01 trains to calibrate and describe it: the `cpu` length (by
`recipes.choose_epochs`, from time alone), the `cpu` schedule (by `recipes.finalists` and
`recipes.choose_schedule`, from the baselines' accuracy alone), the five networks, and the
ResNet-8 baseline over the seeds of its noise.
"""
from __future__ import annotations

from .. import recipes
from ..config import check_profile
from ..parallel import Job

# smoke: a pipeline check on 20 images a class (one timed step, once); cpu: the candidates, the calibration and 5 noise
# seeds; paper: the paper's 200 epochs only (on a GPU; no calibration: paper keeps its schedule)
SETTINGS = {
    "smoke": dict(candidates=(1, 2), noise_seeds=(0, 1), timing_steps=1, timing_rounds=1, calibrate=True),
    "cpu": dict(candidates=recipes.CANDIDATE_EPOCHS, noise_seeds=recipes.NOISE_SEEDS, timing_steps=20, timing_rounds=3,
                calibrate=True),
    "paper": dict(candidates=(recipes.PAPER_EPOCHS,), noise_seeds=recipes.NOISE_SEEDS, timing_steps=50, timing_rounds=3,
                  calibrate=False),
}


def calibration_jobs(profile: str, seed: int = 0, grid: list[tuple[str, float]] | None = None) -> list[Job]:
    """The calibration runs at `seed`: every (schedule, peak rate) of `grid` (default: all of
    `recipes.BUDGET_SCHEDULES`) on each of `recipes.CALIBRATION_NETWORKS`, at the profile's
    length; none under `paper`, which keeps the paper's schedule."""
    if not SETTINGS[check_profile(profile)]["calibrate"]:
        return []
    grid = grid if grid is not None else [(k, lr) for k, rates in recipes.BUDGET_SCHEDULES.items() for lr in rates]
    return [Job(recipes.calibration_run(arch, kind, lr, profile, seed), f"{arch} alone, {kind} peak lr {lr:g}, seed {seed}")
            for kind, lr in grid for arch in recipes.CALIBRATION_NETWORKS]


def plan(profile: str) -> list[Job]:
    """Notebook 01's runs: the seed-0 calibration grid (its finalists' seed-1 runs are decided
    by `recipes.finalists` during execution), ResNet-8 at each candidate length, every network of
    `recipes.NETWORKS` (seed 0; ResNet-26's and WRN-40-2's are the shared teachers), and the
    ResNet-8 baseline over the noise seeds, all under the profile's schedule."""
    s = SETTINGS[check_profile(profile)]
    jobs = calibration_jobs(profile)
    jobs += [Job(recipes.baseline("resnet8", profile, seed=0, epochs=e), f"ResNet-8 alone, {e} epochs")
             for e in s["candidates"]]
    jobs += [Job(recipes.baseline(arch, profile, seed=0), f"{arch} alone, seed 0") for arch in recipes.NETWORKS]
    jobs.append(Job(recipes.baseline("resnet26", profile, seed=1), "resnet26 alone, seed 1 (R2's second seed)"))
    jobs += [Job(recipes.baseline("resnet8", profile, seed=seed), f"resnet8 alone, seed {seed}")
             for seed in s["noise_seeds"]]
    return jobs


def noise_settings(profile: str) -> dict:
    """Notebook 01's noise: the ResNet-8 baseline over `recipes.NOISE_SEEDS` (smoke: 2 seeds)."""
    return {"ResNet-8 alone": (recipes.baseline("resnet8", profile), tuple(SETTINGS[check_profile(profile)]["noise_seeds"]))}
