r"""Exact one-step expectations by enumerating the support of discrete data, in rational arithmetic.

For data whose coordinates take finitely many rational values, the
conditional expectation of one SGD step,

.. math::
    \mathbb{E}[e_{k+1} \mid e_k],\qquad \mathbb{E}[e_{k+1} e_{k+1}^\top \mid e_k],\qquad
    e_{k+1} = e_k - \frac{\gamma}{B}\sum_{b=1}^B x_b\,(\langle x_b, e_k\rangle - \varepsilon_b),

is a finite sum over every joint outcome of the batch (B independent draws of
x = (c_1 z_1, ..., c_d z_d) with independent coordinates, and of the label
noise epsilon), computed here with :class:`fractions.Fraction`: no rounding,
no tolerance. Nothing from :mod:`theory` is used, so it is an independent
oracle for the derived recursions (the Isserlis/kurtosis moment rules, the
1/B split of the batch, the coupling sum).

What is enumerated (each law is a list of (value, probability) pairs):

* :func:`rademacher_law`: z = +-1 with probability 1/2 (kappa = 1);
* :func:`sparse_law` (p, base): z = b w with b ~ Bernoulli(p) and w from
  ``base``; with the default base :func:`gaussian_moment_law` (w in
  {0, +-1, +-2} with probabilities 1/2, 1/6, 1/12, whose moments up to order 5
  equal the Gaussian's: E w^2 = 1, E w^4 = 3, odd moments 0) the standardised
  coordinate has kappa = 3/p, the moment rules of ``SparseGaussian(p)``;
  with base :func:`rademacher_law` (the sparse-Bernoulli law z in {0, +-1})
  kappa = 1/p.

The second-moment dynamics of SGD depend on the law only through moments of
order <= 4, so a discrete law with the same moments gives the same exact
expectations as the continuous model. The even sector E[e_i^2 e_j^2]
(:func:`one_step_even_moments`, the oracle of :func:`theory.derive_fourth`) needs
the data's moments up to order 8: the sparse-Bernoulli law z in {0, +-1} is the
symmetric three-point law of ``IndependentCoordinates`` (E z^6 = kappa^2,
E z^8 = kappa^3 for the standardised coordinate); the five-point Gaussian-moment
law is *not* Gaussian at order 6 (E w^6 = 11, not 15), so Gaussian data is
checked by Isserlis' theorem instead (tests/theory/test_fourth.py).
"""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from itertools import product

__all__ = ["rademacher_law", "gaussian_moment_law", "sparse_law", "law_moment", "one_step_moments",
           "one_step_even_moments", "one_step_even_moments_momentum"]


def rademacher_law():
    """[(value, probability)] of z = +-1 with probability 1/2 each."""
    return [(Fraction(-1), Fraction(1, 2)), (Fraction(1), Fraction(1, 2))]


def gaussian_moment_law():
    """w in {0, +-1, +-2} with probabilities 1/2, 1/6, 1/12: E w^2 = 1, E w^4 = 3, odd moments 0."""
    return [(Fraction(0), Fraction(1, 2)), (Fraction(1), Fraction(1, 6)), (Fraction(-1), Fraction(1, 6)),
            (Fraction(2), Fraction(1, 12)), (Fraction(-2), Fraction(1, 12))]


def sparse_law(p, base=None):
    """z = b w, b ~ Bernoulli(p) (0 < p <= 1, rational), w from ``base`` (default :func:`gaussian_moment_law`)."""
    p = Fraction(p)
    if not 0 < p <= 1:
        raise ValueError(f"p must lie in (0, 1]; got {p}")
    base = gaussian_moment_law() if base is None else base
    out = defaultdict(Fraction)
    out[Fraction(0)] += 1 - p
    for v, q in base:
        out[v] += p * q
    return [(v, q) for v, q in out.items() if q]


def law_moment(law, n: int) -> Fraction:
    """E z^n of a discrete law."""
    return sum((q * v**n for v, q in law), Fraction(0))


def _convolve(dist_a, dist_b):
    out = defaultdict(Fraction)
    for ga, pa in dist_a.items():
        for gb, pb in dist_b.items():
            out[tuple(a + b for a, b in zip(ga, gb))] += pa * pb
    return out


def one_step_moments(error, scales, laws, learning_rate, batch=1, noise_law=None):
    r"""Exact E[e_{k+1} | e_k] and E[e_{k+1} e_{k+1}^T | e_k] for one SGD step, by enumeration.

    Parameters
    ----------
    error : sequence of d rationals
        e_k (deterministic), in the coordinates of x.
    scales : sequence of d rationals
        c_i: x_i = c_i z_i.
    laws : sequence of d laws [(value, probability)]
        The law of each z_i (independent coordinates).
    learning_rate : rational
        gamma.
    batch : int
        B, the number of independent samples averaged in the gradient.
    noise_law : law or None
        Law of the label noise epsilon (independent of x); None: epsilon = 0.

    Returns
    -------
    (mean, second) : list of d Fractions, d x d list of Fractions

    The enumeration is exact: the per-sample gradient h = x (<x, e> - epsilon)
    is tabulated over the joint support of (z, epsilon), its law is convolved
    B times (the batch sum), and the expectations are finite sums of Fractions.
    Cost: (prod_i |law_i| * |noise|) ** B outcomes at most; use d <= 4, B <= 2.

    Example
    -------
    >>> from fractions import Fraction as F
    >>> m, S = one_step_moments([F(1)], [F(1)], [rademacher_law()], F(1, 2))
    >>> m, S   # x = +-1: e' = e - gamma x x e = (1 - gamma) e exactly
    ([Fraction(1, 2)], [[Fraction(1, 4)]])
    """
    e, total, step = _batch_sum_law(error, scales, laws, learning_rate, batch, noise_law)
    d = len(e)
    mean = [Fraction(0)] * d
    second = [[Fraction(0)] * d for _ in range(d)]
    for gsum, prob in total.items():
        new = [ei - step * gi for ei, gi in zip(e, gsum)]
        for a in range(d):
            mean[a] += prob * new[a]
            pa = prob * new[a]
            for b in range(a, d):
                second[a][b] += pa * new[b]
    for a in range(d):
        for b in range(a):
            second[a][b] = second[b][a]
    return mean, second


def one_step_even_moments(error, scales, laws, learning_rate, batch=1, noise_law=None):
    r"""Exact E[e_{k+1,i}^2 e_{k+1,j}^2 | e_k] (d x d) for one SGD step, by enumeration.

    Same arguments and enumeration as :func:`one_step_moments`; the result is the
    even sector of the next error (its diagonal is E[e_{k+1,i}^4 | e_k]) as a d x d
    list of Fractions. The fourth-moment recursion needs moments of the data up to
    order 8 and of the noise up to order 4: for Gaussian label noise use a law with
    E eps^2 = sigma^2 and E eps^4 = 3 sigma^4, e.g. sigma times
    :func:`gaussian_moment_law`.

    Example
    -------
    >>> from fractions import Fraction as F
    >>> one_step_even_moments([F(2)], [F(1)], [rademacher_law()], F(1, 2))   # ((1 - 1/2) 2)^4
    [[Fraction(1, 1)]]
    """
    e, total, step = _batch_sum_law(error, scales, laws, learning_rate, batch, noise_law)
    d = len(e)
    out = [[Fraction(0)] * d for _ in range(d)]
    for gsum, prob in total.items():
        sq = [(ei - step * gi) ** 2 for ei, gi in zip(e, gsum)]
        for a in range(d):
            pa = prob * sq[a]
            for b in range(a, d):
                out[a][b] += pa * sq[b]
    for a in range(d):
        for b in range(a):
            out[a][b] = out[b][a]
    return out


def one_step_even_moments_momentum(error, previous, scales, laws, learning_rate, momentum, batch=1,
                                   noise_law=None, nesterov=False):
    r"""Exact even-sector moments after one heavy-ball (or Nesterov) step, by enumeration.

    The step is e' = e + beta (e - e_prev) - gamma g(p), e_prev' = e, with the minibatch
    gradient g at p = e (heavy ball) or p = e + beta (e - e_prev) (``nesterov=True``); other
    arguments as in :func:`one_step_moments`, ``previous`` is e_prev (d rationals) and
    ``momentum`` is beta (rational).

    Returns
    -------
    (pair, diagonal)
        ``pair[i][j][a][b]`` = E[q_a(e'_i, e_i) q_b(e'_j, e_j) | state] with
        q = (s_0^2, s_0 s_1, s_1^2) of the new state (s_0, s_1) = (e', e) (computed for every
        i, j including i = j); ``diagonal[i][k]`` = E[e'_i^(4-k) e_i^k | state], k = 0..4.
        All Fractions.

    Example
    -------
    >>> from fractions import Fraction as F
    >>> _, dg = one_step_even_moments_momentum([F(2)], [F(2)], [F(1)], [rademacher_law()], F(1, 2), F(1, 2))
    >>> dg[0][0]   # e' = 2 - (1/2) 2 (x^2 = 1) = 1
    Fraction(1, 1)
    """
    beta = Fraction(momentum)
    e = [Fraction(v) for v in error]
    f = [Fraction(v) for v in previous]
    if len(f) != len(e):
        raise ValueError("error and previous must have the same length d")
    point = [ei + beta * (ei - fi) for ei, fi in zip(e, f)] if nesterov else e
    _, total, step = _batch_sum_law(point, scales, laws, learning_rate, batch, noise_law)
    d = len(e)
    pair = [[[[Fraction(0)] * 3 for _ in range(3)] for _ in range(d)] for _ in range(d)]
    diagonal = [[Fraction(0)] * 5 for _ in range(d)]
    for gsum, prob in total.items():
        new = [ei + beta * (ei - fi) - step * gi for ei, fi, gi in zip(e, f, gsum)]
        q = [(n * n, n * ei, ei * ei) for n, ei in zip(new, e)]
        for i in range(d):
            for k in range(5):
                diagonal[i][k] += prob * new[i] ** (4 - k) * e[i] ** k
            for j in range(d):
                for a in range(3):
                    pa = prob * q[i][a]
                    for b in range(3):
                        pair[i][j][a][b] += pa * q[j][b]
    return pair, diagonal


def _batch_sum_law(error, scales, laws, learning_rate, batch, noise_law):
    """(e, law of the batch-summed gradient {gsum: probability}, gamma / B), all in Fractions."""
    e = [Fraction(v) for v in error]
    c = [Fraction(v) for v in scales]
    gamma = Fraction(learning_rate)
    d = len(e)
    if not (len(c) == len(laws) == d):
        raise ValueError("error, scales and laws must have the same length d")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be an integer >= 1; got {batch!r}")
    noise = [(Fraction(0), Fraction(1))] if noise_law is None else noise_law
    single = defaultdict(Fraction)
    for outcome in product(*laws, noise):
        prob = Fraction(1)
        for _, q in outcome:
            prob *= q
        x = [ci * v for ci, (v, _) in zip(c, outcome[:d])]
        eps = outcome[d][0]
        r = sum((xi * ei for xi, ei in zip(x, e)), Fraction(0)) - eps
        single[tuple(xi * r for xi in x)] += prob
    total = single
    for _ in range(int(batch) - 1):
        total = _convolve(total, single)
    return e, total, gamma / int(batch)
