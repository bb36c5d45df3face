"""Each study's runs, per notebook and profile: the plans that `python -m kd train`, `make
reproduce` and the notebooks themselves train (`kd.run_many`), so that a notebook and its
plan cannot drift apart.

`plan("20", "cpu")` is the list of `kd.Job`s notebook 20 trains under `cpu` before anything
it decides during execution (a rule of measured values, such as notebook 20's further
students, lives beside the plan in the study's module). Teachers and first stages are not
listed separately: `run_many` trains a job's teacher and `init` before the job.

The seed noise a notebook's verdicts use (kd.verdicts rule 2) is declared here too, per
notebook: `noise_settings(nb, profile)` names each setting the notebook judges, with its
control arm (seed 0) and the seeds its noise is measured over; `noise(nb, setting,
profile)` trains or loads exactly those runs and returns the kd.Noise. A notebook gets its
noise only this way, so it cannot borrow another setting's (tests/test_plans.py checks it).
"""
from __future__ import annotations

from typing import Callable

from ..config import RunConfig, check_profile
from ..parallel import Job, seed_noise
from ..verdicts import Noise

__all__ = ["plan", "notebook_numbers", "noise_settings", "noise_jobs", "noise"]


def _plans() -> dict[str, Callable[[str], list[Job]]]:
    from . import cho_stanton, cifar_recipe, gupta, ojha, sarfraz, zhang
    return {"01": cifar_recipe.plan,
            "10": lambda profile: zhang.plan_10(profile) + gupta.plan_g1(profile),
            "11": zhang.plan_11, "12": zhang.plan_12, "20": sarfraz.plan_20, "21": sarfraz.plan_21,
            "22": sarfraz.plan_22, "23": sarfraz.plan_23, "30": gupta.plan_30,
            "31": lambda profile: [], "50": ojha.plan_50, "51": ojha.plan_51, "54": ojha.plan_54, "55": ojha.plan_55,
            "40": cho_stanton.plan_40, "41": cho_stanton.plan_41}


def notebook_numbers() -> list[str]:
    """The notebooks that have a plan (every numbered notebook but the scoreboard, 00)."""
    return sorted(_plans())


def _number(nb: str | int) -> str:
    return f"{int(nb):02d}" if isinstance(nb, int) or str(nb).isdigit() else str(nb)


def plan(nb: str | int, profile: str, noise_runs: bool = True) -> list[Job]:
    """The jobs notebook `nb` trains under `profile`, in the order it asks for them, then the
    runs of its noise settings that the plan does not hold already (`noise_runs=False`:
    without them)."""
    check_profile(profile)
    nb, plans = _number(nb), _plans()
    if nb not in plans:
        raise ValueError(f"nb={nb!r} has no plan; allowed: {', '.join(sorted(plans))}")
    jobs = plans[nb](profile)
    if noise_runs:
        seen = {j.config.key() for j in jobs}
        for setting in noise_settings(nb, profile):
            for job in noise_jobs(nb, setting, profile):
                if job.config.key() not in seen:
                    seen.add(job.config.key())
                    jobs.append(job)
    return jobs


def _noise() -> dict[str, Callable[[str], dict[str, tuple[RunConfig, tuple[int, ...]]]]]:
    from . import cho_stanton, cifar_recipe, gupta, ojha, sarfraz, zhang
    return {"01": cifar_recipe.noise_settings, "10": zhang.noise_settings_10, "11": zhang.noise_settings_11,
            "12": zhang.noise_settings_12, "20": sarfraz.noise_settings_20, "21": sarfraz.noise_settings_21,
            "22": sarfraz.noise_settings_22, "23": sarfraz.noise_settings_23, "30": gupta.noise_settings_30,
            "50": ojha.noise_settings_50, "51": ojha.noise_settings_51, "54": ojha.noise_settings_54, "55": ojha.noise_settings_55,
            "40": cho_stanton.noise_settings_40, "41": cho_stanton.noise_settings_41}


def noise_settings(nb: str | int, profile: str) -> dict[str, tuple[RunConfig, tuple[int, ...]]]:
    """The settings whose seed noise notebook `nb`'s verdicts use: name -> (the control arm's
    seed-0 RunConfig, the seeds its noise is measured over)."""
    check_profile(profile)
    registry = _noise()
    return registry[_number(nb)](profile) if _number(nb) in registry else {}


def noise_jobs(nb: str | int, setting: str, profile: str) -> list[Job]:
    """The runs of one noise setting: its control arm over its noise seeds."""
    settings = noise_settings(nb, profile)
    if setting not in settings:
        raise ValueError(f"notebook {_number(nb)} has no noise setting {setting!r}; allowed: "
                         f"{', '.join(settings) or 'none'}")
    control, seeds = settings[setting]
    return [Job(control.with_(seed=s), f"{setting}, seed {s} (noise)") for s in seeds]


def noise(nb: str | int, setting: str, profile: str, value=None, **run_options) -> Noise:
    """The measured seed noise of `setting` in notebook `nb` (kd.parallel.seed_noise over
    `noise_jobs`); `value(result)` is the quantity judged (default: final-epoch accuracy)."""
    return seed_noise(noise_jobs(nb, setting, profile), setting, value=value, **run_options)

