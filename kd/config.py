"""Plain dataclass configs. A run is a pure function of its RunConfig: the cache key is a hash
of the whole config (teacher included) and of the concrete data it resolves to.

Every config checks itself when it is made, so a bad value fails with a ValueError that
names the parameter and the allowed values before any work starts.
"""
from __future__ import annotations

import hashlib
import json
import numbers
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

PROFILES = ("smoke", "cpu", "paper")
OPTIMIZERS = ("sgd", "adam", "adadelta")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "exp")
PRECISIONS = ("auto", "fp32", "bf16")
# bump when a change to kd alters what a finished run would produce
CACHE_VERSION = 1
# bump a method's revision when a change to it alters what its finished runs would produce: the
# revision enters the keys of the runs that use the method, directly or through their teacher or
# init, and no other key changes. at 2, fitnet 2: AT's beta weighs the sum as the authors' code
# does (was beta/2), FitNet's regressor ends in the teacher's ReLU (sarfraz issue, notebook 20).
METHOD_REVISIONS = {"at": 2, "fitnet": 2}


def _allowed(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _coerce_floats(cfg: Any) -> None:
    """Store whole numbers given for float fields as floats, so that T=4 and T=4.0 are one
    config with one cache key."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if "float" in str(f.type) and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(cfg, f.name, float(value))


def _check_ints(cfg: Any) -> None:
    """Refuse a float (or bool) for a field typed int or tuple[int, ...]: epochs=2.5 would
    otherwise pass the checks and fail at run time. numpy integers are stored as int."""
    for f in fields(cfg):
        kind, value = str(f.type), getattr(cfg, f.name)
        if value is None and kind.endswith("| None"):
            continue
        if kind.startswith("int"):
            values, whole = [value], True
        elif kind.startswith("tuple[int"):
            values, whole = list(value), False
        else:
            continue
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        _require(not bad, f"{f.name}={value!r} must be {'a whole number' if whole else 'whole numbers'} "
                          f"(int), not {type(bad[0]).__name__ if bad else ''}")
        object.__setattr__(cfg, f.name, int(value) if whole else tuple(int(v) for v in value))


def check_profile(profile: str) -> str:
    _allowed("profile", profile, PROFILES)
    return profile


@dataclass(frozen=True)
class DataConfig:
    """A dataset and the transforms of its training split, applied in this order:
    `holdout` images set aside (a seeded draw), the first `per_class` images of every class,
    the classes in `leave_out` removed, power-law class imbalance `imbalance_gamma`
    (sarfraz IV-C, largest class 5000, smallest 250), uniform label noise at rate
    `label_noise` (sarfraz IV-B). `augment` is one of kd.data.AUGMENTATIONS; None means the
    dataset's default ("crop_flip" for CIFAR, "none" for MNIST and its domains).
    `test_per_class` evaluates on the first images of every class of the test split only
    (quick checks; None: all)."""
    name: str = "mnist"
    holdout: int = 0
    per_class: int | None = None
    leave_out: tuple[int, ...] = ()
    imbalance_gamma: float | None = None
    label_noise: float = 0.0
    augment: str | None = None
    seed: int = 0
    test_per_class: int | None = None

    def __post_init__(self) -> None:
        _check_ints(self)
        _coerce_floats(self)
        from .data import AUGMENTATIONS, DATASETS
        _allowed("dataset", self.name, DATASETS)
        if self.augment is not None:
            _allowed("augment", self.augment, AUGMENTATIONS)
        object.__setattr__(self, "leave_out", tuple(sorted(self.leave_out)))
        _require(self.holdout >= 0, f"holdout={self.holdout} must be >= 0")
        _require(self.per_class is None or self.per_class >= 1,
                 f"per_class={self.per_class} would leave an empty subset; it must be >= 1 or None")
        _require(self.imbalance_gamma is None or self.imbalance_gamma > 0,
                 f"imbalance_gamma={self.imbalance_gamma} must be > 0 or None")
        _require(self.test_per_class is None or self.test_per_class >= 1,
                 f"test_per_class={self.test_per_class} must be >= 1 or None")
        _require(0.0 <= self.label_noise < 1.0,
                 f"label_noise={self.label_noise} must be in [0, 1)")

    @property
    def augmentation(self) -> str:
        if self.augment is not None:
            return self.augment
        return "none" if self.name.startswith("mnist") else "crop_flip"


@dataclass(frozen=True)
class ModelConfig:
    """A network by name (see kd.models.MODELS, or "timm:<name>" for a timm model) and the
    options its builder reads: `hidden` sizes of an MLP; `blocks` per stage, `stem_stride` and
    the channel `width` factor of the CIFAR ResNet18/50 (gupta Table 2); `patch_size` of a
    timm vision transformer."""
    arch: str = "mlp"
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0
    input_dropout: float = 0.0
    blocks: tuple[int, ...] | None = None
    stem_stride: int = 1
    width: float = 1.0
    patch_size: int | None = None

    def __post_init__(self) -> None:
        _check_ints(self)
        _coerce_floats(self)
        from .models import MODELS
        if not self.arch.startswith("timm:"):
            _allowed("model", self.arch, tuple(sorted(MODELS)) + ("timm:<name>",))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.blocks is not None:
            object.__setattr__(self, "blocks", tuple(self.blocks))
            _require(all(b >= 0 for b in self.blocks) and any(self.blocks),
                     f"blocks={self.blocks}: counts must be >= 0, not all 0")
        _require(self.stem_stride >= 1, f"stem_stride={self.stem_stride} must be >= 1")
        _require(self.width > 0, f"width={self.width} must be > 0 (the channel factor)")
        _require(all(h >= 1 for h in self.hidden), f"hidden={self.hidden}: sizes must be >= 1")
        for name in ("dropout", "input_dropout"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, f"{name}={value} must be in [0, 1)")


@dataclass(frozen=True)
class MethodConfig:
    """A distillation method by name (see kd.methods.METHODS) and its hyper-parameters, with
    Sarfraz et al. 2020 Table I's defaults: T and alpha of the soft-target term; `weight` of
    a method's own loss (None: the method's default, AT 1000, SP 3000, CRD 0.8); RKD's
    `w_dist` and `w_angle`; FitNet's `block_weights` (None: [0, 1, 0]); ONE's `branches`
    (3; give T=3 as Sarfraz does); BSS's `attack_size` (32) and `bss_steps` (10); Tf-KD reg's
    correct-class probability `a`; ESKD's `stop_epoch`; the PGD attack of adversarial KD
    (`eps`, `step_size` in pixel units, `steps`); CRD's number of `negatives`."""
    name: str = "ce"
    T: float = 4.0
    alpha: float = 0.9
    weight: float | None = None
    w_dist: float = 25.0
    w_angle: float = 50.0
    block_weights: tuple[float, ...] | None = None
    a: float = 0.9
    stop_epoch: int | None = None
    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 7
    negatives: int = 16384
    branches: int = 3
    attack_size: int = 32
    bss_steps: int = 10

    def __post_init__(self) -> None:
        _check_ints(self)
        _coerce_floats(self)
        from .methods import METHODS
        _allowed("method", self.name, tuple(METHODS))
        _require(self.T > 0, f"T={self.T} must be > 0 (the softmax temperature)")
        _require(0.0 <= self.alpha <= 1.0, f"alpha={self.alpha} must be in [0, 1]")
        _require(self.weight is None or self.weight >= 0, f"weight={self.weight} must be >= 0")
        _require(self.w_dist >= 0 and self.w_angle >= 0,
                 f"w_dist={self.w_dist}, w_angle={self.w_angle} must be >= 0")
        if self.block_weights is not None:
            object.__setattr__(self, "block_weights", tuple(float(w) for w in self.block_weights))
        _require(0.0 < self.a <= 1.0, f"a={self.a} must be in (0, 1]")
        _require(self.name != "eskd" or (self.stop_epoch is not None and self.stop_epoch >= 1),
                 f"method='eskd' needs stop_epoch >= 1 (the last epoch with KD), not {self.stop_epoch}")
        _require(self.eps >= 0 and self.step_size > 0 and self.steps >= 1,
                 f"eps={self.eps}, step_size={self.step_size}, steps={self.steps}: need eps >= 0, "
                 f"step_size > 0, steps >= 1")
        _require(self.negatives >= 1, f"negatives={self.negatives} must be >= 1")
        _require(self.name != "crd_tau" or self.T <= 1.0,
                 f"method='crd_tau' reads T as CRD's NCE temperature (Tian 0.07, Ojha 0.1): "
                 f"T={self.T} is a soft-target temperature, give T <= 1")
        _require(self.branches >= 2, f"branches={self.branches} must be >= 2")
        _require(self.attack_size >= 1 and self.bss_steps >= 1,
                 f"attack_size={self.attack_size}, bss_steps={self.bss_steps} must be >= 1")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. `milestones` are epochs at which a step schedule multiplies the rate by
    `gamma`; `exp` multiplies it by `gamma` every epoch. `precision` "auto" is bf16 autocast
    on CUDA and on a CPU with native bf16, float32 elsewhere (kd.train.resolve_precision)."""
    epochs: int = 1
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    precision: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        _check_ints(self)
        _coerce_floats(self)
        _require(self.epochs >= 1, f"epochs={self.epochs} must be >= 1")
        _require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        _allowed("optimizer", self.optimizer, OPTIMIZERS)
        _allowed("schedule", self.schedule, SCHEDULES)
        _allowed("precision", self.precision, PRECISIONS)
        _require(self.lr > 0, f"lr={self.lr} must be > 0")
        _require(0.0 <= self.momentum < 1.0, f"momentum={self.momentum} must be in [0, 1)")
        _require(self.weight_decay >= 0, f"weight_decay={self.weight_decay} must be >= 0")
        _require(self.gamma > 0, f"gamma={self.gamma} must be > 0")
        object.__setattr__(self, "milestones", tuple(self.milestones))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model: data, network, method, optimisation,
    seed, for methods that distil from one the teacher's own RunConfig, and for the second
    stage of a two-stage method (FitNet) the stage-1 RunConfig whose weights start this one."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    teacher: "RunConfig | None" = None
    init: "RunConfig | None" = None

    def __post_init__(self) -> None:
        _check_ints(self)
        from .methods import METHODS
        needs = METHODS[self.method.name].uses_teacher
        _require(not getattr(METHODS[self.method.name], "same_architecture", False)
                 or self.teacher is None or self.teacher.model == self.model,
                 f"method={self.method.name!r} distils from the student's own architecture: "
                 f"teacher.model must equal model")
        _require(self.init is None or self.init.model == self.model,
                 "init= must be a run of the same model (its trained weights start this run)")
        _require(not needs or self.teacher is not None,
                 f"method={self.method.name!r} distils from a teacher: give teacher=RunConfig(...)")
        _require(needs or self.teacher is None,
                 f"method={self.method.name!r} uses no teacher, but teacher= was given")
        from .domains import PARTS      # a teacher of several domains may teach on one of them
        _require(self.teacher is None or self.teacher.data.name == self.data.name
                 or self.data.name in PARTS.get(self.teacher.data.name, ()),
                 f"teacher dataset {self.teacher.data.name if self.teacher else ''!r} differs "
                 f"from the student's {self.data.name!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """Cache key: hash of the full config, the concrete data source and kd's cache version.
        Fields left at their defaults are left out of the hash, so that adding a new option
        with a default keeps the keys of the runs already made."""
        from .data import source_of
        keyed = {"config": _non_default(self), "sources": _sources(self, source_of),
                 "version": CACHE_VERSION}
        revisions = {name: METHOD_REVISIONS[name] for name in _methods(self) if name in METHOD_REVISIONS}
        if revisions:
            keyed["revisions"] = revisions
        blob = json.dumps(keyed, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_(self, **changes: Any) -> "RunConfig":
        """A copy with changes; nested fields by `section__field`, e.g. train__epochs=3."""
        nested: dict[str, dict[str, Any]] = {}
        flat = {}
        for name, value in changes.items():
            if "__" in name:
                section, sub = name.split("__", 1)
                nested.setdefault(section, {})[sub] = value
            else:
                flat[name] = value
        for section, subchanges in nested.items():
            known = {f.name for f in fields(getattr(self, section))}
            unknown = set(subchanges) - known
            _require(not unknown, f"{section} has no field(s) {sorted(unknown)}; fields: {sorted(known)}")
            flat[section] = replace(getattr(self, section), **subchanges)
        return replace(self, **flat)


def _non_default(cfg: Any) -> dict:
    out = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if value != default:
            out[f.name] = _non_default(value) if is_dataclass(value) else value
    return out


def _sources(cfg: RunConfig, source_of) -> list[str]:
    chain = [source_of(cfg.data.name)]
    for parent in (cfg.teacher, cfg.init):
        chain += _sources(parent, source_of) if parent is not None else []
    return chain


def _methods(cfg: RunConfig) -> set[str]:
    """The methods of a run and of the runs it is built on (its teacher, its init), recursively."""
    names = {cfg.method.name}
    for parent in (cfg.teacher, cfg.init):
        names |= _methods(parent) if parent is not None else set()
    return names


def from_dict(d: dict) -> RunConfig:
    """Inverse of RunConfig.to_dict (lists back to tuples)."""
    def tup(section: dict) -> dict:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
    return RunConfig(data=DataConfig(**tup(d["data"])), model=ModelConfig(**tup(d["model"])),
                     method=MethodConfig(**tup(d["method"])), train=TrainConfig(**tup(d["train"])),
                     seed=d["seed"], teacher=from_dict(d["teacher"]) if d.get("teacher") else None,
                     init=from_dict(d["init"]) if d.get("init") else None)
