"""Ojha et al., "What knowledge gets distilled in knowledge distillation?": the runs of
notebook 54 (O5, O6) per profile."""
from __future__ import annotations

from .. import ojha as _o
from ..config import check_profile
from ..parallel import Job


def plan_54(profile: str) -> list[Job]:
    s = _o.SETTINGS[check_profile(profile)]
    return [Job(_o.teacher(profile), "teacher on the 3 domains")] + [
        Job(_o.student(m, profile, seed), f"{m} student, seed {seed}") for m in _o.STUDENTS for seed in s["seeds"]]
