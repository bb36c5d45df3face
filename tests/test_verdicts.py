"""kd.verdicts: the protocol (paired t with the setting's noise floor, Student's t, equivalence by TOST,
the main part deciding), McNemar's exact test and the paired bootstrap with the seed floor."""
import dataclasses
import math
import re

import numpy as np
import pytest

from kd.results import VERDICTS, Report
from kd.verdicts import (Comparison, Noise, binomial_two_sided, combine, compare, critical_value, equivalence,
                         mcnemar, paired_bootstrap)

WIN_T, WIN_C = [91.0, 91.2, 90.9], [90.0, 90.1, 89.9]  # d = 1.0, 1.1, 1.0
T2 = 4.302652729911275          # Student's t, two-sided 95%, 2 df


def noise(std, n=5, setting="test setting"):
    return Noise(std, n, setting)


# ---------------------------------------------------------------- Student's t

@pytest.mark.parametrize("df, t", [(1, 12.706204736174698), (2, 4.302652729911275), (4, 2.7764451051977987),
                                   (1e9, 1.959963986912325)])
def test_critical_values_are_students_t(df, t):
    assert critical_value(df) == pytest.approx(t, rel=1e-9)


def test_one_sided_critical_value_at_4_df():
    assert critical_value(4, sides=1) == pytest.approx(2.131846786326649, rel=1e-12)


# ---------------------------------------------------------------- compare over seeds

def test_clear_win_is_held_with_closed_form_mean_se_and_t():
    r = compare(WIN_T, WIN_C)
    assert r.verdict == "held"
    assert r.differences == pytest.approx((1.0, 1.1, 1.0))
    assert r.mean == pytest.approx(31 / 30)           # (1.0 + 1.1 + 1.0) / 3
    assert r.se == pytest.approx(1 / 30)              # sqrt(((1/30)^2*2 + (2/30)^2) / 2) / sqrt(3)
    assert (r.df, r.se_source) == (2, "sample")
    assert r.critical == pytest.approx(T2)
    assert r.threshold == pytest.approx(T2 / 30)
    assert (r.n, r.wins, r.losses, r.trials) == (3, 3, 0, 3)
    assert "+1.033" in r.evidence and "df 2" in r.evidence and "t = 4.303" in r.evidence
    assert "threshold 0.143" in r.evidence and "per seed +1.000, +1.100, +1.000" in r.evidence


def test_clear_loss_did_not_hold():
    r = compare([89.0, 89.2, 88.9], WIN_C)              # d = -1.0, -0.9, -1.0
    assert r.verdict == "did not hold"
    assert r.mean == pytest.approx(-29 / 30)
    assert (r.wins, r.losses) == (0, 3)


def test_t_not_z_makes_a_two_sigma_effect_inconclusive_at_2_df():
    r = compare([90.3, 90.3, 90.6], [90.0, 90.0, 90.0])  # d = 0.3, 0.3, 0.6: mean 0.4, se 0.1
    assert r.mean == pytest.approx(0.4) and r.se == pytest.approx(0.1)
    assert r.verdict == "inconclusive"                   # 0.4 > 2 se but <= 4.303 se


def test_the_floor_and_its_degrees_of_freedom_are_used_when_it_is_larger():
    r = compare(WIN_T, WIN_C, noise=noise(1.0, n=5))
    assert r.se == pytest.approx(math.sqrt(2 / 3))      # 1.0 * sqrt(2/n) > 1/30
    assert (r.df, r.se_source) == (4, "floor")          # the floor's 5 seeds - 1
    assert r.critical == pytest.approx(2.7764451051977987)
    assert r.verdict == "inconclusive"                  # 1.033 <= 2.776 * 0.816
    small = compare(WIN_T, WIN_C, noise=noise(0.01, n=5))    # the sample se is the larger one
    assert small.se == pytest.approx(1 / 30) and (small.df, small.se_source) == (2, "sample")
    assert "test setting: seed std 1.000 (n=5, df 4)" in r.evidence


def test_one_seed_needs_the_settings_noise():
    r = compare([91.0], [90.0])
    assert r.se is None and r.verdict == "inconclusive"
    assert "no standard error" in r.rule and "no se" in r.evidence
    r = compare([91.5], [90.0], noise=noise(0.3, n=5))
    assert r.se == pytest.approx(0.3 * math.sqrt(2)) and r.df == 4
    assert r.verdict == "held"                          # 1.5 > 2.776 * 0.424 = 1.18
    assert compare([91.5], [90.0], noise=noise(0.3, n=2)).verdict == "inconclusive"   # 12.7 * 0.424


def test_a_bare_number_is_not_a_noise():
    with pytest.raises(ValueError, match="kd.Noise measured for the setting"):
        compare(WIN_T, WIN_C, noise=0.5)
    with pytest.raises(TypeError):
        compare(WIN_T, WIN_C, noise_std=0.5)


def test_noise_of_values_is_their_sample_std_and_needs_two_seeds():
    n = Noise.of([75.18, 75.79, 74.50, 74.71, 74.68], "ResNet-8 alone", keys=("a", "b", "c", "d", "e"))
    assert n.std == pytest.approx(float(np.std([75.18, 75.79, 74.50, 74.71, 74.68], ddof=1)))
    assert (n.n, n.df, n.keys) == (5, 4, ("a", "b", "c", "d", "e"))
    assert n.floor(2) == pytest.approx(n.std) and n.floor(3, 2) == pytest.approx(n.std * math.sqrt(5 / 6))
    with pytest.raises(ValueError, match="at least 2"):
        Noise.of([75.0], "one seed")
    with pytest.raises(ValueError, match="setting"):
        Noise(0.5, 5, "")


def test_min_effect_gives_partly_and_the_bar_itself_holds():
    t, c = [1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5        # mean 3, se sqrt(2.5/5), t4 2.776: threshold 1.96
    assert compare(t, c, min_effect=3.0).verdict == "held"      # e >= min_effect, at the bar
    partly = compare(t, c, min_effect=3.5)
    assert partly.verdict == "partly" and "below 3.50" in partly.evidence


def test_direction_minus_one_flips_held_and_did_not_hold():
    lower = compare(WIN_T, WIN_C, direction=-1)
    assert lower.verdict == "did not hold" and (lower.wins, lower.losses) == (0, 3)
    assert "treatment is lower than control" in lower.rule
    claimed_lower = compare([89.0, 89.2, 88.9], WIN_C, direction=-1)
    assert claimed_lower.verdict == "held" and claimed_lower.wins == 3
    with pytest.raises(ValueError, match="direction"):
        compare(WIN_T, WIN_C, direction=0)


def test_unpaired_uses_welch_and_its_degrees_of_freedom():
    r = compare([1.0, 2.0, 3.0], [0.0, 2.0], paired=False)
    assert r.mean == pytest.approx(1.0)
    assert r.se == pytest.approx(math.sqrt(1 / 3 + 2 / 2))      # s_t^2 = 1, s_c^2 = 2
    vt, vc = 1 / 3, 2 / 2
    assert r.df == pytest.approx((vt + vc) ** 2 / (vt ** 2 / 2 + vc ** 2 / 1))   # Welch-Satterthwaite
    assert (r.wins, r.losses, r.trials) == (4, 1, 6)
    assert r.differences == () and r.verdict == "inconclusive"
    noisy = compare([1.0, 2.0, 3.0], [0.0, 2.0], paired=False, noise=noise(2.0, n=5))
    assert noisy.se == pytest.approx(2.0 * math.sqrt(1 / 3 + 1 / 2)) and noisy.df == 4


def test_printing_keeps_the_decision_visible():
    r = compare([90.25, 90.33, 90.31, 90.29, 90.30], [90.0] * 5, min_effect=0.3)  # mean 0.296
    assert r.verdict == "partly"
    printed_mean = float(re.search(r"effect ([+-][0-9.]+)", r.evidence).group(1))
    assert printed_mean < 0.3
    assert "+0.30 " not in r.evidence


def test_comparison_is_frozen_and_reports_its_effect():
    r = compare(WIN_T, WIN_C, name="KD beats the plain student")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.verdict = "partly"
    assert str(r).startswith("KD beats the plain student: HELD - ")
    assert isinstance(r, Comparison)
    assert VERDICTS == ("held", "partly", "did not hold", "inconclusive")
    e = r.effect()
    assert e["df"] == 2 and e["critical"] == pytest.approx(T2) and e["threshold"] == pytest.approx(T2 / 30)
    report = Report("test", "smoke", "mnist")
    assert report.judge("c1", "one seed", compare([91.0], [90.0]))["verdict"] == "inconclusive"


@pytest.mark.parametrize("kwargs, match", [
    (dict(treatment=[1.0, float("nan")], control=[1.0, 1.0]), "treatment"),
    (dict(treatment=[1.0, 2.0], control=[1.0, float("inf")]), "control"),
    (dict(treatment=[], control=[]), "treatment is empty"),
    (dict(treatment=[1.0], control=[]), "control is empty"),
    (dict(treatment=[1.0, 2.0, 3.0], control=[1.0, 2.0]), r"len\(treatment\)=3, len\(control\)=2"),
    (dict(treatment=[1.0, 2.0], control=[1.0, 2.0], min_effect=-0.1), "min_effect"),
    (dict(treatment=[1.0, 2.0], control=[1.0, 2.0], alpha=1.5), "alpha"),
])
def test_compare_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(**kwargs)


# ---------------------------------------------------------------- equivalence

def test_equivalence_is_inconclusive_with_two_seeds_and_held_with_enough():
    n = noise(0.5, n=5)
    two = equivalence([77.6, 77.4], [77.5, 77.6], margin=1.0, noise=n)     # d = +0.1, -0.2
    assert two.se == pytest.approx(0.5) and two.df == 4           # the floor 0.5 x sqrt(2/2)
    assert two.verdict == "inconclusive"                           # -0.05 -+ 2.132 x 0.5 crosses ±1
    rng = np.random.default_rng(0)
    base = 77.5 + rng.normal(0, 0.5, 20)
    many = equivalence(base + rng.normal(0, 0.1, 20), base, margin=1.0, noise=n)
    assert many.se == pytest.approx(0.5 * math.sqrt(2 / 20))
    assert many.verdict == "held" and -1.0 < many.interval[0] < many.interval[1] < 1.0
    assert "margin ±1.00" in many.evidence and "two one-sided tests" in many.rule


def test_equivalence_did_not_hold_when_the_interval_lies_beyond_the_margin():
    far = equivalence([80.0, 80.1, 80.2, 79.9, 80.0], [77.0, 77.1, 77.0, 77.1, 77.0], margin=1.0,
                      noise=noise(0.3))
    assert far.verdict == "did not hold" and far.interval[0] > 1.0
    with pytest.raises(ValueError, match="margin"):
        equivalence([1.0, 2.0], [1.0, 2.0], margin=0)


# ---------------------------------------------------------------- combine

def test_a_main_part_that_did_not_hold_makes_the_claim_not_hold():
    c = combine({"more robust": "did not hold", "less accurate": "held"}, main="more robust")
    assert (c.verdict, c.decided_by) == ("did not hold", "more robust")
    c = combine({"more robust": "inconclusive", "less accurate": "held"}, main="more robust")
    assert (c.verdict, c.decided_by) == ("inconclusive", "more robust")
    c = combine({"more robust": "held", "less accurate": "inconclusive"}, main="more robust")
    assert (c.verdict, c.decided_by) == ("partly", "less accurate")
    c = combine({"more robust": "held", "less accurate": "held"}, main="more robust")
    assert (c.verdict, c.decided_by) == ("held", "more robust")
    with pytest.raises(ValueError, match="main='x' is not one of the parts"):
        combine({"a": "held"}, main="x")


def test_combine_parts_of_equal_weight():
    assert combine(["held", "held"]).verdict == "held"
    assert combine(["inconclusive", "inconclusive"]).verdict == "inconclusive"
    assert combine(["held", "inconclusive"]).verdict == "partly"
    assert combine(["did not hold", "partly"]).verdict == "partly"
    d = combine({"self": "did not hold", "reg": "inconclusive"})
    assert (d.verdict, d.decided_by) == ("did not hold", "self")
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError):
        combine(["held", "maybe"])


def test_report_combines_recorded_parts_and_keeps_the_deciders_effect():
    report = Report("test", "smoke", "mnist")
    robust = report.judge("Z6", "more robust", compare([1.0, 1.1], [3.0, 3.2], noise=noise(0.2)),
                          part="robustness", main=True, paper=1.84)
    accurate = report.judge("Z6", "less accurate", compare([80.0, 80.1], [82.0, 82.2], direction=-1,
                                                         noise=noise(0.2)), part="accuracy")
    whole = report.combine("Z6", "more robust, slightly less accurate", [robust, accurate], main="robustness")
    assert whole["verdict"] == "did not hold" and whole["decided_by"] == "robustness"
    assert whole["effect"] == robust["effect"] and whole["paper"] == 1.84 and "part" not in whole


# ---------------------------------------------------------------- McNemar

@pytest.mark.parametrize("b, c, p", [
    (0, 6, 2 * 0.5 ** 6),                 # 0.03125
    (1, 9, 2 * (1 + 10) / 2 ** 10),       # 0.021484375
    (8, 2, 2 * (1 + 10 + 45) / 2 ** 10),  # 0.109375
    (3, 3, 1.0),
    (0, 0, 1.0),
])
def test_binomial_two_sided_closed_form(b, c, p):
    assert binomial_two_sided(b, c) == pytest.approx(p, rel=1e-12)


def test_binomial_two_sided_large_counts():
    assert binomial_two_sided(5000, 5000) == 1.0
    assert 0.0 <= binomial_two_sided(0, 3000) < 1e-300
    assert binomial_two_sided(470, 530) == pytest.approx(binomial_two_sided(530, 470))


def test_mcnemar_counts_p_value_and_verdicts():
    a = [False] * 6 + [True] * 4          # A wrong on 6 images where B is right
    b = [True] * 10
    r = mcnemar(a, b)
    assert (r.b, r.c, r.n) == (0, 6, 10)
    assert r.p_value == pytest.approx(0.03125)
    assert r.difference == pytest.approx(-60.0)        # 40% - 100%
    assert r.verdict == "did not hold"
    assert mcnemar(a, b, direction=-1).verdict == "held"
    assert mcnemar(a, b, alpha=0.01).verdict == "inconclusive"
    assert "b=0" in r.evidence and "c=6" in r.evidence and "p=0.0312" in r.evidence


def test_mcnemar_balanced_and_identical_are_inconclusive():
    a = np.array([1, 1, 1, 0, 0, 0, 1, 1])
    b = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    r = mcnemar(a, b)
    assert (r.b, r.c, r.p_value, r.verdict) == (3, 3, 1.0, "inconclusive")
    same = np.random.default_rng(0).random(1000) < 0.9
    r = mcnemar(same, same)
    assert (r.b, r.c, r.p_value, r.difference, r.verdict) == (0, 0, 1.0, 0.0, "inconclusive")


@pytest.mark.parametrize("a, b, match", [
    ([True, False], [True], r"len\(correct_a\)=2, len\(correct_b\)=1"),
    ([], [], "correct_a is empty"),
    ([1, 2], [1, 0], "correct_a must hold booleans"),
    ([1.0, 0.0], [float("nan"), 1.0], "correct_b"),
])
def test_mcnemar_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        mcnemar(a, b)


# ---------------------------------------------------------------- paired bootstrap

def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    a, b = rng.random(300), rng.random(300)
    first, again = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first.ci == again.ci and first.evidence == again.evidence
    assert paired_bootstrap(a, b, seed=4).ci != first.ci
    assert first.difference == pytest.approx(float(np.mean(a - b)))
    lo, hi = first.ci
    assert lo < first.difference < hi


def test_bootstrap_large_shift_held_and_zero_shift_inconclusive():
    rng = np.random.default_rng(2)
    a = rng.normal(1.0, 1.0, 400)
    b = a - 0.5 + rng.normal(0.0, 0.1, 400)
    shifted = paired_bootstrap(a, b)
    assert shifted.verdict == "held" and shifted.ci[0] > 0.4 and shifted.ci[1] < 0.6
    assert paired_bootstrap(a, b, direction=-1).verdict == "did not hold"
    assert paired_bootstrap(a, a).verdict == "inconclusive"
    assert paired_bootstrap(a, a).ci == (0.0, 0.0)
    assert paired_bootstrap(a, a[::-1]).verdict == "inconclusive"
    constant = paired_bootstrap([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], statistic="median")
    assert constant.ci == pytest.approx((0.5, 0.5)) and constant.verdict == "held"


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="values_a"):
        paired_bootstrap([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"len\(values_a\)=2, len\(values_b\)=3"):
        paired_bootstrap([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="statistic"):
        paired_bootstrap([1.0, 2.0], [1.0, 2.0], statistic="mode")


def test_one_model_per_arm_must_also_clear_the_seed_floor():
    a = [True] * 60 + [False] * 40
    b = [True] * 40 + [False] * 60          # 20 points apart, p tiny
    assert mcnemar(a, b).verdict == "held" and "training seed's noise is left out" in mcnemar(a, b).evidence
    floored = mcnemar(a, b, noise=noise(10.0, n=3))            # floor t2 x 10 x sqrt 2 = 60.8
    assert floored.floor == pytest.approx(T2 * 10 * math.sqrt(2))
    assert floored.verdict == "inconclusive"
    assert mcnemar(a, b, noise=noise(1.0, n=5)).verdict == "held"       # floor 3.9 < 20
    boot = paired_bootstrap(np.ones(50) * 2.0, np.ones(50), noise=noise(1.0, n=5))
    assert boot.floor == pytest.approx(2.7764451051977987 * math.sqrt(2)) and boot.verdict == "inconclusive"


def test_unpaired_arms_of_two_settings_floor_with_each_noise_and_welch_df():
    reduced, full = Noise(2.0, 8, "reduced set"), Noise(0.5, 5, "full set")
    r = compare([5.0, 6.0, 4.0, 5.5, 5.2, 4.8, 5.1, 4.9], [1.0, 1.2, 1.1], paired=False, noise=reduced.scaled(2 ** 0.5, "gain"),
                noise_control=full.scaled(2 ** 0.5, "gain"))
    a, b = 8.0 / 8, 0.5 / 3                              # (2 sqrt 2)^2 / 8, (0.5 sqrt 2)^2 / 3
    assert r.se == pytest.approx(math.sqrt(a + b)) and r.se_source == "floor"
    assert r.df == pytest.approx((a + b) ** 2 / (a ** 2 / 7 + b ** 2 / 4))
    assert "gain: 1.414 x reduced set" in r.evidence
    with pytest.raises(ValueError, match="noise_control"):
        compare([1.0, 2.0], [1.0, 2.0], noise=full, noise_control=full)
