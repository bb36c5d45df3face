"""Sarfraz et al., "Knowledge distillation beyond model compression" (notebook 20): the
runs of each notebook per profile, and the rule that decides notebook 20's further students.
"""
from __future__ import annotations

from .. import recipes
from ..config import RunConfig, check_profile
from ..parallel import Job

SEEDS_20 = {"smoke": [0, 1], "cpu": [0, 1], "paper": [0, 1, 2, 3, 4]}
FIRST_20 = {"smoke": ["resnet8"], "cpu": ["resnet8"],
            "paper": ["resnet8", "resnet14", "resnet20", "resnet26", "wrn_10_2", "wrn_16_2", "wrn_28_2", "wrn_40_2"]}
FURTHER_20 = {"smoke": [], "cpu": ["resnet14", "wrn_16_2"], "paper": []}       # only if they fit
DATASETS_20 = {"smoke": ["cifar10"], "cpu": ["cifar10"], "paper": ["cifar10", "cifar100"]}
BUDGET_20 = {"smoke": None, "cpu": 3 * 3600, "paper": None}
ARMS_20 = recipes.SARFRAZ_METHODS + recipes.SARFRAZ_EXTRA
LABEL = {"ce": "baseline", "hinton": "Hinton", "bss": "BSS", "fitnet": "FitNet", "fsp": "FSP", "at": "AT",
         "sp": "SP", "rkd_d": "RKD-D", "rkd_a": "RKD-A", "rkd_da": "RKD-DA", "one": "ONE", "dml": "DML",
         "crd": "CRD (not in the paper)"}


def student_jobs(arch: str, profile: str, dataset: str = "cifar10") -> list[Job]:
    """Every arm of notebook 20 for one student network, over the profile's seeds."""
    return [Job(recipes.sarfraz_arm(m, arch, profile, seed=s, dataset=dataset),
                f"{LABEL[m]} {arch} ({dataset}), seed {s}")
            for m in ARMS_20 for s in SEEDS_20[check_profile(profile)]]


def plan_20(profile: str) -> list[Job]:
    """Notebook 20's first students (the further ones are decided by `further_fits`)."""
    return [job for dataset in DATASETS_20[check_profile(profile)] for arch in FIRST_20[profile]
            for job in student_jobs(arch, profile, dataset)]
