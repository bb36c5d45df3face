"""kd: a thin, reproducible companion to five studies of knowledge distillation."""
from .config import (PROFILES, DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig,
                     check_profile)
from .checksums import DatasetCorrupt
from .data import Dataset, DatasetMissing, DeviceLoader, load, source_of
from .distill import Context, Distiller
from .methods import METHODS
from .measure import count_macs, count_params, inference_ratio, inference_seconds, machine
from .models import MODELS, Features, build
from .results import Report, mean_std, save_figure
from .runner import Result, budget_line, is_done, loader_for, measured, run, spent_seconds, split, wall_time
from .train import NonFiniteLoss, accuracy, default_device, predict
from .verdicts import combine, compare, mcnemar, paired_bootstrap

__version__ = "0.1.0"

