"""One statistical protocol for every claim of every notebook.

The notebooks judge effects of a fraction of an accuracy point to a few points (a distilled
student against the same student alone) from two to five training seeds, while one arm's
seed-to-seed spread is of the same size. So every verdict follows the same rules:

1. **Paired per-seed differences.** Treatment and control share seed i; d_i = t_i - c_i, the
   effect is mean(d), its standard error std(d) / sqrt(n) with n - 1 degrees of freedom.
2. **A floor from the setting's own seed noise.** Two or three seeds estimate a standard error
   poorly (identical differences give se = 0). The se is never smaller than the floor implied
   by the seed noise *of the setting being judged* (`Noise`: one arm of the same network,
   data, recipe and precision, measured once over its own seeds and cached with its runs):
   noise.std * sqrt(2 / n) for a difference of n paired seeds (unpaired: sqrt(1/n_t + 1/n_c)).
   `compare` takes only a `Noise`, never a bare number, so a noise cannot be borrowed by
   accident from another setting or machine.
3. **Student's t, not z.** The critical value is the two-sided 95% quantile of Student's t at
   the degrees of freedom of the se that was used: the floor's (its seeds - 1) when the floor
   is the larger, else the sample's (n - 1; Welch-Satterthwaite when unpaired). The effect is
   *inconclusive* when |mean| <= t * se; otherwise *held* if it goes the claimed way (and
   reaches `min_effect`, else *partly*), *did not hold* if it goes the other way.
4. **Equivalence is tested, not assumed** (`equivalence`). "A is within noise of B" and "A is
   no better than B" are judged by two one-sided tests (Schuirmann 1987) against a margin
   stated before the runs: *held* if the 90% interval of the difference lies inside
   (-margin, +margin), *did not hold* if it lies wholly beyond one side, otherwise
   *inconclusive*. An effect that is merely not significant never makes an equivalence hold.
5. **A claim with parts names its main part** (`combine`): if the main part did not hold, the
   claim did not hold, whatever the side parts did; if it is inconclusive, so is the claim;
   if it held, the claim holds when every side part held, else partly. The result says which
   part decided.
6. **Tests on images leave the seed out.** McNemar's test and the paired bootstrap compare
   two trained models on the same images; their p-value knows nothing of how differently a
   second training seed would have come out. With one model per arm the verdict says so, and
   the effect must also clear the setting's seed-noise floor (noise.std * sqrt(2), at the
   floor's degrees of freedom) to count as held or did not hold.
7. **Every verdict prints its evidence**: the effect, its se, the degrees of freedom, the
   critical value, the threshold, n and the rule. A verdict from an exact computation says
   "no sampling noise" instead.

Numbers are printed at the precision that decides them: a mean next to its threshold gets as
many decimals as it takes to print them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

HELD, PARTLY, DID_NOT_HOLD, INCONCLUSIVE = "held", "partly", "did not hold", "inconclusive"
VERDICTS = (HELD, PARTLY, DID_NOT_HOLD, INCONCLUSIVE)
ALPHA = 0.05


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
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")


def _check_noise(noise) -> None:
    if noise is not None and not isinstance(noise, Noise):
        raise ValueError(f"noise must be a kd.Noise measured for the setting being judged "
                         f"(kd.Noise.of(runs) or a study's noise(profile)), not {noise!r}: a bare "
                         f"number cannot say which setting it was measured on")


def _decimals(scales: Sequence[tuple[float, int]], pairs: Sequence[tuple[float, float]],
              most: int = 12) -> int:
    """Decimals to print with: at least 2; enough for `digits` significant digits of each
    (value, digits) in `scales` (up to 6 decimals); and enough that every pair (x, y) of
    unequal numbers the rule compares also prints unequal (up to `most` decimals)."""
    least = 2
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


def critical_value(df: float, alpha: float = ALPHA, sides: int = 2) -> float:
    """Student's t quantile: two-sided (1 - alpha/2) or one-sided (1 - alpha) at `df` degrees
    of freedom (t at 1, 2, 4 df, two-sided 95%: 12.706, 4.303, 2.776)."""
    _check_alpha(alpha)
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    from scipy import stats          # here, not at import: 1.3 s of every process that imports kd
    return float(stats.t.ppf(1 - alpha / sides, df))


# ---------------------------------------------------------------- the seed noise of a setting

@dataclass(frozen=True)
class Noise:
    """The seed-to-seed noise of one setting: the sample std of one arm's value (final-epoch
    accuracy, say) over `n` seeds of the same network, data, recipe and precision.
    `setting` says which (it is printed in every verdict that uses it); `keys` are the run
    keys it was measured on, so that a test can check a notebook's noise comes from its own
    setting's runs."""
    std: float
    n: int
    setting: str
    values: tuple[float, ...] = ()
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.n, int) and self.n >= 2):
            raise ValueError(f"Noise needs n >= 2 seeds (a std of one seed is undefined), got n={self.n!r}")
        if not (isinstance(self.std, (int, float)) and math.isfinite(self.std) and self.std >= 0):
            raise ValueError(f"Noise.std must be a finite number >= 0, got {self.std!r}")
        if not self.setting:
            raise ValueError("Noise.setting must say which setting the noise was measured on")

    @property
    def df(self) -> int:
        return self.n - 1

    @classmethod
    def of(cls, values: Sequence[float], setting: str, keys: Sequence[str] = ()) -> "Noise":
        """The noise of `values` (one per seed) measured on `setting`."""
        arr = _finite("values", values)
        if arr.size < 2:
            raise ValueError(f"Noise.of needs at least 2 seeds' values, got {arr.size}")
        return cls(float(np.std(arr, ddof=1)), int(arr.size), setting, tuple(float(v) for v in arr), tuple(keys))

    def scaled(self, factor: float, what: str) -> "Noise":
        """The noise of `factor` times the measured quantity, e.g. sqrt(2) for a difference of
        two independent runs of this setting (a KD gain); `what` says so in the setting."""
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor must be a finite number > 0, got {factor!r}")
        return Noise(self.std * factor, self.n, f"{what}: {factor:.4g} x {self.setting}", self.values, self.keys)

    def floor(self, n_t: int, n_c: int | None = None) -> float:
        """The se floor of a difference of n_t (paired) or n_t vs n_c (unpaired) seeds."""
        return self.std * (math.sqrt(2 / n_t) if n_c is None else math.sqrt(1 / n_t + 1 / n_c))

    def __str__(self) -> str:
        return f"{self.setting}: seed std {self.std:.3f} (n={self.n}, df {self.df})"


# ---------------------------------------------------------------- seeds: compare two arms

@dataclass(frozen=True)
class Comparison:
    """Treatment vs. control over seeds, judged by the protocol in this module's docstring.

    `differences` are the per-seed differences (empty when unpaired); `mean` is the mean
    difference and `se` its standard error (None when it cannot be estimated), with `df`
    degrees of freedom and `se_source` "sample" or "floor"; `critical` is Student's t at `df`
    and `threshold` = critical * se the smallest |mean| told apart from noise (for an
    equivalence test: `interval` is the (1 - 2 alpha) interval and `margin` the margin).
    `evidence` is one line with the numbers; `rule` the rule as a sentence."""
    name: str
    unit: str
    test: str
    paired: bool
    direction: int
    min_effect: float
    alpha: float
    n: int
    n_control: int
    treatment_mean: float
    control_mean: float
    differences: tuple[float, ...]
    mean: float
    se: float | None
    df: float | None
    se_source: str
    critical: float | None
    wins: int
    losses: int
    trials: int
    verdict: str
    rule: str
    evidence: str
    noise: Noise | None = None
    margin: float | None = None
    interval: tuple[float, float] | None = None

    @property
    def threshold(self) -> float | None:
        """critical * se: the smallest |mean| that is told apart from noise."""
        return None if self.se is None or self.critical is None else self.critical * self.se

    def effect(self) -> dict:
        """The numbers that decided, as the result file and the scoreboard keep them."""
        out = {"test": self.test, "mean": self.mean, "se": self.se, "df": self.df,
               "critical": self.critical, "threshold": self.threshold, "n": self.n, "unit": self.unit}
        if not self.paired:
            out["n_control"] = self.n_control
        if self.margin is not None:
            out["margin"], out["interval"] = self.margin, self.interval
        return out

    def __str__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return f"{head}{self.verdict.upper()} - {self.evidence}\n    rule: {self.rule}"


def _welch_df(t: np.ndarray, c: np.ndarray) -> float:
    vt, vc = np.var(t, ddof=1) / len(t), np.var(c, ddof=1) / len(c)
    if vt + vc == 0:
        return float(len(t) + len(c) - 2)
    return float((vt + vc) ** 2 / (vt ** 2 / (len(t) - 1) + vc ** 2 / (len(c) - 1)))


def _standard_error(t: np.ndarray, c: np.ndarray, paired: bool, noise: Noise | None,
                    noise_control: Noise | None = None) -> tuple[float | None, float | None, str, str]:
    """(se, df, source "sample" | "floor" | "", how it was computed). Unpaired arms of two
    settings: the floor sqrt(s_t^2/n_t + s_c^2/n_c) from each arm's own noise, with the
    Welch-Satterthwaite df of the two noises' degrees of freedom."""
    if noise_control is not None and not paired:
        a, b = noise.std ** 2 / len(t), noise_control.std ** 2 / len(c)
        floor = math.sqrt(a + b)
        floor_df = (a + b) ** 2 / (a ** 2 / noise.df + b ** 2 / noise_control.df) if a + b > 0 else float(noise.df)
        both = len(t) >= 2 and len(c) >= 2
        sample = float(math.sqrt(np.var(t, ddof=1) / len(t) + np.var(c, ddof=1) / len(c))) if both else None
        if sample is not None and sample > floor:
            return sample, _welch_df(t, c), "sample", f"Welch {sample:.4g} > floor {floor:.4g}"
        return floor, float(floor_df), "floor", (f"floor sqrt({noise.std:.4g}^2/{len(t)} + {noise_control.std:.4g}^2/"
                                                 f"{len(c)}) = {floor:.4g}" + (f" >= Welch {sample:.4g}" if sample else ""))
    if paired:
        n = len(t)
        sample = float(np.std(t - c, ddof=1) / math.sqrt(n)) if n >= 2 else None
        sample_df, sample_how = n - 1, "std(d)/sqrt(n)"
        floor = None if noise is None else noise.floor(n)
        floor_how = f"noise {noise.std:.4g} x sqrt(2/{n})" if noise else ""
    else:
        both = len(t) >= 2 and len(c) >= 2
        sample = (float(math.sqrt(np.var(t, ddof=1) / len(t) + np.var(c, ddof=1) / len(c)))
                  if both else None)
        sample_df, sample_how = (_welch_df(t, c) if both else None), "Welch"
        floor = None if noise is None else noise.floor(len(t), len(c))
        floor_how = f"noise {noise.std:.4g} x sqrt(1/{len(t)}+1/{len(c)})" if noise else ""
    if floor is None and sample is None:
        return None, None, "", ""
    if floor is None or (sample is not None and sample > floor):
        extra = f" > floor {floor:.4g}" if floor is not None else ""
        return sample, float(sample_df), "sample", f"{sample_how} {sample:.4g}{extra}"
    extra = f" >= {sample_how} {sample:.4g}" if sample is not None else ""
    return floor, float(noise.df), "floor", f"floor {floor_how} = {floor:.4g}{extra}"


def _difference(t: np.ndarray, c: np.ndarray, paired: bool) -> tuple[np.ndarray, float]:
    """The per-seed differences (paired; empty otherwise) and the effect: their mean, or the
    difference of the arms' means."""
    if paired and len(t) != len(c):
        raise ValueError(f"a paired comparison needs one control per treatment seed: "
                         f"len(treatment)={len(t)}, len(control)={len(c)} (or pass paired=False)")
    diffs = t - c if paired else np.array([])
    return diffs, float(np.mean(diffs)) if paired else float(np.mean(t) - np.mean(c))


def _df_text(df: float) -> str:
    return f"{df:g}" if float(df).is_integer() else f"{df:.1f}"


def compare(treatment: Sequence[float], control: Sequence[float], *, noise: Noise | None = None,
            paired: bool = True, direction: int = +1, min_effect: float = 0.0, alpha: float = ALPHA,
            name: str = "", unit: str = "points", noise_control: Noise | None = None) -> Comparison:
    """Judge "treatment is {higher, lower} than control (by >= min_effect)" over seeds, by
    rules 1-3 of the protocol: paired differences (or Welch when `paired=False`), the se
    floored by `noise` (the judged setting's measured seed noise), Student's t at the df of
    the se used, two-sided at `alpha`. |mean| <= t*se -> "inconclusive"; else "held" if
    direction*mean >= min_effect, "partly" if it is positive but smaller, "did not hold" if
    it is negative. One seed and no noise: no se, "inconclusive"."""
    t, c = _finite("treatment", treatment), _finite("control", control)
    _check_direction(direction)
    _check_alpha(alpha)
    _check_noise(noise)
    _check_noise(noise_control)
    if noise_control is not None and (paired or noise is None):
        raise ValueError("noise_control (the control arm's own setting noise) is for unpaired arms of two "
                         "settings: give paired=False and the treatment's noise too")
    if not (isinstance(min_effect, (int, float)) and math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"min_effect must be a finite number >= 0, got {min_effect!r}")

    diffs, mean = _difference(t, c, paired)
    se, df, source, how = _standard_error(t, c, paired, noise, noise_control)
    crit = critical_value(df, alpha) if se is not None else None
    cross = direction * (diffs if paired else (t[:, None] - c[None, :]).ravel())
    wins, losses = int(np.sum(cross > 0)), int(np.sum(cross < 0))

    e = direction * mean
    threshold = None if se is None else crit * se
    if se is None or abs(mean) <= threshold:
        verdict = INCONCLUSIVE
    elif e > 0:
        verdict = HELD if e >= min_effect else PARTLY
    else:
        verdict = DID_NOT_HOLD

    pairs = ([] if se is None else [(abs(mean), threshold)]) + ([(e, min_effect)] if min_effect else [])
    dec = _decimals([(mean, 3), (se or 0.0, 2)], pairs)
    u, f = _unit(unit), (lambda x: f"{x:.{dec}f}")
    how_n = (f"n={len(t)} paired seed{'s' * (len(t) > 1)}" if paired
             else f"n={len(t)} vs {len(c)} seeds, unpaired")
    parts = [f"treatment {f(float(np.mean(t)))} vs control {f(float(np.mean(c)))}{u}"]
    if se is None:
        parts.append(f"effect {mean:+.{dec}f}{u} ({how_n}; no se: one seed and no measured noise)")
    else:
        parts.append(f"effect {mean:+.{dec}f} ± {f(se)}{u} (se, {how}; df {_df_text(df)}, "
                     f"t = {crit:.3f} -> threshold {f(threshold)}; {how_n})")
    if paired and len(diffs) > 1:
        parts.append("per seed " + ", ".join(f"{d:+.{dec}f}" for d in diffs))
    if noise is not None:
        parts.append(f"noise: {noise}" + (f"; control's noise: {noise_control}" if noise_control else ""))
    if se is None:
        parts.append(f"-> {verdict}")
    else:
        cmp = "<=" if abs(mean) <= threshold else ">"
        test = f"|effect| {f(abs(mean))} {cmp} {f(threshold)}"
        if verdict == HELD:
            test += f"; {_side(direction)} as claimed" + (f", reaches {f(min_effect)}" if min_effect else "")
        elif verdict == PARTLY:
            test += f"; {_side(direction)} as claimed but below {f(min_effect)}"
        elif verdict == DID_NOT_HOLD:
            test += f"; {_side(-direction)}, against the claim"
        parts.append(f"{test} -> {verdict}")
    return Comparison(
        name=name, unit=unit, test="paired t" if paired else "Welch t", paired=paired,
        direction=direction, min_effect=float(min_effect), alpha=float(alpha), n=len(t),
        n_control=len(c), treatment_mean=float(np.mean(t)), control_mean=float(np.mean(c)),
        differences=tuple(float(d) for d in diffs), mean=mean, se=se, df=df, se_source=source,
        critical=crit, wins=wins, losses=losses, trials=len(cross), verdict=verdict,
        rule=_rule(direction, min_effect, alpha, se, len(t), unit, dec), evidence="; ".join(parts),
        noise=noise)


def _rule(direction: int, min_effect: float, alpha: float, se: float | None, n: int, unit: str,
          dec: int) -> str:
    u = _unit(unit)
    if se is None:
        return (f"inconclusive: with {n} seed and no measured seed noise there is no standard error, so "
                f"the difference cannot be told from seed noise (run more seeds or give the setting's noise)")
    side, other = _side(direction), _side(-direction)
    bar = (f"held if treatment is {side} than control by >= {min_effect:.{dec}f}{u}, partly if {side} "
           f"by less, did not hold if it is {other}" if min_effect > 0 else
           f"held if treatment is {side} than control, did not hold if it is {other}")
    return (f"kd.verdicts protocol: se = max(paired sample se, the setting's seed-noise floor), Student's t at "
            f"the df of the se used, two-sided {100 * (1 - alpha):g}%; inconclusive if |effect| <= t*se; "
            f"otherwise {bar}")


def equivalence(treatment: Sequence[float], control: Sequence[float], *, margin: float,
                noise: Noise | None = None, paired: bool = True, alpha: float = ALPHA,
                name: str = "", unit: str = "points") -> Comparison:
    """Judge "treatment is equivalent to control within +-margin" by two one-sided tests
    (Schuirmann 1987): the se as in `compare`, t the one-sided (1 - alpha) quantile at its df;
    "held" if mean -+ t*se lies inside (-margin, +margin), "did not hold" if it lies wholly
    above +margin or below -margin, "inconclusive" otherwise (too few seeds to tell). State
    the margin before the runs."""
    t, c = _finite("treatment", treatment), _finite("control", control)
    _check_alpha(alpha)
    _check_noise(noise)
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number > 0 (stated before the runs), got {margin!r}")
    diffs, mean = _difference(t, c, paired)
    se, df, source, how = _standard_error(t, c, paired, noise)
    crit = critical_value(df, alpha, sides=1) if se is not None else None
    interval = None if se is None else (mean - crit * se, mean + crit * se)
    if interval is None:
        verdict = INCONCLUSIVE
    elif -margin < interval[0] and interval[1] < margin:
        verdict = HELD
    elif interval[0] > margin or interval[1] < -margin:
        verdict = DID_NOT_HOLD
    else:
        verdict = INCONCLUSIVE
    dec = _decimals([(mean, 3), (se or 0.0, 2)],
                    [] if interval is None else [(abs(interval[0]), margin), (abs(interval[1]), margin)])
    u, f = _unit(unit), (lambda x: f"{x:.{dec}f}")
    level = f"{100 * (1 - 2 * alpha):g}%"
    how_n = f"n={len(t)} paired seeds" if paired else f"n={len(t)} vs {len(c)} seeds, unpaired"
    if se is None:
        evidence = f"effect {mean:+.{dec}f}{u} ({how_n}); no se: one seed and no measured noise -> {verdict}"
    else:
        evidence = (f"treatment {f(float(np.mean(t)))} vs control {f(float(np.mean(c)))}{u}; effect "
                    f"{mean:+.{dec}f} ± {f(se)}{u} (se, {how}; df {_df_text(df)}, one-sided t = {crit:.3f}; "
                    f"{how_n}); {level} interval [{interval[0]:+.{dec}f}, {interval[1]:+.{dec}f}] against the "
                    f"margin ±{f(margin)}" + (f"; noise: {noise}" if noise else "") + f" -> {verdict}")
    rule = (f"kd.verdicts protocol, equivalence by two one-sided tests at alpha {alpha:g}: held if the {level} "
            f"interval of the effect lies inside ±{margin:g}{u} (the margin stated before the runs), did not "
            f"hold if it lies wholly beyond it, inconclusive otherwise")
    cross = diffs if paired else (t[:, None] - c[None, :]).ravel()
    return Comparison(
        name=name, unit=unit, test="equivalence (TOST)", paired=paired, direction=1, min_effect=0.0,
        alpha=float(alpha), n=len(t), n_control=len(c), treatment_mean=float(np.mean(t)),
        control_mean=float(np.mean(c)), differences=tuple(float(d) for d in diffs), mean=mean, se=se,
        df=df, se_source=source, critical=crit, wins=int(np.sum(np.abs(cross) < margin)), losses=0,
        trials=len(cross), verdict=verdict, rule=rule, evidence=evidence, noise=noise,
        margin=float(margin), interval=interval)


# ---------------------------------------------------------------- images: paired tests

@dataclass(frozen=True)
class PairedTest:
    """A paired test of model A vs. model B on the same test images.

    `difference` is A minus B: accuracy points for McNemar, the statistic of the per-image
    differences for the bootstrap. McNemar fills `p_value` and the discordant counts `b` (A right,
    B wrong) and `c` (A wrong, B right); the bootstrap fills `ci`. With a `noise`, the effect
    must also clear `floor` = t(noise.df) * noise.std * sqrt(2) (one trained model per arm)."""
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
    noise: Noise | None = None
    floor: float | None = None
    models_per_arm: int = 1

    def effect(self) -> dict:
        out = {"test": self.test, "mean": self.difference, "n": self.n, "unit": self.unit,
               "p_value": self.p_value, "ci": self.ci, "models_per_arm": self.models_per_arm}
        if self.noise is not None:
            out.update(se=self.noise.std * math.sqrt(2 / self.models_per_arm), df=self.noise.df,
                       critical=critical_value(self.noise.df, self.alpha), threshold=self.floor)
        return out

    def __str__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return f"{head}{self.verdict.upper()} - {self.evidence}\n    rule: {self.rule}"


def _seed_floor(noise: Noise | None, alpha: float, models_per_arm: int) -> tuple[float | None, str]:
    if noise is None:
        return None, ("the two arms are not separately trained (no training seed enters; a test over the "
                      "images alone, no df of seeds)"
                      if models_per_arm == 0 else
                      f"{models_per_arm} trained model(s) per arm and no seed noise given: the training "
                      f"seed's noise is left out of this test (no df of seeds)")
    se = noise.std * math.sqrt(2 / models_per_arm)
    crit = critical_value(noise.df, alpha)
    floor = crit * se
    return floor, (f"{models_per_arm} trained model(s) per arm: the p-value leaves the training seed's noise "
                   f"out, so the effect must also clear the seed-noise floor t{noise.df} x {noise.std:.3g} x "
                   f"sqrt(2/{models_per_arm}) = {floor:.3g} (df {noise.df}, critical value {crit:.3g}; "
                   f"{noise.setting})")


def _signed(sign: int, direction: int) -> str:
    return HELD if sign == direction else DID_NOT_HOLD


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


def mcnemar(correct_a, correct_b, *, noise: Noise | None = None, models_per_arm: int = 1,
            alpha: float = ALPHA, direction: int = +1, name: str = "") -> PairedTest:
    """McNemar's exact test (McNemar 1947) of "A is {more, less} accurate than B" on the same
    images: b = A right & B wrong, c = A wrong & B right, b ~ Binomial(b + c, 1/2) under "equally
    accurate". Verdict: p >= alpha -> "inconclusive"; with `noise` (the setting's seed noise,
    rule 6), |accuracy difference| <= its floor -> "inconclusive"; else "held" if the sign of
    accuracy(A) - accuracy(B) matches `direction`, "did not hold" otherwise. `models_per_arm`:
    how many trained models' images are pooled in each arm (0: not trained models at all)."""
    a, bb = _flags("correct_a", correct_a), _flags("correct_b", correct_b)
    if len(a) != len(bb):
        raise ValueError(f"correct_a and correct_b must cover the same images: "
                         f"len(correct_a)={len(a)}, len(correct_b)={len(bb)}")
    _check_direction(direction)
    _check_alpha(alpha)
    _check_noise(noise)
    n = len(a)
    b, c = int(np.sum(a & ~bb)), int(np.sum(~a & bb))
    acc_a, acc_b = 100 * float(np.mean(a)), 100 * float(np.mean(bb))
    diff = 100 * (b - c) / n
    p = binomial_two_sided(b, c)
    floor, floor_text = _seed_floor(noise, alpha, models_per_arm)
    if p >= alpha or (floor is not None and abs(diff) <= floor):
        verdict = INCONCLUSIVE
    else:
        verdict = _signed(1 if b > c else -1, direction)
    dec = _decimals([(diff, 3)], [(diff, 0.0)] + ([(abs(diff), floor)] if floor is not None else []))
    rule = (f"McNemar exact test on the discordant images: inconclusive if p >= alpha = {alpha:g}"
            + (" or the effect is within the seed-noise floor" if floor is not None else "")
            + f"; otherwise held if A is {_more(direction)} accurate than B, did not hold if it is "
              f"{_more(-direction)} accurate")
    evidence = (f"A {acc_a:.{dec}f}% vs B {acc_b:.{dec}f}% on {n} paired images: effect {diff:+.{dec}f} points; "
                f"discordant b={b} (A right, B wrong), c={c} (A wrong, B right); p={_sig(p, alpha)} "
                f"{'>=' if p >= alpha else '<'} alpha {alpha:g}; {floor_text} -> {verdict}")
    return PairedTest(test="McNemar exact", name=name, unit="points", n=n, value_a=acc_a,
                      value_b=acc_b, difference=diff, p_value=p, ci=None, b=b, c=c, alpha=alpha,
                      direction=direction, verdict=verdict, rule=rule, evidence=evidence, noise=noise,
                      floor=floor, models_per_arm=models_per_arm)


_STATISTICS: dict[str, Callable[..., np.ndarray]] = {"mean": np.mean, "median": np.median}


def paired_bootstrap(values_a, values_b, *, noise: Noise | None = None, models_per_arm: int = 1,
                     statistic: str = "mean", n_boot: int = 2000, seed: int = 0, alpha: float = ALPHA,
                     direction: int = +1, name: str = "", unit: str = "") -> PairedTest:
    """Percentile bootstrap (Efron 1979) of a statistic of per-image differences a_i - b_i:
    images resampled with replacement `n_boot` times (numpy generator seeded by `seed`), the
    (alpha/2, 1 - alpha/2) quantiles give the interval. Verdict: the interval contains 0 ->
    "inconclusive"; with `noise` (the seed noise of this statistic in its setting, rule 6),
    |estimate| within its floor -> "inconclusive"; else "held" if the interval lies on the
    `direction` side of 0, "did not hold" otherwise."""
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
    _check_noise(noise)
    stat, d, n = _STATISTICS[statistic], a - b, len(a)
    estimate = float(stat(d))
    rng = np.random.default_rng(seed)
    rows = max(1, 2_000_000 // n)  # resample in chunks of ~2M indices to bound memory
    boots = np.concatenate([stat(d[rng.integers(0, n, size=(min(rows, n_boot - i), n))], axis=1)
                            for i in range(0, n_boot, rows)])
    lo, hi = (float(q) for q in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    floor, floor_text = _seed_floor(noise, alpha, models_per_arm)
    if lo <= 0 <= hi or (floor is not None and abs(estimate) <= floor):
        verdict = INCONCLUSIVE
    else:
        verdict = _signed(1 if lo > 0 else -1, direction)
    dec = _decimals([(max(abs(estimate), abs(lo), abs(hi)), 3)], [(lo, 0.0), (hi, 0.0)])
    u, level = _unit(unit), f"{100 * (1 - alpha):g}%"
    rule = (f"paired percentile bootstrap ({n_boot} resamples of the images, seed {seed}): inconclusive if "
            f"the {level} interval of the {statistic} difference A - B contains 0"
            + (" or the estimate is within the seed-noise floor" if floor is not None else "")
            + f"; otherwise held if it lies {'above' if direction > 0 else 'below'} 0, did not hold "
              f"if it lies {'below' if direction > 0 else 'above'} 0")
    evidence = (f"A {float(stat(a)):.{dec}f} vs B {float(stat(b)):.{dec}f}{u} on {n} paired images: "
                f"{statistic} effect {estimate:+.{dec}f}{u}, {level} CI [{lo:+.{dec}f}, {hi:+.{dec}f}] "
                f"({n_boot} resamples, seed {seed}); {floor_text} -> {verdict}")
    return PairedTest(test=f"paired bootstrap ({statistic})", name=name, unit=unit, n=n,
                      value_a=float(stat(a)), value_b=float(stat(b)), difference=estimate,
                      p_value=None, ci=(lo, hi), b=None, c=None, alpha=alpha, direction=direction,
                      verdict=verdict, rule=rule, evidence=evidence, noise=noise, floor=floor,
                      models_per_arm=models_per_arm)


# ---------------------------------------------------------------- exact computations

@dataclass(frozen=True)
class Exact:
    """A verdict from an exact computation (a closed form, a count over a whole grid, a
    deterministic rule): no sampling noise enters, and `note` says so ("no sampling noise").
    A bar applied to measured numbers that no test can judge (one seed of each of several
    networks) is recorded the same way, its `note` saying what the verdict leaves out. `mean`
    is the quantity that decided, printed as the headline."""
    verdict: str
    evidence: str
    rule: str
    mean: float | None = None
    unit: str = ""
    name: str = ""
    note: str = "no sampling noise"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not allowed; allowed: {', '.join(VERDICTS)}")

    def effect(self) -> dict:
        return {"test": f"exact ({self.note})", "mean": self.mean, "unit": self.unit}

    def __str__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return f"{head}{self.verdict.upper()} - {self.evidence} ({self.note})\n    rule: {self.rule}"


# ---------------------------------------------------------------- one claim, several parts

@dataclass(frozen=True)
class Combined:
    """The verdict of a claim made of parts, and which part decided it (rule 5)."""
    verdict: str
    decided_by: str
    main: str | None
    parts: tuple[tuple[str, str], ...]
    rule: str

    def __str__(self) -> str:
        listed = "; ".join(f"{name}{' (main)' if name == self.main else ''}: {v}" for name, v in self.parts)
        return f"{self.verdict} (decided by {self.decided_by}) - {listed}"


def _verdict_of(part) -> str:
    return part if isinstance(part, str) else part.verdict


def combine(parts: Mapping[str, object] | Sequence[object], main: str | None = None) -> Combined:
    """One verdict for a claim made of parts: `parts` maps each part's name to its verdict
    (or to anything with a `.verdict`: a Comparison, a PairedTest, another Combined).

    With a `main` part (rule 5): main did not hold -> did not hold; main inconclusive ->
    inconclusive; main partly -> partly; main held -> held if every side part held, else
    partly (decided by the first side part that fell short). Without one, all parts weigh
    the same ("A and B both beat the baseline"): their verdict when they agree; otherwise
    partly if any held or partly held, else did not hold (one went against the claim, the
    rest inconclusive)."""
    items = list(parts.items()) if isinstance(parts, Mapping) else [(f"part {i + 1}", p) for i, p in enumerate(parts)]
    named = tuple((str(name), _verdict_of(p)) for name, p in items)
    bad = [v for _, v in named if v not in VERDICTS]
    if not named or bad:
        raise ValueError(f"parts must be a non-empty collection of verdicts {VERDICTS}, got {list(named)!r}")
    verdicts = dict(named)
    if main is not None:
        if main not in verdicts:
            raise ValueError(f"main={main!r} is not one of the parts: {', '.join(verdicts)}")
        m = verdicts[main]
        sides = [(n, v) for n, v in named if n != main]
        short = next(((n, v) for n, v in sides if v != HELD), None)
        if m != HELD or short is None:
            verdict, decided = m, main
        else:
            verdict, decided = PARTLY, short[0]
        rule = (f"the main part ({main}) decides: did not hold or inconclusive there makes the claim so; "
                f"held there and in every side part makes it held, else partly")
        return Combined(verdict, decided, main, named, rule)
    values = [v for _, v in named]
    if len(set(values)) == 1:
        verdict, decided = values[0], "all parts"
    elif any(v in (HELD, PARTLY) for v in values):
        verdict = PARTLY
        decided = next(n for n, v in named if v not in (HELD, PARTLY))
    else:
        verdict = DID_NOT_HOLD
        decided = next(n for n, v in named if v == DID_NOT_HOLD)
    rule = ("parts of equal weight: their verdict when they agree; otherwise partly if any held, else did "
            "not hold")
    return Combined(verdict, decided, None, named, rule)
