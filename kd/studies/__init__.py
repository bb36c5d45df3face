"""Each study's runs, per notebook and profile: the plans that `python -m kd train`, `make
reproduce` and the notebooks themselves train (`kd.run_many`), so that a notebook and its
plan cannot drift apart.

`plan("20", "cpu")` is the list of `kd.Job`s notebook 20 trains under `cpu` before anything
it decides during execution (a rule of measured values, such as notebook 20's further
students, lives beside the plan in the study's module). Teachers and first stages are not
listed separately: `run_many` trains a job's teacher and `init` before the job.
"""
from __future__ import annotations

from typing import Callable

from ..config import check_profile
from ..parallel import Job

__all__ = ["plan", "notebook_numbers"]


def _plans() -> dict[str, Callable[[str], list[Job]]]:
    from . import cifar_recipe, gupta, ojha, sarfraz, zhang
    noise = cifar_recipe.noise_jobs
    return {"01": cifar_recipe.plan,
            "10": lambda profile: zhang.plan_10(profile) + gupta.plan_g1(profile),
            "11": lambda profile: zhang.plan_11(profile) + noise(profile),
            "12": zhang.plan_12, "20": lambda profile: sarfraz.plan_20(profile) + noise(profile),
            "30": lambda profile: gupta.plan_30(profile) + noise(profile),
            "31": lambda profile: [], "54": ojha.plan_54}


def notebook_numbers() -> list[str]:
    """The notebooks that have a plan (every numbered notebook but the scoreboard, 00)."""
    return sorted(_plans())


def plan(nb: str | int, profile: str) -> list[Job]:
    """The jobs notebook `nb` trains under `profile`, in the order it asks for them."""
    check_profile(profile)
    nb = f"{int(nb):02d}" if isinstance(nb, int) or str(nb).isdigit() else str(nb)
    plans = _plans()
    if nb not in plans:
        raise ValueError(f"nb={nb!r} has no plan; allowed: {', '.join(sorted(plans))}")
    return plans[nb](profile)

