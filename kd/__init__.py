"""kd: a thin, reproducible companion to five studies of knowledge distillation."""
import os as _os
import signal as _signal
import sys as _sys


def _interrupted_while_starting(signum, frame):
    print("interrupted while kd was starting (importing torch); nothing was done. Run the "
          "command again.", file=_sys.stderr, flush=True)
    raise SystemExit(130)


# `python -m kd ...` (sys.argv[0] is "-m" only while Python locates the module): a Ctrl-C in
# the seconds kd takes to import torch ends with that one line, not a traceback through torch
_STARTING = _sys.argv[:1] == ["-m"] and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler
if _STARTING:
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

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
from .train import NonFiniteLoss, accuracy, cpu_threads, default_device, predict
from .atomic import StorageError
from . import domains  # noqa: F401  (registers the MNIST domains with kd.data)
from . import groups  # noqa: F401  (registers notebook 55's group sets with kd.data)
from .parallel import Job, run_many, seed_noise
from .verdicts import Combined, Comparison, Exact, Noise, combine, compare, equivalence, mcnemar, paired_bootstrap

__version__ = "0.1.0"

if _os.environ.get("KD_THREADS"):      # a process told its thread count (kd.train.cpu_threads)
    import torch as _torch
    _torch.set_num_threads(cpu_threads())

if _STARTING:
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)

