"""Verdicts that respect noise: one rule for every notebook that compares two arms.

The notebooks judge effects of 0.2-0.5 accuracy points (distilled vs. plain student, one loss
vs. another) while the seed-to-seed spread of a single arm is of the same size. A rule such as
"held if the gain is >= 0.3" then turns noise into verdicts, and printing 0.2967 as "0.30"
hides which side of the bar the number fell on. So every claim is judged by the same rule,
and the numbers are printed at the precision that decides it.

The rule (`compare`), with d the treatment-minus-control difference over seeds, `mean` its
mean, `se` its standard error, and e = direction * mean the effect in the claimed direction:

* |mean| <= z * se                  -> "inconclusive"  (the effect is within its uncertainty)
* else e > 0 and e >= min_effect     -> "held"
* else e > 0 and e <  min_effect     -> "partly"        (real, in the claimed direction, but
                                                          smaller than the stated bar)
* else (e < 0)                       -> "did not hold"  (real, in the opposite direction)

With z = 2 this is roughly a two-sided 95% test. The standard error comes from the seeds
themselves (paired: std of the per-seed differences / sqrt(n); unpaired: Welch), and is never
smaller than what an independently measured seed noise implies (`noise_std`, the std of one
arm over seeds: noise_std * sqrt(2 / n) for the difference of two n-seed means). With one seed
and no `noise_std` there is no uncertainty estimate at all and the verdict is "inconclusive".
Two or three seeds estimate se poorly (identical per-seed differences give se = 0), which is
why notebooks should pass the baseline recipe's measured `noise_std` whenever they have it.

For two models evaluated on the same test images, `mcnemar` (McNemar 1947, exact binomial form)
tests a difference in accuracy and `paired_bootstrap` (Efron 1979, percentile interval) tests
a difference of per-image values; both use the same vocabulary of verdicts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

HELD, PARTLY, DID_NOT_HOLD, INCONCLUSIVE = "held", "partly", "did not hold", "inconclusive"


# ---------------------------------------------------------------- input checks and printing

def _finite(name: str, values) -> np.ndarray:
    """`values` as a 1-D float array; ValueError naming `name` if empty, ragged or not finite."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a sequence of numbers: {e}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} has non-finite values (NaN or inf) at positions {bad[:5].tolist()}")
    return arr


def _flags(name: str, values) -> np.ndarray:
    """`values` (bool, or numbers that are all 0 or 1) as a 1-D bool array."""
    arr = _finite(name, values)
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold booleans (or 0/1), got other values")
    return arr.astype(bool)


def _check_direction(direction: int) -> None:
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (treatment higher) or -1 (lower), got {direction!r}")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def _decimals(scales: Sequence[tuple[float, int]], pairs: Sequence[tuple[float, float]],
              most: int = 12) -> int:
    """Decimals to print with: at least 3; enough for `digits` significant digits of each
    (value, digits) in `scales` (up to 6 decimals); and enough that every pair (x, y) of
    unequal numbers the rule compares also prints unequal (up to `most` decimals)."""
    least = 3
    for value, digits in scales:
        if 0 < abs(value) < 1:  # exponent after rounding, so 0.0999999 counts as 0.100
            exponent = int(f"{abs(value):.{digits - 1}e}".split("e")[1])
            least = max(least, min(6, digits - 1 - exponent))
    for d in range(least, most + 1):
        if all(x == y or float(f"{x:.{d}f}") != float(f"{y:.{d}f}") for x, y in pairs):
            return d
    return most


def _sig(x: float, against: float) -> str:
    """`x` (a p-value) with >= 3 significant digits, and prints unequal to `against`."""
    for s in range(3, 13):
        if x == against or f"{x:.{s}g}" != f"{against:.{s}g}":
            return f"{x:.{s}g}"
    return repr(x)


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def _side(direction: int) -> str:
    return "higher" if direction > 0 else "lower"


def _more(direction: int) -> str:
    return "more" if direction > 0 else "less"


def _signed_verdict(sign: int, direction: int) -> str:
    return HELD if sign == direction else DID_NOT_HOLD


# ---------------------------------------------------------------- seeds: compare two arms

@dataclass(frozen=True)
class Comparison:
    """Treatment vs. control over seeds, judged by the rule in this module's docstring.

    `differences` are the per-seed differences treatment_i - control_i (empty when unpaired);
    `mean` is the mean difference and `se` its standard error (None when it cannot be
    estimated). `wins` / `losses` count seeds (paired) or all treatment x control seed pairs
    (unpaired) that go the claimed / opposite way, out of `trials`. `evidence` is one line with
    the numbers; `rule` is the rule as a sentence with its thresholds filled in.
    """
    name: str
    unit: str
    paired: bool
    direction: int
    min_effect: float
    z: float
    n: int
    n_control: int
    treatment_mean: float
    control_mean: float
    differences: tuple[float, ...]
    mean: float
    se: float | None
    se_source: str
    wins: int
    losses: int
    trials: int
    verdict: str
    rule: str
    evidence: str

    @property
    def threshold(self) -> float | None:
        """z * se: the smallest |mean| that is told apart from noise."""
        return None if self.se is None else self.z * self.se

    def __str__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return f"{head}{self.verdict.upper()} - {self.evidence}\n    rule: {self.rule}"


def _standard_error(t: np.ndarray, c: np.ndarray, paired: bool,
                    noise_std: float | None) -> tuple[float | None, str]:
    """The standard error of the mean difference, and a note on where it came from."""
    if paired:
        n = len(t)
        sample = float(np.std(t - c, ddof=1) / math.sqrt(n)) if n >= 2 else None
        sample_how, floor_how = "std(d)/sqrt(n)", f"noise_std*sqrt(2/{n})"
        floor = None if noise_std is None else noise_std * math.sqrt(2 / n)
    else:
        both = len(t) >= 2 and len(c) >= 2
        sample = (float(math.sqrt(np.var(t, ddof=1) / len(t) + np.var(c, ddof=1) / len(c)))
                  if both else None)
        sample_how, floor_how = "Welch", f"noise_std*sqrt(1/{len(t)}+1/{len(c)})"
        floor = None if noise_std is None else noise_std * math.sqrt(1 / len(t) + 1 / len(c))
    if floor is None:
        return sample, (sample_how if sample is not None else "")
    if sample is None:
        return floor, floor_how
    return max(sample, floor), f"max({sample_how} {sample:.4g}, {floor_how} {floor:.4g})"


def _rule(direction: int, min_effect: float, z: float, se: float | None, n: int, unit: str,
          dec: int) -> str:
    u = _unit(unit)
    if se is None:
        return (f"inconclusive: with {n} seed and no noise_std there is no standard error, so the "
                f"difference cannot be told from seed noise (run more seeds or give noise_std)")
    side, other = _side(direction), _side(-direction)
    bar = (f"held if treatment is {side} than control by >= {min_effect:.{dec}f}{u}, partly if "
           f"{side} by less than {min_effect:.{dec}f}{u}, did not hold if it is {other}"
           if min_effect > 0 else
           f"held if treatment is {side} than control, did not hold if it is {other}")
    return (f"inconclusive if |mean difference| <= z*se = {z * se:.{dec}f}{u} (z = {z:g}, "
            f"se = {se:.{dec}f}; the effect is within its uncertainty); otherwise {bar}")


def compare(treatment: Sequence[float], control: Sequence[float], *, paired: bool = True,
            direction: int = +1, min_effect: float = 0.0, noise_std: float | None = None,
            z: float = 2.0, name: str = "", unit: str = "points") -> Comparison:
    """Judge "treatment is {higher, lower} than control (by >= min_effect)" over seeds.

    paired: treatment[i] and control[i] share seed i; the differences d_i = treatment_i -
    control_i give mean(d) and se = std(d) / sqrt(n). Unpaired: difference of the two means
    with Welch's se = sqrt(s_t^2/n_t + s_c^2/n_c). With `noise_std` (one arm's seed-to-seed
    std, measured elsewhere) or fewer than 2 seeds, se = max(sample se if defined,
    noise_std * sqrt(2/n)) (unpaired: sqrt(1/n_t + 1/n_c) in place of sqrt(2/n)).

    Rule, with e = direction * mean: |mean| <= z*se -> "inconclusive"; else e >= min_effect ->
    "held"; else e > 0 -> "partly"; else "did not hold". No se at all (one seed, no
    noise_std) -> "inconclusive".
    """
    t, c = _finite("treatment", treatment), _finite("control", control)
    _check_direction(direction)
    if not (math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a finite number > 0, got {z!r}")
    if noise_std is not None and not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0 or None, got {noise_std!r}")
    if paired and len(t) != len(c):
        raise ValueError(f"a paired comparison needs one control per treatment seed: "
                         f"len(treatment)={len(t)}, len(control)={len(c)} (or pass paired=False)")

    diffs = t - c if paired else np.array([])
    mean = float(np.mean(diffs)) if paired else float(np.mean(t) - np.mean(c))
    se, se_source = _standard_error(t, c, paired, noise_std)
    cross = direction * (diffs if paired else (t[:, None] - c[None, :]).ravel())
    wins, losses = int(np.sum(cross > 0)), int(np.sum(cross < 0))

    e = direction * mean
    if se is None or abs(mean) <= z * se:
        verdict = INCONCLUSIVE
    elif e > 0:
        verdict = HELD if e >= min_effect else PARTLY
    else:
        verdict = DID_NOT_HOLD

    # |mean| vs z*se decides; once they print apart, a decisive mean also prints non-zero
    pairs = ([] if se is None else [(abs(mean), z * se)]) + ([(e, min_effect)] if min_effect else [])
    dec = _decimals([(mean, 3), (se or 0.0, 2)], pairs)
    u = _unit(unit)
    f = lambda x: f"{x:.{dec}f}"  # noqa: E731
    how = (f"n={len(t)} paired seed{'s' * (len(t) > 1)}" if paired
           else f"n={len(t)} vs {len(c)} seeds, unpaired")
    parts = [f"treatment {f(float(np.mean(t)))} vs control {f(float(np.mean(c)))}{u}",
             f"diff {mean:+.{dec}f} ± {'?' if se is None else f(se)}{u} (mean ± se, {how}; "
             f"se = {se_source or 'none: one seed, no noise_std'})"]
    if paired:
        parts.append("per-seed " + ", ".join(f"{d:+.{dec}f}" for d in diffs))
    parts.append(f"wins {wins}/{len(cross)}" + ("" if paired else " seed pairs"))
    if se is None:
        parts.append(f"no se -> {verdict}")
    else:
        cmp = "<=" if abs(mean) <= z * se else ">"
        test = f"|diff| {f(abs(mean))} {cmp} z*se {f(z * se)} (z={z:g})"
        if verdict == HELD and min_effect > 0:
            test += f"; {_side(direction)} as claimed, reaches bar {f(min_effect)}"
        elif verdict == HELD:
            test += f"; {_side(direction)} as claimed"
        elif verdict == PARTLY:
            test += f"; {_side(direction)} as claimed but below bar {f(min_effect)}"
        elif verdict == DID_NOT_HOLD:
            test += f"; {_side(-direction)}, against the claim"
        parts.append(f"{test} -> {verdict}")
    return Comparison(
        name=name, unit=unit, paired=paired, direction=direction, min_effect=float(min_effect),
        z=float(z), n=len(t), n_control=len(c), treatment_mean=float(np.mean(t)),
        control_mean=float(np.mean(c)), differences=tuple(float(d) for d in diffs), mean=mean,
        se=se, se_source=se_source, wins=wins, losses=losses, trials=len(cross), verdict=verdict,
        rule=_rule(direction, min_effect, z, se, len(t), unit, dec), evidence="; ".join(parts))


# ---------------------------------------------------------------- images: paired tests

@dataclass(frozen=True)
class PairedTest:
    """A paired test of model A vs. model B on the same test images.

    `difference` is A minus B: accuracy points for McNemar, the statistic of the per-image
    differences for the bootstrap. McNemar fills `p_value` and the discordant counts `b` (A right,
    B wrong) and `c` (A wrong, B right); the bootstrap fills `ci`.
    """
    test: str
    name: str
    unit: str
    n: int
    value_a: float
    value_b: float
    difference: float
    p_value: float | None
    ci: tuple[float, float] | None
    b: int | None
    c: int | None
    alpha: float
    direction: int
    verdict: str
    rule: str
    evidence: str

    def __str__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return f"{head}{self.verdict.upper()} - {self.evidence}\n    rule: {self.rule}"


def binomial_two_sided(b: int, c: int) -> float:
    """Exact two-sided p-value of b successes in b + c fair coin flips (McNemar's exact test):
    min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2), in exact integer arithmetic."""
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got b={b}, c={c}")
    n, k = b + c, min(b, c)
    term, tail = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / 2 ** n)


def mcnemar(correct_a, correct_b, *, alpha: float = 0.05, direction: int = +1,
            name: str = "") -> PairedTest:
    """McNemar's exact test (McNemar 1947) of "A is {more, less} accurate than B" on the same images.

    Only the discordant images carry information: b = A right & B wrong, c = A wrong & B right.
    Under "equally accurate" b ~ Binomial(b + c, 1/2); the p-value is the exact two-sided
    binomial one. Verdict: p >= alpha -> "inconclusive"; else "held" if the sign of
    accuracy(A) - accuracy(B) matches `direction`, "did not hold" otherwise.
    """
    a, bb = _flags("correct_a", correct_a), _flags("correct_b", correct_b)
    if len(a) != len(bb):
        raise ValueError(f"correct_a and correct_b must cover the same images: "
                         f"len(correct_a)={len(a)}, len(correct_b)={len(bb)}")
    _check_direction(direction)
    _check_alpha(alpha)
    n = len(a)
    b, c = int(np.sum(a & ~bb)), int(np.sum(~a & bb))
    acc_a, acc_b = 100 * float(np.mean(a)), 100 * float(np.mean(bb))
    diff = 100 * (b - c) / n
    p = binomial_two_sided(b, c)
    verdict = INCONCLUSIVE if p >= alpha else _signed_verdict(1 if b > c else -1, direction)
    dec = _decimals([(diff, 3)], [(diff, 0.0)])
    rule = (f"McNemar exact test on the discordant images: inconclusive if p >= alpha = {alpha:g}; "
            f"otherwise held if A is {_more(direction)} accurate than B, did not hold if "
            f"it is {_more(-direction)} accurate")
    evidence = (f"A {acc_a:.{dec}f}% vs B {acc_b:.{dec}f}% on {n} paired images: diff "
                f"{diff:+.{dec}f} points; discordant b={b} (A right, B wrong), c={c} (A wrong, "
                f"B right); p={_sig(p, alpha)} {'>=' if p >= alpha else '<'} alpha {alpha:g} "
                f"-> {verdict}")
    return PairedTest(test="McNemar exact", name=name, unit="points", n=n, value_a=acc_a,
                      value_b=acc_b, difference=diff, p_value=p, ci=None, b=b, c=c, alpha=alpha,
                      direction=direction, verdict=verdict, rule=rule, evidence=evidence)


_STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median}


def paired_bootstrap(values_a, values_b, *, statistic: str = "mean", n_boot: int = 2000,
                     seed: int = 0, alpha: float = 0.05, direction: int = +1, name: str = "",
                     unit: str = "") -> PairedTest:
    """Percentile bootstrap (Efron 1979) of a statistic of per-image differences a_i - b_i.

    Images are resampled with replacement `n_boot` times (numpy generator seeded by `seed`, so
    the result is deterministic); the (alpha/2, 1 - alpha/2) quantiles of the resampled
    statistic give the interval. Verdict: interval contains 0 -> "inconclusive"; else "held"
    if it lies on the `direction` side of 0, "did not hold" otherwise.
    """
    a, b = _finite("values_a", values_a), _finite("values_b", values_b)
    if len(a) != len(b):
        raise ValueError(f"values_a and values_b must cover the same images: "
                         f"len(values_a)={len(a)}, len(values_b)={len(b)}")
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(_STATISTICS)}, got {statistic!r}")
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    _check_direction(direction)
    _check_alpha(alpha)
    stat, d, n = _STATISTICS[statistic], a - b, len(a)
    estimate = float(stat(d))
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // n)  # resample in chunks of ~2M indices to bound memory
    boots = np.concatenate([stat(d[rng.integers(0, n, size=(min(rows, n_boot - i), n))], axis=1)
                            for i in range(0, n_boot, rows)])
    lo, hi = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    verdict = INCONCLUSIVE if lo <= 0 <= hi else _signed_verdict(1 if lo > 0 else -1, direction)
    dec = _decimals([(max(abs(estimate), abs(lo), abs(hi)), 3)], [(lo, 0.0), (hi, 0.0)])
    u, level = _unit(unit), f"{100 * (1 - alpha):g}%"
    rule = (f"paired percentile bootstrap ({n_boot} resamples of the images, seed {seed}): "
            f"inconclusive if the {level} interval of the {statistic} difference A - B contains 0; "
            f"otherwise held if it lies {'above' if direction > 0 else 'below'} 0, did not hold "
            f"if it lies {'below' if direction > 0 else 'above'} 0")
    evidence = (f"A {float(stat(a)):.{dec}f} vs B {float(stat(b)):.{dec}f}{u} on {n} paired "
                f"images: {statistic} diff {estimate:+.{dec}f}{u}, {level} CI "
                f"[{lo:+.{dec}f}, {hi:+.{dec}f}] ({n_boot} resamples, seed {seed}) -> {verdict}")
    return PairedTest(test=f"paired bootstrap ({statistic})", name=name, unit=unit, n=n,
                      value_a=float(stat(a)), value_b=float(stat(b)), difference=estimate,
                      p_value=None, ci=(lo, hi), b=None, c=None, alpha=alpha,
                      direction=direction, verdict=verdict, rule=rule, evidence=evidence)


# ---------------------------------------------------------------- one claim, several parts

def combine(verdicts: Sequence[str]) -> str:
    """The verdict of a claim made of parts (zhang Table 4: "Tf-KD self and Tf-KD reg both
    beat the baseline"): the parts' verdict when they agree; otherwise "partly" if any part
    held or partly held, else "did not hold" (a part went the other way, the rest inconclusive)."""
    allowed = (HELD, PARTLY, DID_NOT_HOLD, INCONCLUSIVE)
    bad = [v for v in verdicts if v not in allowed]
    if not verdicts or bad:
        raise ValueError(f"verdicts must be a non-empty list of {allowed}, got {list(verdicts)!r}")
    if len(set(verdicts)) == 1:
        return verdicts[0]
    return PARTLY if any(v in (HELD, PARTLY) for v in verdicts) else DID_NOT_HOLD
