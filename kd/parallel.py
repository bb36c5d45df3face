"""A notebook's runs trained side by side: `run_many(jobs, workers=..., address=...)`.

A `Job` is a RunConfig with the name it is printed under and whether its gradients are
recorded (kd.gradients). `run_many` trains what the run cache lacks, teachers and first
stages before the runs built on them, and returns the Results in the order given.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig


@dataclass(frozen=True)
class Job:
    """One run of a plan: its config, the name it is printed under, and whether the trainer
    records its gradients (notebook 11's Z5)."""
    config: RunConfig
    name: str = ""
    record_gradients: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.config, RunConfig):
            raise ValueError(f"Job.config must be a kd.RunConfig, not {type(self.config).__name__}")
