"""Plain dataclass configs. A run is a pure function of its RunConfig: the cache key is a hash
of the whole config (teacher included) and of the concrete data it resolves to.

Every config checks itself when it is made, so a bad value fails with a ValueError that
names the parameter and the allowed values before any work starts.
"""
from __future__ import annotations

import hashlib
import json
import math
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
# seeds are 32-bit: every seed kd derives from one (seed * 1_000_003 + epoch for dropout,
# seed * 100_003 + epoch for the batch order) then stays within torch's 64-bit seed range
SEED_MAX = 2**32 - 1
# the largest learning rate accepted: the studies use at most 1.0 (Adadelta's), SGD peaks at 0.4;
# a rate above this only diverges, after the run's first files are written
LR_MAX = 10.0


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


def _check_types(cfg: Any) -> None:
    """Refuse a value of the wrong kind before a comparison fails on it with a TypeError: a
    float field takes a finite real number (not a string, None, a bool, inf or NaN), a str
    field a string, a bool field a bool, a tuple field a tuple or list; None only where the
    field allows it. Whole numbers are _check_ints'."""
    for f in fields(cfg):
        kind, value = str(f.type), getattr(cfg, f.name)
        base = kind.split(" |")[0]
        if value is None:
            _require(kind.endswith("| None") or base.startswith("int"),      # ints: _check_ints says
                     f"{f.name}=None is not allowed; give a {base.split('[')[0]}")
            continue
        if base.startswith("tuple["):
            _require(isinstance(value, (tuple, list)),
                     f"{f.name}={value!r} must be a tuple of {base[6:].split(',')[0]}s, e.g. ({value!r},)")
            if base.startswith("tuple[float"):
                bad = [v for v in value if isinstance(v, bool) or not isinstance(v, numbers.Real)
                       or not math.isfinite(v)]
                _require(not bad, f"{f.name}={value!r} must hold finite numbers, not {bad[0]!r}" if bad else "")
        elif base == "float":
            _require(not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value),
                     f"{f.name}={value!r} must be a finite number" +
                     (f" (a {type(value).__name__} was given)" if not isinstance(value, numbers.Real) else ""))
        elif base == "str":
            _require(isinstance(value, str), f"{f.name}={value!r} must be a string (a {type(value).__name__} "
                                             f"was given)")
        elif base == "bool":
            if type(value).__name__ == "bool_":          # numpy's
                object.__setattr__(cfg, f.name, bool(value))
            else:
                _require(isinstance(value, bool), f"{f.name}={value!r} must be True or False")


def _check_seed(name: str, seed: int) -> None:
    _require(0 <= seed <= SEED_MAX, f"{name}={seed} must be in 0..{SEED_MAX} (2**32 - 1)")


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
        _check_types(self)
        _check_ints(self)
        _coerce_floats(self)
        from .data import AUGMENTATIONS, DATASETS
        _allowed("dataset", self.name, DATASETS)
        if self.augment is not None:
            # crop_flip mirrors images: fine for CIFAR's objects, wrong for digits (so is its
            # colour-jittered form, crop_flip_colour)
            allowed = tuple(a for a in AUGMENTATIONS
                            if not a.startswith("crop_flip") or not self.name.startswith("mnist"))
            _require(self.augment in allowed,
                     f"augment={self.augment!r} is not allowed for dataset {self.name!r}; allowed: "
                     f"{', '.join(allowed)}" + (" (crop_flip mirrors images: CIFAR's augmentation, wrong for digits)"
                                                if self.augment.startswith("crop_flip") else ""))
        _check_seed("seed", self.seed)
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
        _check_types(self)
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
        _check_types(self)
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
    on CUDA and on a CPU with native bf16, float32 elsewhere (kd.train.resolve_precision).
    `schedule_epochs` (None: `epochs`) is the length of the schedule the run follows: a run
    with epochs < schedule_epochs is that longer run stopped after `epochs` epochs, the same
    weights as its first `epochs` epochs (Cho & Hariharan 2019's early-stopped teacher)."""
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
    schedule_epochs: int | None = None

    def __post_init__(self) -> None:
        _check_types(self)
        _check_ints(self)
        _coerce_floats(self)
        _require(self.epochs >= 1, f"epochs={self.epochs} must be >= 1")
        _require(self.schedule_epochs is None or self.schedule_epochs >= self.epochs,
                 f"schedule_epochs={self.schedule_epochs} must be >= epochs={self.epochs} (a run stops "
                 f"early within its schedule) or None")
        if self.schedule_epochs == self.epochs:     # not stopped early: one config, one cache key
            object.__setattr__(self, "schedule_epochs", None)
        _require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        _allowed("optimizer", self.optimizer, OPTIMIZERS)
        _allowed("schedule", self.schedule, SCHEDULES)
        _allowed("precision", self.precision, PRECISIONS)
        _require(0 < self.lr <= LR_MAX, f"lr={self.lr} must be > 0 and <= {LR_MAX:g} (kd's bound: "
                                        f"the studies use at most 1.0)")
        _require(0.0 <= self.momentum < 1.0, f"momentum={self.momentum} must be in [0, 1)")
        _require(self.weight_decay >= 0, f"weight_decay={self.weight_decay} must be >= 0")
        _require(self.gamma > 0, f"gamma={self.gamma} must be > 0")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        # a milestone m lowers the rate after epoch m: below 1 it would from the start, at
        # `epochs` or later never (a run stopped early keeps its schedule's later milestones)
        length = self.schedule_epochs or self.epochs
        _require(all(1 <= m < length for m in self.milestones),
                 f"milestones={self.milestones} must be epochs in 1..{length - 1} (epochs={self.epochs}"
                 + (f", schedule_epochs={self.schedule_epochs}" if self.schedule_epochs else "") + ")")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model: data, network, method, optimisation,
    seed, for methods that distil from one the teacher's own RunConfig, and for the second
    stage of a two-stage method (FitNet) the stage-1 RunConfig whose weights start this one.
    `teacher_seeds` makes the teacher an ensemble (Stanton et al. 2021's deep-ensemble
    teachers): its members are `teacher` trained at each of these seeds (the first is
    teacher.seed), their predictive probabilities averaged (kd.fidelity.Ensemble); () is the
    one teacher. Only methods that read the teacher's logits alone take an ensemble."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    teacher: "RunConfig | None" = None
    init: "RunConfig | None" = None
    teacher_seeds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("method", MethodConfig),
                           ("train", TrainConfig)):
            value = getattr(self, name)
            _require(isinstance(value, kind), f"{name}={value!r} must be a kd.{kind.__name__}, e.g. "
                                              f"kd.{kind.__name__}({value!r})" if isinstance(value, str)
                     else f"{name}={value!r} must be a kd.{kind.__name__}")
        for name in ("teacher", "init"):
            value = getattr(self, name)
            _require(value is None or isinstance(value, RunConfig),
                     f"{name}={value!r} must be a kd.RunConfig or None")
        _check_ints(self)
        _check_seed("seed", self.seed)
        from .methods import METHODS
        needs = METHODS[self.method.name].uses_teacher
        _require(self.method.name != "eskd" or self.method.stop_epoch <= self.train.epochs,
                 f"stop_epoch={self.method.stop_epoch} is after the last of epochs={self.train.epochs}: "
                 f"ESKD would never stop distilling")
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
        object.__setattr__(self, "teacher_seeds", tuple(self.teacher_seeds))
        if self.teacher_seeds:
            for s in self.teacher_seeds:
                _check_seed("teacher_seeds", s)
            _require(self.teacher is not None and len(set(self.teacher_seeds)) == len(self.teacher_seeds) >= 2
                     and self.teacher_seeds[0] == self.teacher.seed,
                     f"teacher_seeds={self.teacher_seeds} must be two or more distinct seeds of an ensemble "
                     f"teacher, the first of them teacher.seed"
                     + (f" ({self.teacher.seed})" if self.teacher is not None else " (give teacher=)"))
            _require(METHODS[self.method.name].teacher_logits_only,
                     f"method={self.method.name!r} reads more of its teacher than its logits: an ensemble "
                     f"teacher (teacher_seeds) is for methods that do not (hinton, eskd, ...)")
        from .domains import PARTS      # a teacher of several domains may teach on one of them
        _require(self.teacher is None or self.teacher.data.name == self.data.name
                 or self.data.name in PARTS.get(self.teacher.data.name, ()),
                 f"teacher dataset {self.teacher.data.name if self.teacher else ''!r} differs "
                 f"from the student's {self.data.name!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def parents(self) -> list["RunConfig"]:
        """The runs this one is built on, each trained before it: its teacher (every member of
        an ensemble teacher, `teacher_seeds`) and its first stage (`init`)."""
        out = [] if self.teacher is None else [self.teacher] + [self.teacher.with_(seed=s)
                                                               for s in self.teacher_seeds[1:]]
        return out + ([] if self.init is None else [self.init])

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
    """Inverse of RunConfig.to_dict (lists back to tuples). A section left out takes its
    defaults, a field left out its default; an unknown field raises a ValueError naming it."""
    _require(isinstance(d, dict), f"from_dict needs a dict of RunConfig fields, not a {type(d).__name__}")
    sections = {"data": DataConfig, "model": ModelConfig, "method": MethodConfig, "train": TrainConfig}
    unknown = sorted(set(d) - set(sections) - {"seed", "teacher", "init", "teacher_seeds"})
    _require(not unknown, f"from_dict: unknown field(s) {unknown}; RunConfig's fields: "
                          f"{[f.name for f in fields(RunConfig)]}")

    def section(name: str) -> Any:
        kind, given = sections[name], d.get(name, {})
        _require(isinstance(given, dict), f"from_dict: {name}={given!r} must be a dict of {kind.__name__} fields")
        known = {f.name for f in fields(kind)}
        extra = sorted(set(given) - known)
        _require(not extra, f"from_dict: {name} has unknown field(s) {extra}; fields: {sorted(known)}")
        return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    return RunConfig(**{name: section(name) for name in sections}, seed=d.get("seed", 0),
                     teacher=from_dict(d["teacher"]) if d.get("teacher") else None,
                     init=from_dict(d["init"]) if d.get("init") else None,
                     teacher_seeds=tuple(d.get("teacher_seeds", ())))
