r"""The fourth-moment (even-sector) recursion of minibatch SGD on least squares.

Setting: the error e = theta - theta* obeys e_{k+1} = e_k - gamma g_k with the
minibatch gradient g = (1/B) sum_b x_b (<x_b, e> - eps_b), x = sqrt(lambda) z,
z with independent *symmetric* standardised coordinates (odd moments 0,
E z^2 = 1, E z^4 = kappa_i, E z^6 = mu_{6,i}, E z^8 = mu_{8,i}) and Gaussian
label noise eps ~ N(0, sigma^2) (E eps^4 = 3 sigma^4). Flipping the sign of
z_i and e_i together leaves the law of the step unchanged, so
E[e_{k+1,i}^2 e_{k+1,j}^2 | e_k] is even in every coordinate of e_k and the
*even sector*

.. math:: Q_{k,ij} = \mathbb{E}\, e_{k,i}^2 e_{k,j}^2 \qquad (d \times d,\ Q_{k,ii} = \mathbb{E}\, e_{k,i}^4)

closes: Q_{k+1} is affine in Q_k and in the second moments m_k (which follow
:func:`theory.derive`).

The derivation (SymPy, nothing typed from a paper):

1. *Per-sample moments.* For a pair i != j write h_i = x_i s, h_j = x_j s with
   s = x_i e_i + x_j e_j + r - eps and r = sum_{k not in {i,j}} x_k e_k,
   independent of x_i, x_j and symmetric given e, with
   E r^2 = S - lambda_i e_i^2 - lambda_j e_j^2 and
   E r^4 = 3 (E r^2)^2 + W - (kappa_i - 3) lambda_i^2 e_i^4 - (kappa_j - 3) lambda_j^2 e_j^4,
   where S = sum_k lambda_k e_k^2 and W = sum_k (kappa_k - 3) lambda_k^2 e_k^4 (the
   exclusions k not in {i, j} become these correction terms). Expanding
   x_i^a x_j^b s^{a+b} and applying the moment rules gives E[h_i^a h_j^b | e].
   On the diagonal, r = sum_{k != i} x_k e_k and E[h_i^a | e], a <= 4.
2. *Batch mean.* E[prod_f g_f | e] over n <= 4 factors is a sum over the set
   partitions pi of the factors: B(B-1)...(B - #pi + 1) / B^n (#pi the number of blocks) times the product
   over blocks of the single-sample moment of the block (distinct blocks are
   distinct, independent samples).
3. *Average over e.* Expand (e_i - gamma g_i)^2 (e_j - gamma g_j)^2 (and
   (e_i - gamma g_i)^4), insert the batch moments, and replace
   e_i^2 e_j^2 -> Q_ij, e_i^4 -> Q_ii, e_i^2 S -> T_i = sum_l lambda_l Q_il,
   S^2 -> U = sum_{l,l'} lambda_l lambda_l' Q_ll', W -> V = sum_l (kappa_l - 3) lambda_l^2 Q_ll,
   e_i^2 -> m_i, S -> S_k = sum_l lambda_l m_l. Any other monomial (odd in a
   coordinate, or of higher degree) would be an error and raises.

The result, :class:`FourthMomentRecursion`, reads

.. math::
    Q'_{ij} &= a_{ij} Q_{ij} + b_{ij} Q_{ii} + b_{ji} Q_{jj} + p_{ij} T_i + p_{ji} T_j
              + u_{ij} U + v_{ij} V + f_{ij}(m, S, \sigma^2) \quad (i \ne j),\\
    Q'_{ii} &= \alpha_i Q_{ii} + \pi_i T_i + \upsilon_i U + \nu_i V + f_{ii}(m, S, \sigma^2),

each coefficient a polynomial in gamma (degree <= 4) and 1/B; the numeric map
is :class:`theory.fourth.EvenSectorMap` (O(d^2) per step).

Two-step methods (heavy ball, Nesterov; per-direction state (e_k, e_{k-1})): the even sector
is the 3 x 3 block E q_a(i) q_b(j), q = (e^2, e e_prev, e_prev^2), per pair i != j and the
five degree-4 monomials of (e_i, e_prev,i) on the diagonal, with couplings T_i[a], U, V
built on the gradient point; same moment machinery, derived in :mod:`~theory.fourth.momentum`
(:class:`TwoStepFourthRecursion`, numeric methods with ``momentum=beta``). With beta = 0
heavy ball reproduces SGD's numbers.

Modules: :mod:`~theory.fourth.derivation` (SymPy), :mod:`~theory.fourth.recursion`
(the result object), :mod:`~theory.fourth.linear` (the float64 map, its spectrum and
time averages), :mod:`~theory.fourth.critical` (gamma_c^(4)); for the two-step methods
:mod:`~theory.fourth.momentum` (derivation and result object) and
:mod:`~theory.fourth.momentum_linear` (the float64 map).

Source: fourth moments and heavy tails of SGD near the critical learning rate;
the second-moment analogue is Bordelon & Pehlevan, arXiv:2106.02713 (Sec. 3) and
Paquette et al., arXiv:2102.04396. No formula from a paper is used here.
"""
from .derivation import DIAGONAL_TERMS, PAIR_TERMS, batch_gradient_moments, derive_fourth
from .generalized import GeneralizedFourthRecursion, derive_generalized_fourth
from .linear import EvenSectorMap
from .momentum import TwoStepEvenMap, TwoStepFourthRecursion
from .recursion import FourthMomentRecursion, FourthMomentTrajectory, TimeAverageCovariance

__all__ = ["derive_fourth", "batch_gradient_moments", "FourthMomentRecursion", "FourthMomentTrajectory",
           "TimeAverageCovariance", "EvenSectorMap", "PAIR_TERMS", "DIAGONAL_TERMS", "TwoStepFourthRecursion",
           "TwoStepEvenMap", "GeneralizedFourthRecursion", "derive_generalized_fourth"]
