"""kd.studies.gupta_synthetic: the known-p* problem and the estimators of Gupta et al.'s Lemmas 1 and 2."""
import math

import numpy as np
import pytest

from kd.studies.gupta_synthetic import (PROBLEM, GaussianMixture, Noised, Tempered, bayes_linear, block_variances,
                          cross_entropy, distilled_risk, draw_estimates, empirical_risk,
                          equal_outputs, fit_softmax_regression, lemma1_moments, lemma2_terms,
                          mse_with_se, quadrature, squared_error)

# a two-point distribution of x: P(a) = P(b) = 1/2, p*(a) = (.5, .5), p*(b) = (.9, .1),
# loss vectors l(f(a)) = (1, 3), l(f(b)) = (0, 2). By hand:
#   R = .5 (.5*1 + .5*3) + .5 (.9*0 + .1*2) = 1.1
#   Var_(x,y) l   = .5 (.5*1 + .5*9) + .5 (.1*4) - 1.1^2 = 2.7 - 1.21 = 1.49
#   Var_x p*^T l  = .5 (2^2) + .5 (.2^2) - 1.21 = 2.02 - 1.21 = 0.81
TWO_W = np.array([0.5, 0.5])
TWO_P = np.array([[0.5, 0.5], [0.9, 0.1]])
TWO_L = np.array([[1.0, 3.0], [0.0, 2.0]])


def two_point_draws(rng, n, draws, teacher=None):
    """(R_hat, R_hat_*, R_tilde) over `draws` sets of n points of the two-point distribution."""
    i = rng.integers(0, 2, size=(draws, n))
    y = (rng.random((draws, n)) >= TWO_P[i, 0]).astype(int)
    loss = TWO_L[i]
    tilde = distilled_risk(loss, teacher[i]) if teacher is not None else None
    return empirical_risk(loss, y), distilled_risk(loss, TWO_P[i]), tilde


@pytest.fixture(scope="module")
def grid():
    q = quadrature(PROBLEM, 160)
    return q, PROBLEM.posterior(q.x)


def test_posterior_sums_to_one_and_matches_bayes_rule_at_a_point():
    x = np.array([1.0, 0.0])    # squared distances to the means: 1, 1, 0^2 + 1.7^2 = 2.89
    joint = [0.5 * math.exp(-1 / 2), 0.3 * math.exp(-1 / 2), 0.2 * math.exp(-2.89 / 2)]
    expected = [j / sum(joint) for j in joint]
    assert PROBLEM.posterior(x) == pytest.approx(expected, abs=1e-12)
    assert PROBLEM.posterior(x) == pytest.approx([0.569648, 0.341789, 0.088564], abs=1e-6)
    xs, _ = PROBLEM.sample(np.random.default_rng(0), 10_000)
    p = PROBLEM.posterior(xs)
    assert np.allclose(p.sum(-1), 1.0, atol=1e-12)
    assert 0 < p.min() and p.max() < 1                   # the classes overlap everywhere


def test_quadrature_integrates_the_density_and_misses_only_a_tiny_tail(grid):
    q, _ = grid
    assert q.weight.sum() == pytest.approx(1.0, abs=1e-12)
    assert q.error < 1e-12 and q.outside < 1e-15
    small = GaussianMixture((1.0,), ((0.0, 0.0),))       # box +-3: 1 - P(|z| < 3)^2, both axes
    inside_axis = math.erf(3 / math.sqrt(2))
    assert small.mass_outside(np.zeros(2), 3.0) == pytest.approx(1 - inside_axis ** 2, rel=1e-12)


def test_two_point_moments_match_the_closed_form():
    m = lemma1_moments(TWO_W, TWO_P, TWO_L)
    assert (m.risk, m.var_empirical, m.var_distilled) == pytest.approx((1.1, 1.49, 0.81), abs=1e-12)
    assert m.gap == pytest.approx(0.5 * 1.0 + 0.5 * 0.36, abs=1e-12)   # E_x Var_{y|x} l


def test_two_point_estimators_are_unbiased_with_the_closed_form_variances():
    n, draws = 4, 200_000
    emp, bayes, _ = two_point_draws(np.random.default_rng(1), n, draws)
    for est, var in ((emp, 1.49 / n), (bayes, 0.81 / n)):
        assert abs(est.mean() - 1.1) < 4 * math.sqrt(var / draws)
        assert est.var() == pytest.approx(var, rel=0.02)
    assert bayes.var() < emp.var()


def test_mixture_estimators_unbiased_and_the_distilled_one_has_the_lower_variance(grid):
    q, p_star = grid
    f = bayes_linear(PROBLEM, "bayes-like")
    exact = lemma1_moments(q.weight, p_star, cross_entropy(f(q.x)))
    n, draws = 50, 4000
    est = draw_estimates(PROBLEM, np.random.default_rng(2), n, draws, {"f": (f, cross_entropy)})["f"]
    for key, var in (("empirical", exact.var_empirical), ("bayes", exact.var_distilled)):
        assert abs(est[key].mean() - exact.risk) < 4 * math.sqrt(var / n / draws), key
        assert est[key].var(ddof=1) == pytest.approx(var / n, rel=0.12), key
    assert exact.var_distilled < 0.25 * exact.var_empirical            # 0.189 here
    assert est["bayes"].var() < est["empirical"].var()


def test_equality_case_gives_equal_variances_and_a_non_constant_loss_does_not(grid):
    q, p_star = grid
    flat = equal_outputs("equal", (0.7, -0.4), 0.3, PROBLEM.classes)
    sq = lemma1_moments(q.weight, p_star, squared_error(flat(q.x)))
    assert sq.var_empirical > 1.0                                      # not a degenerate 0 = 0
    assert sq.var_distilled == pytest.approx(sq.var_empirical, rel=1e-10)
    ce = lemma1_moments(q.weight, p_star, cross_entropy(flat(q.x)))
    assert ce.risk == pytest.approx(math.log(3)) and abs(ce.var_empirical) < 1e-12
    est = draw_estimates(PROBLEM, np.random.default_rng(3), 20, 500, {"sq": (flat, squared_error)})["sq"]
    assert np.allclose(est["empirical"], est["bayes"], rtol=0, atol=1e-12)   # equal draw by draw
    near = lemma1_moments(q.weight, p_star, cross_entropy(bayes_linear(PROBLEM, "flat", 0.25)(q.x)))
    assert 0.3 < near.ratio < 0.8 and near.gap > 0.01


def test_lemma2_on_the_two_point_case_by_hand():
    teacher = np.array([[0.7, 0.3], [0.9, 0.1]])         # wrong at a only
    t = lemma2_terms(TWO_W, TWO_P, teacher, TWO_L, n=4)
    # p^t.l = 1.6 at a, 0.2 at b: mean 0.9, variance 1.3 - 0.81 = 0.49; E(Delta) = .5 (.2 - .6)
    assert t.variance_term == pytest.approx(0.49 / 4) and t.bias == pytest.approx(-0.2)
    assert t.mse == pytest.approx(0.1225 + 0.04)
    assert t.c == pytest.approx(math.sqrt(10))
    assert t.teacher_bias == pytest.approx(0.5 * 0.08) and t.teacher_variance == 0
    assert t.proof_bound == pytest.approx(0.1225 + 10 * (0.5 * math.sqrt(0.08)) ** 2)
    assert t.bound == pytest.approx(0.1225 + 10 * 0.04) and t.holds()
    _, _, tilde = two_point_draws(np.random.default_rng(4), 4, 200_000, teacher)
    assert np.mean((tilde - 1.1) ** 2) == pytest.approx(t.mse, rel=0.02)


def test_lemma2_perfect_teacher_has_no_bias_and_imperfect_ones_respect_the_bound(grid):
    q, p_star = grid
    loss = cross_entropy(bayes_linear(PROBLEM, "bayes-like")(q.x))
    perfect = lemma2_terms(q.weight, p_star, Tempered(PROBLEM, 1.0)(q.x), loss, n=100)
    assert perfect.bias == 0 and perfect.bias_squared == 0 and perfect.teacher_bias == 0
    assert perfect.mse == pytest.approx(lemma1_moments(q.weight, p_star, loss).var_distilled / 100)
    assert perfect.holds() and perfect.bound == perfect.mse
    hot = lemma2_terms(q.weight, p_star, Tempered(PROBLEM, 2.0)(q.x), loss, n=100)
    assert hot.bias_squared > 100 * hot.variance_term and hot.holds()
    assert hot.mse <= hot.proof_bound <= hot.bound
    noisy = np.stack([Noised(PROBLEM, 1.0, s)(q.x) for s in range(3)])
    t = lemma2_terms(q.weight, p_star, noisy, loss, n=100)
    mean_sq = float(np.mean([q.weight @ ((p - p_star) ** 2).sum(-1) for p in noisy]))
    assert t.teacher_bias + t.teacher_variance == pytest.approx(mean_sq, rel=1e-9)  # bias-variance split
    assert t.teacher_variance > 0 and t.holds()


def test_a_bound_that_ignores_the_teacher_bias_fails():
    """The check can fail: the variance term alone is below E(Delta^2) for a biased teacher."""
    t = lemma2_terms(TWO_W, TWO_P, np.array([[0.7, 0.3], [0.9, 0.1]]), TWO_L, n=4)
    assert t.mse > t.variance_term


def test_teachers_are_deterministic_and_the_trained_one_approaches_p_star(grid):
    q, p_star = grid
    assert np.allclose(Noised(PROBLEM, 0.0, 5)(q.x), p_star)
    assert np.array_equal(Noised(PROBLEM, 1.0, 5)(q.x[:10]), Noised(PROBLEM, 1.0, 5)(q.x[:10]))
    rng = np.random.default_rng(6)
    errors = []
    for m in (20, 20_000):
        x, y = PROBLEM.sample(rng, m)
        pt = fit_softmax_regression(x, y, PROBLEM.classes)(q.x)
        errors.append(float(q.weight @ ((pt - p_star) ** 2).sum(-1)))
    assert errors[1] < 1e-3 < errors[0]


def test_block_variances():
    v = block_variances(np.arange(12.0), 3)
    assert v == pytest.approx([np.var([0, 1, 2, 3], ddof=1)] * 3)
    with pytest.raises(ValueError):
        block_variances(np.arange(5.0), 3)


def test_mse_with_se():
    delta = np.array([[1.0, -1.0, 1.0, -1.0], [0.0, 2.0, 0.0, 2.0]])   # squares 1,1,1,1 and 0,4,0,4
    mse, se = mse_with_se(delta)
    assert mse == pytest.approx(1.5)
    assert se == pytest.approx(math.sqrt(0 + np.var([0, 4, 0, 4], ddof=1) / 4) / 2)
