"""Gupta et al., "Exploring Knowledge Distillation": Table 2 (notebook 30, experiment G2) and
Table 1 (notebook 10's G1).

The runs are recipes (`kd.recipes.gupta_student`: the five students of the ResNet50 family,
Gupta's KD loss, the full or the reduced training set). This module holds what the notebook
sets around them: Table 2 as printed, which run and which seeds stand for each of its rows
under each profile, the time the `cpu` plan was estimated to take, the rule of claim 1, the
table of the paper's numbers beside ours and the figure.
"""
from __future__ import annotations

import math
import statistics

from .. import recipes
from ..config import DataConfig, MethodConfig, ModelConfig, RunConfig, TrainConfig, check_profile
from ..parallel import Job
from . import zhang

# Gupta et al. (notebook 30, Table 2): students of the ResNet50 teacher's own family with fewer
# blocks per stage and a larger stem stride; "ideal" is [1, 1, 1, 1] at stride 2 (their pick:
# the largest inference-time ratio without giving up much accuracy). The KD loss is the one
# their section 1.2 writes for CIFAR-10, cls_loss + div_loss = CE(y, s) + KL(t || s) with s, t
# the plain softmaxes of the logits: no temperature (T = 1) and equal weights. kd's Hinton form
# (1 - alpha) CE + alpha T^2 KL at alpha 0.5, T 1 is that sum halved (same minimiser, gradients
# halved). The paper gives no alpha, T or schedule anywhere else (Appendix A holds only the
# proofs of Lemmas 1-2); every run uses the profile's CIFAR schedule. The reduced set is "the
# first 500 images of each class" (DataConfig.per_class keeps the first images in dataset
# order; under smoke, whose full set is 20 a class, a tenth of it, 2 a class), trained for the
# same epochs (so 1/10 of the steps).
GUPTA_TEACHER = "resnet50"
GUPTA_STUDENTS = {
    "[1,1,1,1]": dict(blocks=(1, 1, 1, 1), stem_stride=1),
    "[2,2,0,0]": dict(blocks=(2, 2, 0, 0), stem_stride=1),
    "[1,1,0,0]": dict(blocks=(1, 1, 0, 0), stem_stride=1),
    "[1,1,1,1], stride 2": dict(blocks=(1, 1, 1, 1), stem_stride=2),
    "[1,1,1,1], stride 4": dict(blocks=(1, 1, 1, 1), stem_stride=4),
}
GUPTA_IDEAL = "[1,1,1,1], stride 2"
GUPTA_KD = MethodConfig("hinton", alpha=0.5, T=1.0)
GUPTA_REDUCED_PER_CLASS = 500


def gupta_student(layout: str, profile: str, seed: int = 0, reduced: bool = False,
                  distil: bool = True) -> RunConfig:
    """Gupta Table 2's run of student `layout` (a key of `GUPTA_STUDENTS`): the ResNet50 family
    at the profile's width (`CPU_WIDTH` outside `paper`), the profile's CIFAR-10 schedule,
    trained with `GUPTA_KD` from `recipes.teacher("resnet50", profile)` or, `distil=False`, with
    cross-entropy alone ("no KD loss"); `reduced`: on the first 500 images of each class (a
    tenth of the full set; smoke: 2 of its 20), evaluated on the same test images."""
    if layout not in GUPTA_STUDENTS:
        raise ValueError(f"layout={layout!r} is not one of Gupta's students: {', '.join(GUPTA_STUDENTS)}")
    teacher_run = recipes.teacher(GUPTA_TEACHER, profile)
    data_cfg = teacher_run.data
    if reduced:
        per_class = (GUPTA_REDUCED_PER_CLASS if data_cfg.per_class is None
                     else min(GUPTA_REDUCED_PER_CLASS, max(1, data_cfg.per_class // 10)))
        data_cfg = DataConfig(data_cfg.name, per_class=per_class, test_per_class=data_cfg.test_per_class)
    model = recipes.network(GUPTA_TEACHER, profile, **GUPTA_STUDENTS[layout])
    return RunConfig(data=data_cfg, model=model, method=GUPTA_KD if distil else MethodConfig("ce"),
                     train=recipes.schedule(profile), seed=seed, teacher=teacher_run if distil else None)



# Table 2 as printed: row -> (accuracy %, training seconds, inference-time ratio teacher/student).
# "Baseline" is not defined in the paper (its ratio of 6.58 says it is not the teacher): kd does
# not run it. The "Ideal" student is [1,1,1,1] at stride 2.
TABLE_2 = {
    "baseline": (79.3, 400, 6.58),
    "[1,1,1,1]": (79.1, 275, 8.53),
    "[2,2,0,0]": (78.6, 370, 7.81),
    "[1,1,0,0]": (79.4, 340, 9.85),
    "[1,1,1,1], stride 2": (77.6, 280, 11.60),
    "[1,1,1,1], stride 4": (79.9, 405, 9.94),
    "ideal, no KD": (75.8, 330, 10.84),
    "ideal, reduced set, KD": (61.2, 60, 10.33),
    "ideal, reduced set, no KD": (56.0, 60, 9.79),
}
# the rows kd runs: label -> (layout of GUPTA_STUDENTS, reduced set, with the KD loss)
ROWS = {
    **{layout: (layout, False, True) for layout in GUPTA_STUDENTS},
    "ideal, no KD": (GUPTA_IDEAL, False, False),
    "ideal, reduced set, KD": (GUPTA_IDEAL, True, True),
    "ideal, reduced set, no KD": (GUPTA_IDEAL, True, False),
}
FULL_ARMS = (GUPTA_IDEAL, "ideal, no KD")                  # claim 2, full set: KD, no KD
REDUCED_ARMS = ("ideal, reduced set, KD", "ideal, reduced set, no KD")
# the paper's KD gains of the ideal student, in accuracy points: +1.8 on the full set, +5.2 on
# the reduced set
PAPER_GAINS = {name: round(TABLE_2[with_kd][0] - TABLE_2[without][0], 2)
               for name, (with_kd, without) in (("full", FULL_ARMS), ("reduced", REDUCED_ARMS))}
# seeds: `layouts` for the four other students, `full` for the ideal student's two full-set
# arms, `reduced` for its two reduced-set arms (a reduced-set epoch costs about 1/9 of a full
# one, so it gets more seeds)
SEEDS = {"smoke": dict(layouts=(0,), full=(0, 1, 2), reduced=(0, 1, 2)),
         "cpu": dict(layouts=(0,), full=(0, 1, 2), reduced=tuple(range(8))),
         "paper": dict(layouts=(0, 1, 2), full=tuple(range(5)), reduced=tuple(range(8)))}
# the cpu plan's estimate: seconds of one training epoch and of one evaluation on the 10,000 test
# images, per distinct arm (layout, KD or not, reduced or not), measured on the 2-core machine with
# AVX512-BF16 (kd trains in bf16 there) that the cpu budgets were set on, while another notebook
# ran on it: each arm timed with kd.measure.epoch_seconds (8 batches, 1 thread, nice 19) back to
# back with the teacher's own epoch, the ratio times the teacher's uncontended epoch in its cached
# run (median 54.5 s on 2 cores). With `SEEDS["cpu"]`, chosen from these and the budget: 43 min of
# training and evaluation, leaving 17 of the 60 for the inference timings, the cached runs and a
# shared machine (one thread's ratios may flatter the small students, which use two cores less
# well). On a CPU without native bf16 (float32, AVX2) every epoch costs several times more.
CPU_EPOCH_SECONDS = {
    ("[1,1,1,1]", False, True): (38.5, 1.4),
    ("[2,2,0,0]", False, True): (42.3, 2.1),
    ("[1,1,0,0]", False, True): (33.7, 1.3),
    ("[1,1,1,1], stride 2", False, True): (21.1, 0.3),
    ("[1,1,1,1], stride 2", False, False): (8.3, 0.3),
    ("[1,1,1,1], stride 2", True, True): (2.4, 0.3),
    ("[1,1,1,1], stride 2", True, False): (0.9, 0.3),
    ("[1,1,1,1], stride 4", False, True): (18.1, 0.1),
}
CPU_BUDGET_S = 60 * 60                 # the notebook under cpu, the cached teacher excluded
# claim 1: a student keeps "most" of the teacher's accuracy at >= KEEP of it, with a
# "several-fold" speed-up at a teacher/student inference-time ratio >= SPEEDUP
KEEP, SPEEDUP = 0.90, 3.0


def seeds(label: str, profile: str) -> tuple[int, ...]:
    """The seeds of row `label` under the profile (see `SEEDS`)."""
    layout, reduced, _ = ROWS[label]
    s = SEEDS[check_profile(profile)]
    return s["reduced"] if reduced else s["full"] if layout == GUPTA_IDEAL else s["layouts"]


def config(label: str, profile: str, seed: int = 0) -> RunConfig:
    """The run of row `label` for one seed (kd.gupta_student)."""
    layout, reduced, distil = ROWS[label]
    return gupta_student(layout, profile, seed=seed, reduced=reduced, distil=distil)


def plan_seconds(epoch_seconds: dict[tuple[str, bool, bool], tuple[float, float]], epochs: int,
                 profile: str) -> dict[str, float]:
    """Estimated training seconds of every row: seeds x epochs x (one epoch + one evaluation)."""
    return {label: len(seeds(label, profile)) * epochs * sum(epoch_seconds[ROWS[label]])
            for label in ROWS}


def claim_1(kept: dict[str, float], ratio: dict[str, float], keep: float = KEEP,
            speedup: float = SPEEDUP) -> tuple[str, str]:
    """Claim 1's verdict and evidence. `kept`: each student's accuracy over the teacher's;
    `ratio`: its teacher/student inference-time ratio. A student passes if kept >= `keep`
    and ratio >= `speedup`: *held* if all pass, *partly* if some do, *did not hold* if none."""
    if not kept or set(kept) != set(ratio):
        raise ValueError(f"kept and ratio must name the same students, got {sorted(kept)} and "
                         f"{sorted(ratio)}")
    passed = {k: kept[k] >= keep and ratio[k] >= speedup for k in kept}
    n = sum(passed.values())
    verdict = "held" if n == len(passed) else "partly" if n else "did not hold"
    parts = "; ".join(f"{k}: {kept[k]:.1%} of the teacher's accuracy, {ratio[k]:.2f}x "
                      f"({'pass' if passed[k] else 'fail'})" for k in kept)
    rule = (f"rule: a student passes if it keeps >= {keep:.0%} of the teacher's accuracy and runs "
            f">= {speedup:g}x faster (teacher/student inference time); held if all "
            f"{len(passed)} pass, partly if some do, did not hold if none")
    return verdict, f"{n} of {len(passed)} pass: {parts}; {rule}"


def table(teacher_acc: float, rows: dict[str, dict]) -> str:
    """The paper's rows beside ours, one line each. `rows[label]`: "acc" and "seconds" (lists
    over seeds), "ratio" (teacher/student inference time) and "macs" (their MAC ratio)."""
    def accuracy(values: list[float]) -> str:
        spread = f"± {statistics.stdev(values):4.2f}" if len(values) > 1 else " " * 6
        return f"{statistics.fmean(values):6.2f} {spread} n={len(values)}"

    lines = [f"{'row':27s} {'accuracy % (ours)':>19s} {'paper':>6s} {'train s':>8s} {'paper':>6s} "
             f"{'ratio':>6s} {'paper':>6s} {'MACs':>6s}",
             f"{'teacher ResNet50':27s} {accuracy([teacher_acc]):>19s} {'-':>6s}"]
    for label, r in rows.items():
        paper = TABLE_2.get(label, (math.nan,) * 3)
        seconds = statistics.fmean(r["seconds"])
        lines.append(f"{label:27s} {accuracy(r['acc']):>19s} {paper[0]:6.1f} {seconds:8.0f} {paper[1]:6.0f} "
                     f"{r['ratio']:6.2f} {paper[2]:6.2f} {r['macs']:6.1f}")
    return "\n".join(lines)


def figure(teacher_acc: float, acc: dict[str, list[float]], ratio: dict[str, float],
           gains: dict[str, list[float]], keep: float = KEEP, speedup: float = SPEEDUP, noise_band: float | None = None):
    """Left: each of the five students' mean accuracy (KD, full set) against its inference-time
    ratio, ours (blue) and the paper's (grey squares), each point labelled, with claim 1's bars.
    Right: the ideal student's KD gain per seed on the full and the reduced set
    (`gains["full"]`, `gains["reduced"]`), their means and the paper's gains; `noise_band`, when
    given, shades the gains within the threshold of a single gain's seed noise."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    short = {label: label.replace("[1,1,1,1], ", "").replace("stride", "s") for label in GUPTA_STUDENTS}
    for label in GUPTA_STUDENTS:
        x, y = ratio[label], statistics.fmean(acc[label])
        px, py = TABLE_2[label][2], TABLE_2[label][0]
        ax1.scatter(x, y, color="#3b75af", zorder=3)
        ax1.scatter(px, py, color="#999999", marker="s", zorder=3)
        ax1.annotate(short[label], (x, y), fontsize=7, xytext=(4, -3), textcoords="offset points", color="#1f4e79")
        ax1.annotate(short[label], (px, py), fontsize=7, xytext=(4, 3), textcoords="offset points", color="#555555")
    ax1.scatter([], [], color="#3b75af", label="ours (1/8 width, CPU)")
    ax1.scatter([], [], color="#999999", marker="s", label="paper (full width, GPU)")
    ax1.axhline(teacher_acc, color="#3b75af", ls="--", lw=0.8, label=f"our teacher ({teacher_acc:.1f}%)")
    ax1.axhline(keep * teacher_acc, color="#c44e52", ls=":", lw=0.8,
                label=f"claim 1: {keep:.0%} of our teacher's accuracy and {speedup:g}x")
    ax1.axvline(speedup, color="#c44e52", ls=":", lw=0.8)
    ax1.set_xscale("log")
    ax1.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax1.xaxis.set_minor_formatter(ticker.NullFormatter())
    xs = [x for k in GUPTA_STUDENTS for x in (ratio[k], TABLE_2[k][2])] + [speedup]
    ax1.set_xlim(min(xs) / 1.4, max(xs) * 2.2)          # room for the labels of the rightmost points
    ax1.set_xticks([t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200) if min(xs) / 1.4 <= t <= max(xs) * 2.2])
    ax1.set_xlabel("inference time ratio teacher / student")
    ax1.set_ylabel("final-epoch test accuracy (%)")
    ax1.set_title("claim 1: the students' accuracy against their speed-up", fontsize=10)
    ax1.legend(fontsize=7, loc="lower right")
    if noise_band is not None:
        ax2.axhspan(-noise_band, noise_band, color="#f2d0a9", alpha=0.6, zorder=0,
                    label=f"within one gain's noise (|gain| <= {noise_band:.2f})")
    for i, (name, values) in enumerate(gains.items()):
        ax2.scatter([i] * len(values), values, color="#3b75af", alpha=0.7,
                    label="ours, per seed" if i == 0 else None)
        ax2.plot([i - 0.25, i + 0.25], [statistics.fmean(values)] * 2, color="#3b75af", lw=2)
        ax2.plot([i - 0.25, i + 0.25], [PAPER_GAINS[name]] * 2, color="#999999", ls="--", lw=1.5,
                 label="paper" if i == 0 else None)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_xticks(range(len(gains)), [f"{name} set" for name in gains])
    ax2.set_xlim(-0.7, len(gains) - 0.3)
    ax2.set_ylabel("KD gain of the ideal student (points)")
    ax2.set_title("claim 2: with KD minus without, final epoch (bar: mean)", fontsize=10)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


# G1 (Gupta Table 1): hidden units, T, epochs, batch; paper: accuracy %, training seconds,
# teacher/student inference-time ratio
G1_ROWS = [(50, 3.5, 3, 32, 95.97, 30.998, 315.332), (300, 3.5, 3, 16, 97.24, 95.715, 138.753),
           (300, 3.5, 3, 64, 97.12, 48.421, 129.564), (300, 3.5, 2, 32, 96.17, 25.108, 126.174),
           (300, 10.0, 3, 32, 96.87, 64.573, 123.326), (300, 1.0, 3, 32, 96.98, 65.171, 123.264),
           (300, 3.5, 3, 32, 97.26, 64.854, 119.127), (300, 3.5, 5, 32, 97.23, 247.926, 116.654),
           (600, 3.5, 3, 32, 97.21, 103.010, 38.005)]


def g1_teacher(profile: str) -> RunConfig:
    """G1's teacher: 1200-1200 MLP, one epoch of Adam lr 1e-3, batch 32."""
    return RunConfig(data=zhang.mnist_data(profile), model=ModelConfig("mlp", (1200, 1200)),
                     seed=zhang.MNIST_SETTINGS[check_profile(profile)]["seeds"][0],
                     train=TrainConfig(epochs=1, batch_size=32, optimizer="adam", lr=1e-3,
                                       precision=zhang.MNIST_PRECISION))


def g1_student(profile: str, hidden: int, T: float, epochs: int, batch_size: int) -> RunConfig:
    teacher = g1_teacher(profile)
    return RunConfig(data=teacher.data, model=ModelConfig("mlp", (hidden,)), seed=teacher.seed,
                     method=MethodConfig("hinton", T=T, alpha=0.9), teacher=teacher,
                     train=TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3,
                                       precision=zhang.MNIST_PRECISION))


def plan_g1(profile: str) -> list[Job]:
    return [Job(g1_teacher(profile), "G1 teacher")] + [
        Job(g1_student(profile, hidden, T, epochs, batch), f"G1 {hidden} units T={T} {epochs} ep batch {batch}")
        for hidden, T, epochs, batch, *_ in G1_ROWS]


def plan_30(profile: str) -> list[Job]:
    """Notebook 30's runs: the ResNet50 teacher, then every row of Table 2 over its seeds."""
    return [Job(recipes.teacher(GUPTA_TEACHER, profile), "ResNet50 teacher")] + [
        Job(config(label, profile, s), f"{label}, seed {s}") for label in ROWS for s in seeds(label, profile)]


def noise_settings_30(profile: str) -> dict:
    """G2's controls: the ideal student without KD on the full set (5 seeds) and on the
    reduced set (its 8 seeds); smoke: 2 and 3."""
    smoke = check_profile(profile) == "smoke"
    return {"ideal student alone, full set": (config("ideal, no KD", profile), (0, 1) if smoke else (0, 1, 2, 3, 4)),
            "ideal student alone, reduced set": (config("ideal, reduced set, no KD", profile),
                                                 tuple(seeds("ideal, reduced set, no KD", profile)))}
