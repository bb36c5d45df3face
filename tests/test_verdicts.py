"""kd.verdicts: the noise-aware rule, its printing, McNemar's exact test and the paired bootstrap."""
import dataclasses
import math
import re

import numpy as np
import pytest

from kd.results import VERDICTS, Report
from kd.verdicts import Comparison, binomial_two_sided, compare, mcnemar, paired_bootstrap

WIN_T, WIN_C = [91.0, 91.2, 90.9], [90.0, 90.1, 89.9]  # d = 1.0, 1.1, 1.0


# ---------------------------------------------------------------- compare over seeds

def test_clear_win_is_held_with_closed_form_mean_and_se():
    r = compare(WIN_T, WIN_C)
    assert r.verdict == "held"
    assert r.differences == pytest.approx((1.0, 1.1, 1.0))
    assert r.mean == pytest.approx(31 / 30)           # (1.0 + 1.1 + 1.0) / 3
    assert r.se == pytest.approx(1 / 30)              # sqrt(((1/30)^2*2 + (2/30)^2) / 2) / sqrt(3)
    assert (r.n, r.wins, r.losses, r.trials) == (3, 3, 0, 3)
    assert r.threshold == pytest.approx(2 / 30)
    assert "+1.033" in r.evidence and "0.033" in r.evidence and "wins 3/3" in r.evidence
    assert "+1.000, +1.100, +1.000" in r.evidence and "z*se 0.067" in r.evidence
    assert "z*se = 0.067" in r.rule


def test_clear_loss_did_not_hold():
    r = compare([89.0, 89.2, 88.9], WIN_C)              # d = -1.0, -0.9, -1.0
    assert r.verdict == "did not hold"
    assert r.mean == pytest.approx(-29 / 30)
    assert r.se == pytest.approx(1 / 30)
    assert (r.wins, r.losses) == (0, 3)


def test_difference_inside_the_noise_is_inconclusive():
    r = compare([90.3, 89.9, 90.1], [90.0, 90.0, 90.0])  # d = 0.3, -0.1, 0.1
    assert r.mean == pytest.approx(0.1)
    assert r.se == pytest.approx(0.2 / math.sqrt(3))    # sample std 0.2
    assert r.verdict == "inconclusive"                  # 0.1 <= 2 * 0.1155
    assert (r.wins, r.losses) == (2, 1)
    assert "<= z*se 0.231" in r.evidence


def test_min_effect_gives_partly_and_the_bar_itself_holds():
    t, c = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]            # mean 2, se 1/sqrt(3), z*se 1.155
    assert compare(t, c).se == pytest.approx(1 / math.sqrt(3))
    assert compare(t, c, min_effect=2.0).verdict == "held"      # e >= min_effect, at the bar
    partly = compare(t, c, min_effect=2.5)
    assert partly.verdict == "partly"
    assert "below bar 2.500" in partly.evidence and ">= 2.500 points" in partly.rule


def test_direction_minus_one_flips_held_and_did_not_hold():
    lower = compare(WIN_T, WIN_C, direction=-1)
    assert lower.verdict == "did not hold" and (lower.wins, lower.losses) == (0, 3)
    assert "treatment is lower than control" in lower.rule
    claimed_lower = compare([89.0, 89.2, 88.9], WIN_C, direction=-1)
    assert claimed_lower.verdict == "held" and claimed_lower.wins == 3
    assert compare([90.3, 89.9, 90.1], [90.0] * 3, direction=-1).verdict == "inconclusive"
    with pytest.raises(ValueError, match="direction"):
        compare(WIN_T, WIN_C, direction=0)


def test_noise_std_raises_se_and_can_make_held_inconclusive():
    r = compare(WIN_T, WIN_C, noise_std=1.0)
    assert r.se == pytest.approx(math.sqrt(2 / 3))      # 1.0 * sqrt(2/n) > 1/30
    assert r.verdict == "inconclusive"                  # 1.033 <= 2 * 0.816
    small = compare(WIN_T, WIN_C, noise_std=0.01)      # sample se is the larger one
    assert small.se == pytest.approx(1 / 30) and small.verdict == "held"


def test_one_seed_needs_noise_std():
    r = compare([91.0], [90.0])
    assert r.se is None and r.verdict == "inconclusive"
    assert "no standard error" in r.rule and "no se" in r.evidence
    r = compare([91.0], [90.0], noise_std=0.3)
    assert r.se == pytest.approx(0.3 * math.sqrt(2))
    assert r.verdict == "held"                          # 1.0 > 2 * 0.424
    assert compare([91.0], [90.0], noise_std=0.6).verdict == "inconclusive"  # 1.0 <= 1.697


def test_unpaired_uses_welch_and_counts_all_seed_pairs():
    r = compare([1.0, 2.0, 3.0], [0.0, 2.0], paired=False)
    assert r.mean == pytest.approx(1.0)
    assert r.se == pytest.approx(math.sqrt(1 / 3 + 2 / 2))      # s_t^2 = 1, s_c^2 = 2
    assert (r.wins, r.losses, r.trials) == (4, 1, 6)
    assert r.differences == () and r.verdict == "inconclusive"
    noisy = compare([1.0, 2.0, 3.0], [0.0, 2.0], paired=False, noise_std=2.0)
    assert noisy.se == pytest.approx(2.0 * math.sqrt(1 / 3 + 1 / 2))


def test_printing_keeps_the_decision_visible():
    r = compare([90.25, 90.33, 90.31], [90.0, 90.0, 90.0], min_effect=0.3)  # mean 0.29667
    assert r.mean == pytest.approx(0.89 / 3)
    assert r.verdict == "partly"
    assert "+0.297" in r.evidence and "bar 0.300" in r.evidence
    assert "+0.30 " not in r.evidence and "+0.30;" not in r.evidence
    # a mean even closer to the bar is printed with as many decimals as it takes
    close = compare([0.29990, 0.30000, 0.29998], [0.0, 0.0, 0.0], min_effect=0.3)
    printed_mean = float(re.search(r"diff ([+-][0-9.]+)", close.evidence).group(1))
    printed_bar = float(re.search(r"bar ([0-9.]+)", close.evidence).group(1))
    assert close.verdict == "partly" and printed_mean < printed_bar


def test_comparison_is_frozen_and_its_verdicts_are_report_verdicts():
    r = compare(WIN_T, WIN_C, name="KD beats the plain student")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.verdict = "partly"
    assert str(r).startswith("KD beats the plain student: HELD - ")
    assert isinstance(r, Comparison)
    assert VERDICTS == ("held", "partly", "did not hold", "inconclusive")
    report = Report("test", "smoke", "mnist")
    inconclusive = compare([91.0], [90.0])
    assert report.claim("c1", "one seed", inconclusive.verdict, inconclusive.evidence)["verdict"] \
        == "inconclusive"


@pytest.mark.parametrize("kwargs, match", [
    (dict(treatment=[1.0, float("nan")], control=[1.0, 1.0]), "treatment"),
    (dict(treatment=[1.0, 2.0], control=[1.0, float("inf")]), "control"),
    (dict(treatment=[], control=[]), "treatment is empty"),
    (dict(treatment=[1.0], control=[]), "control is empty"),
    (dict(treatment=[1.0, 2.0, 3.0], control=[1.0, 2.0]),
     r"len\(treatment\)=3, len\(control\)=2"),
    (dict(treatment=[1.0, 2.0], control=[1.0, 2.0], noise_std=float("nan")), "noise_std"),
    (dict(treatment=[1.0, 2.0], control=[1.0, 2.0], min_effect=-0.1), "min_effect"),
])
def test_compare_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare(**kwargs)


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


def test_combine_parts_of_one_claim():
    from kd.verdicts import combine
    assert combine(["held", "held"]) == "held"
    assert combine(["inconclusive", "inconclusive"]) == "inconclusive"
    assert combine(["held", "inconclusive"]) == "partly"
    assert combine(["did not hold", "partly"]) == "partly"
    assert combine(["did not hold", "inconclusive"]) == "did not hold"
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError):
        combine(["held", "maybe"])
