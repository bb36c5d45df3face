"""Gupta et al., Lemmas 1 and 2 (Appendix A), on a synthetic problem whose p*(y|x) is known.

The problem: a mixture of L = 3 Gaussians in 2-D with a shared isotropic covariance,
x | y ~ N(mu_y, s^2 I), y ~ pi, whose classes overlap, so that the Bayes class probabilities
p*(x) = [P(y|x)]_y (Bayes' rule, `GaussianMixture.posterior`) lie strictly between 0 and 1.
Gupta give no experiment for the lemmas; the problem is ours.

For a fixed predictor f with loss vector l(f(x)) = [l(y, f(x))]_y (A.1):

    R(f)          = E_x[p*(x)^T l(f(x))]                        population risk
    R_hat(f; S)   = 1/N sum_n e_{y_n}^T l(f(x_n))                empirical risk (one-hot labels)
    R_hat_*(f; S) = 1/N sum_n p*(x_n)^T l(f(x_n))                Bayes-distilled risk
    R_tilde(f; S) = 1/N sum_n p^t(x_n)^T l(f(x_n))               distilled risk, teacher p^t (A.2)

Lemma 1: both R_hat and R_hat_* are unbiased for R(f), and
    Var_S[R_hat_*] = Var_x[p*(x)^T l] / N  <=  Var_{(x,y)}[l(y, f(x))] / N = Var_S[R_hat],
the gap being E_x[Var_{y|x} l(y, f(x))] / N; equality iff l(y, f(x)) = l(y', f(x)) for all
y, y' in the support of p*(x) (then the two estimates coincide sample by sample).

Lemma 2, exactly as the paper writes it, with Delta := R_tilde(f; S) - R(f):
    E(Delta^2) <= 1/N Var[p^t(x)^T l(f(x))] + O(||E[p^t(x)] - p*(x)||_2^2 + Var[p^t(x)]).
Its proof gives E(Delta^2) = Var(Delta) + E(Delta)^2 with Var(Delta) = 1/N Var[p^t(x)^T l(f(x))]
and E(Delta) = E_x[(p^t(x) - p*(x))^T l(f(x))] <= c E_x||p^t(x) - p*(x)||_2 (Cauchy-Schwarz,
which bounds |E(Delta)| as well), where c bounds ||l(f(x))||_2. `lemma2_terms` makes the O concrete: its constant is c^2 (c = the largest
||l(f(x))||_2 over the quadrature), x is averaged over (the paper leaves it free), and E[.] and
Var[.] of p^t(x) are over the teacher's own randomness (Var of a vector = the trace of its
covariance), so that by Jensen and the bias-variance split
    E(Delta)^2 <= c^2 (E_x||p^t - p*||)^2 <= c^2 E_x[||E_T p^t(x) - p*(x)||^2 + tr Var_T p^t(x)].
For a random teacher, E(Delta^2) and the variance term are averaged over the teacher draws.

Population quantities are computed by the midpoint rule on a fine square grid
(`quadrature`), whose error falls off very fast for these smooth integrands: doubling a
250 x 250 grid (cell 0.08 s) moves R(f) by < 1e-14, a 100 x 100 one (cell 0.2 s) by ~2e-9.
The mass the box leaves out is given in closed form (5e-20 at 9 s beyond the means).
Everything is vectorised numpy; samples come from a seeded `np.random.Generator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

LossFn = Callable[[np.ndarray], np.ndarray]
Teacher = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------- small numerics

def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, stable for large logits."""
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


# ---------------------------------------------------------------- the problem

@dataclass(frozen=True)
class GaussianMixture:
    """x | y ~ N(mu_y, scale^2 I) in 2-D, y ~ priors; the Bayes posterior p*(y|x) in closed form."""
    priors: tuple[float, ...]
    means: tuple[tuple[float, float], ...]
    scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.priors) != len(self.means) or not math.isclose(sum(self.priors), 1.0):
            raise ValueError(f"priors {self.priors} must sum to 1, one per mean {self.means}")

    @property
    def classes(self) -> int:
        return len(self.priors)

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """log pi_y + log N(x; mu_y, s^2 I) for every class: shape x.shape[:-1] + (L,)."""
        mu = np.asarray(self.means, dtype=float)
        d2 = ((x[..., None, :] - mu) ** 2).sum(-1)
        return np.log(self.priors) - d2 / (2 * self.scale ** 2) - math.log(2 * math.pi * self.scale ** 2)

    def density(self, x: np.ndarray) -> np.ndarray:
        """The marginal density p(x) = sum_y pi_y N(x; mu_y, s^2 I)."""
        return np.exp(self.log_joint(x)).sum(-1)

    def posterior(self, x: np.ndarray) -> np.ndarray:
        """p*(x) = [P(y|x)]_y by Bayes' rule: pi_y N(x; mu_y) / sum_y' pi_y' N(x; mu_y')."""
        return softmax(self.log_joint(x))

    def sample(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """`shape` draws of (x, y): x of shape shape + (2,), y of shape `shape` (int)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        y = rng.choice(self.classes, size=shape, p=self.priors)
        x = np.asarray(self.means, dtype=float)[y] + self.scale * rng.standard_normal(shape + (2,))
        return x, y

    def box(self, sigmas: float = 9.0) -> tuple[np.ndarray, float]:
        """Centre and half-width of a square holding every mean with `sigmas` scales to spare."""
        mu = np.asarray(self.means, dtype=float)
        centre = mu.mean(0)
        return centre, float(np.abs(mu - centre).max() + sigmas * self.scale)

    def mass_outside(self, centre: np.ndarray, half: float) -> float:
        """P(x outside the square centre +- half), in closed form: per class and axis the two
        normal tails (erfc, so that masses far below 1e-16 are not lost to 1 - inside)."""
        out = 0.0
        for p, m in zip(self.priors, self.means):
            tails = [0.5 * (math.erfc((c + half - mi) / (self.scale * math.sqrt(2)))
                            + math.erfc((mi - c + half) / (self.scale * math.sqrt(2))))
                     for c, mi in zip(centre, m)]
            out += p * -math.expm1(sum(math.log1p(-t) for t in tails))
        return out


PROBLEM = GaussianMixture(priors=(0.5, 0.3, 0.2), means=((0.0, 0.0), (2.0, 0.0), (1.0, 1.7)), scale=1.0)
"""The notebook's problem: three unit-variance classes at the corners of a triangle of side ~2."""


@dataclass(frozen=True)
class Quadrature:
    """Midpoint-rule nodes `x` (G, 2) and weights p(x) h^2 (G,) over a square box, with the
    exact mass the box leaves out (`outside`) and `error`, |sum(weights) - (1 - outside)|."""
    x: np.ndarray
    weight: np.ndarray
    cell: float
    outside: float

    @property
    def error(self) -> float:
        return abs(float(self.weight.sum()) - (1.0 - self.outside))


def quadrature(problem: GaussianMixture, n: int, sigmas: float = 9.0) -> Quadrature:
    """n x n midpoint grid on `problem.box(sigmas)`: E_x[g(x)] ~ sum_i weight_i g(x_i)."""
    centre, half = problem.box(sigmas)
    h = 2 * half / n
    ticks = -half + h * (np.arange(n) + 0.5)
    x = np.stack(np.meshgrid(centre[0] + ticks, centre[1] + ticks, indexing="ij"), -1).reshape(-1, 2)
    return Quadrature(x, problem.density(x) * h * h, h, problem.mass_outside(centre, half))


# ---------------------------------------------------------------- fixed predictors and losses

@dataclass(frozen=True)
class Predictor:
    """Fixed outputs f(x) = bound * tanh((W x + b) / bound): linear, softly clipped at +-bound
    so that ||l(f(x))||_2 is bounded (the constant c of Lemma 2's proof is finite)."""
    name: str
    weight: tuple[tuple[float, float], ...]
    bias: tuple[float, ...]
    bound: float = 6.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = x @ np.asarray(self.weight, dtype=float).T + np.asarray(self.bias, dtype=float)
        return self.bound * np.tanh(z / self.bound)


def bayes_linear(problem: GaussianMixture, name: str, scale: float = 1.0, roll: int = 0,
                 bound: float = 6.0) -> Predictor:
    """`scale` times the Bayes logits of a shared-covariance mixture, log pi_y + mu_y.x/s^2 -
    |mu_y|^2/(2 s^2) (clipped by tanh): scale 1 is close to p* itself, < 1 flatter, > 1
    sharper; `roll` = k gives class y the logit of class y - k (a confidently wrong predictor)."""
    mu = np.asarray(problem.means, dtype=float)
    w = scale * mu / problem.scale ** 2
    b = scale * (np.log(problem.priors) - (mu ** 2).sum(1) / (2 * problem.scale ** 2))
    w, b = np.roll(w, roll, 0), np.roll(b, roll)
    return Predictor(name, tuple(map(tuple, w.tolist())), tuple(b.tolist()), bound)


def equal_outputs(name: str, weight: tuple[float, float], bias: float, classes: int,
                  bound: float = 2.0) -> Predictor:
    """f(x) = c(x) (1, ..., 1) with c(x) = bound tanh((w.x + b)/bound): every class gets the same
    output, so any loss symmetric in the classes is constant over y (Lemma 1's equality case)."""
    return Predictor(name, (tuple(weight),) * classes, (bias,) * classes, bound)


def cross_entropy(outputs: np.ndarray) -> np.ndarray:
    """The loss vector of Gupta sec. 1.2: l(y, f(x)) = -f_y(x) + log sum_y' exp f_y'(x)."""
    return -log_softmax(outputs)


def squared_error(outputs: np.ndarray) -> np.ndarray:
    """l(y, f(x)) = ||f(x) - e_y||_2^2 = ||f||^2 - 2 f_y + 1 (the Brier loss on raw outputs)."""
    return (outputs ** 2).sum(-1, keepdims=True) - 2 * outputs + 1.0


LOSSES: dict[str, LossFn] = {"cross-entropy": cross_entropy, "squared": squared_error}


# ---------------------------------------------------------------- the estimators (A.1, A.2)

def empirical_risk(loss: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R_hat(f; S) = 1/N sum_n e_{y_n}^T l(f(x_n)); `loss` (..., N, L), `y` (..., N) -> (...)."""
    return np.take_along_axis(loss, y[..., None], -1)[..., 0].mean(-1)


def distilled_risk(loss: np.ndarray, p: np.ndarray) -> np.ndarray:
    """1/N sum_n p(x_n)^T l(f(x_n)): R_hat_* with p = p* (A.1), R_tilde with p = p^t (A.2)."""
    return (loss * p).sum(-1).mean(-1)


# ---------------------------------------------------------------- exact moments (Lemma 1)

def _expect(weight: np.ndarray, values: np.ndarray) -> float:
    return float(weight @ values / weight.sum())


@dataclass(frozen=True)
class Lemma1Moments:
    """Per-sample moments: N Var_S[R_hat] = `var_empirical`, N Var_S[R_hat_*] = `var_distilled`."""
    risk: float             # R(f) = E_x[p*(x)^T l(f(x))]
    var_empirical: float    # Var_(x,y)[l(y, f(x))] = E_x[p*^T l^2] - R^2
    var_distilled: float    # Var_x[p*(x)^T l(f(x))] = E_x[(p*^T l)^2] - R^2

    @property
    def gap(self) -> float:
        """E_x[Var_{y|x} l(y, f(x))] >= 0: the proof's Jensen step."""
        return self.var_empirical - self.var_distilled

    @property
    def ratio(self) -> float:
        """Var[R_hat_*] / Var[R_hat]; NaN when both are 0 up to round-off (a loss constant in x and y)."""
        zero = self.var_empirical <= 1e-12 * max(self.risk ** 2, 1e-300)
        return float("nan") if zero else self.var_distilled / self.var_empirical


def lemma1_moments(weight: np.ndarray, p_star: np.ndarray, loss: np.ndarray) -> Lemma1Moments:
    """Exact moments for x distributed by `weight` (G,) over nodes with p*(x) (G, L) and loss
    vectors l(f(x)) (G, L): a quadrature of the plane, or any finite distribution of x."""
    risk = _expect(weight, (p_star * loss).sum(-1))
    return Lemma1Moments(risk, _expect(weight, (p_star * (loss - risk) ** 2).sum(-1)),
                         _expect(weight, ((p_star * loss).sum(-1) - risk) ** 2))


# ---------------------------------------------------------------- imperfect teachers (Lemma 2)

@dataclass(frozen=True)
class Tempered:
    """p^t(x) = softmax(log p*(x) / tau): tau = 1 is the Bayes teacher, < 1 sharper, > 1 flatter."""
    problem: GaussianMixture
    tau: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.problem.log_joint(x) / self.tau)


@dataclass(frozen=True)
class Noised:
    """p^t(x) = softmax(log p*(x) + strength * eps(x)), eps a smooth random function drawn once
    per `seed`: per class, sqrt(2/K) sum_k a_k cos(w_k.x + phi_k) with a ~ N(0, 1),
    w ~ N(0, I / length^2), phi ~ U(0, 2 pi) (random Fourier features of a unit-variance
    squared-exponential Gaussian process)."""
    problem: GaussianMixture
    strength: float
    seed: int
    features: int = 32
    length: float = 1.0

    def _draw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 7919])
        freq = rng.standard_normal((self.features, 2)) / self.length
        phase = rng.uniform(0, 2 * math.pi, self.features)
        amp = rng.standard_normal((self.features, self.problem.classes))
        return freq, phase, amp

    def __call__(self, x: np.ndarray) -> np.ndarray:
        freq, phase, amp = self._draw()
        eps = math.sqrt(2 / self.features) * np.cos(x @ freq.T + phase) @ amp
        return softmax(self.problem.log_joint(x) + self.strength * eps)


@dataclass(frozen=True)
class Linear:
    """p^t(x) = softmax(W x + b): a multinomial logistic regression (`fit_softmax_regression`)."""
    weight: np.ndarray   # (L, 2)
    bias: np.ndarray     # (L,)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return softmax(x @ self.weight.T + self.bias)


def fit_softmax_regression(x: np.ndarray, y: np.ndarray, classes: int, ridge: float = 1.0,
                           steps: int = 50, tol: float = 1e-10) -> Linear:
    """Minimise sum_n CE(y_n, W x_n + b) + ridge/2 ||(W, b)||^2 by damped Newton steps (the
    objective is strictly convex); for the mixture the model is well specified, so the teacher
    tends to p* as the training set grows."""
    phi = np.concatenate([x, np.ones((len(x), 1))], 1)                 # (M, 3)
    onehot = np.eye(classes)[y]
    theta = np.zeros((classes, phi.shape[1]))

    def objective(t: np.ndarray) -> float:
        return float(-(onehot * log_softmax(phi @ t.T)).sum() + ridge / 2 * (t ** 2).sum())

    for _ in range(steps):
        p = softmax(phi @ theta.T)
        grad = (p - onehot).T @ phi + ridge * theta
        if np.abs(grad).max() < tol:
            break
        a = np.einsum("na,ab->nab", p, np.eye(classes)) - p[:, :, None] * p[:, None, :]
        hess = np.einsum("nab,ni,nj->aibj", a, phi, phi).reshape(grad.size, grad.size)
        step = np.linalg.solve(hess + ridge * np.eye(grad.size), grad.ravel()).reshape(grad.shape)
        f0, t = objective(theta), 1.0
        while objective(theta - t * step) > f0 and t > 1e-8:
            t /= 2
        theta = theta - t * step
    return Linear(theta[:, :2].copy(), theta[:, 2].copy())


@dataclass(frozen=True)
class Lemma2Terms:
    """Lemma 2 for one teacher (or the mean over draws of a random one) at sample size n."""
    n: int
    variance_term: float     # 1/N Var_x[p^t(x)^T l(f(x))]  (= Var(Delta) given the teacher)
    bias: float              # E(Delta) = E_x[(p^t(x) - p*(x))^T l(f(x))] (mean over teacher draws)
    bias_squared: float      # E(Delta)^2 (mean over teacher draws)
    c: float                 # max_x ||l(f(x))||_2 over the nodes
    teacher_bias: float      # E_x ||E_T[p^t(x)] - p*(x)||_2^2
    teacher_variance: float  # E_x tr Var_T[p^t(x)]
    proof_bound: float       # variance_term + c^2 (E_x ||p^t(x) - p*(x)||_2)^2, the proof's last step

    @property
    def mse(self) -> float:
        """E(Delta^2) = Var(Delta) + E(Delta)^2, exactly (the proof's first line)."""
        return self.variance_term + self.bias_squared

    @property
    def bound(self) -> float:
        """The paper's right-hand side, its O(.) taken with the proof's constant c^2."""
        return self.variance_term + self.c ** 2 * (self.teacher_bias + self.teacher_variance)

    def holds(self, rtol: float = 1e-9) -> bool:
        """E(Delta^2) <= bound, up to float64 round-off (`rtol` of the bound)."""
        return self.mse <= self.bound * (1 + rtol)


def lemma2_terms(weight: np.ndarray, p_star: np.ndarray, p_teacher: np.ndarray, loss: np.ndarray,
                 n: int) -> Lemma2Terms:
    """The terms of Lemma 2 on nodes x_i with weights (G,), p*(x) (G, L), loss vectors (G, L)
    and a teacher's p^t(x), (G, L) for a fixed teacher or (T, G, L) for T draws of a random one."""
    pt = p_teacher[None] if p_teacher.ndim == 2 else p_teacher
    w = weight / weight.sum()
    s = (pt * loss).sum(-1)                                            # (T, G): p^t(x)^T l
    var = ((s - (s @ w)[:, None]) ** 2) @ w                            # Var_x per teacher
    bias = ((pt - p_star) * loss).sum(-1) @ w                          # E(Delta) per teacher
    dist = np.linalg.norm(pt - p_star, axis=-1)                        # (T, G)
    mean_t, c = pt.mean(0), float(np.linalg.norm(loss, axis=-1).max())
    return Lemma2Terms(
        n=n, variance_term=float(var.mean()) / n, bias=float(bias.mean()),
        bias_squared=float((bias ** 2).mean()), c=c,
        teacher_bias=float(w @ ((mean_t - p_star) ** 2).sum(-1)),
        teacher_variance=float(w @ ((pt - mean_t) ** 2).sum(-1).mean(0)),
        proof_bound=float(var.mean()) / n + c ** 2 * float(((dist @ w) ** 2).mean()))


# ---------------------------------------------------------------- drawing training sets

def draw_estimates(problem: GaussianMixture, rng: np.random.Generator, n: int, draws: int,
                   predictors: dict[str, tuple[Predictor, LossFn]],
                   teachers: dict[str, Teacher] | None = None,
                   chunk_points: int = 250_000) -> dict[str, dict[str, np.ndarray]]:
    """Draw `draws` training sets S of size `n` and return, per predictor name, the estimates
    over the draws: "empirical" (R_hat), "bayes" (R_hat_*) and one R_tilde per teacher name.
    Sets are drawn in chunks of about `chunk_points` points (memory stays ~100 MB)."""
    teachers = teachers or {}
    out = {name: {k: [] for k in ("empirical", "bayes", *teachers)} for name in predictors}
    per = max(1, chunk_points // n)
    for start in range(0, draws, per):
        x, y = problem.sample(rng, (min(per, draws - start), n))
        p_star = problem.posterior(x)
        soft = {k: t(x) for k, t in teachers.items()}
        for name, (f, loss_fn) in predictors.items():
            loss = loss_fn(f(x))
            out[name]["empirical"].append(empirical_risk(loss, y))
            out[name]["bayes"].append(distilled_risk(loss, p_star))
            for k, p in soft.items():
                out[name][k].append(distilled_risk(loss, p))
    return {name: {k: np.concatenate(v) for k, v in d.items()} for name, d in out.items()}


def block_variances(estimates: np.ndarray, blocks: int) -> np.ndarray:
    """The sample variance (ddof 1) of the estimates in each of `blocks` equal consecutive
    blocks of draws: independent replicates of the variance, for its uncertainty."""
    usable = len(estimates) // blocks * blocks
    if usable < 2 * blocks:
        raise ValueError(f"{len(estimates)} draws cannot make {blocks} blocks of >= 2")
    return estimates[:usable].reshape(blocks, -1).var(axis=1, ddof=1)


def mse_with_se(delta: np.ndarray) -> tuple[float, float]:
    """E(Delta^2) estimated from Delta = R_tilde - R over (T teachers, D draws each), the
    teachers weighted equally, and its standard error given those teachers:
    sqrt(sum_t Var_d(Delta_td^2) / D) / T."""
    sq = np.atleast_2d(delta) ** 2
    return float(sq.mean()), float(math.sqrt((sq.var(axis=1, ddof=1) / sq.shape[1]).sum()) / sq.shape[0])
