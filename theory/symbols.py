"""The standard symbols of sgdcheck.

Every derivation in :mod:`theory` and every user expression passed to
:func:`verify.check_recursion` is written in these SymPy symbols. They refer to
one eigendirection ``i`` of the data covariance ``K = diag(lambda_1..lambda_d)``
at step ``k``.

=====================  ==========  ============================================
Python name            printed as  meaning
=====================  ==========  ============================================
``learning_rate``,     gamma       learning rate (step size), no 1/d scaling
``gamma``
``batch``, ``B``       B           batch size (number of fresh samples per step)
``eigenvalue``,        lambda_i    eigenvalue of the data covariance K
``lam``
``kurtosis``,          kappa_i     kurtosis E z_i^4 of the standardised
``kappa``                          coordinate z_i = x_i / sqrt(lambda_i)
``noise_variance``,    sigma^2     label-noise variance, y = <x, theta*> + eps
``sigma2``
``second_moment``,     m_{k,i}     second moment E e_{k,i}^2 of the error
``m``                              e_k = theta_k - theta* along direction i
``coupling``, ``S``    S_k         coupling sum sum_j lambda_j m_{k,j}
                                   (= 2 R_k - sigma^2)
``momentum``,          beta        heavy-ball momentum
``beta``
``sixth_moment``,      mu_{6,i}    E z_i^6 (fourth-moment recursions only;
``mu6``                            symmetric laws, see :mod:`theory.fourth`)
``eighth_moment``,     mu_{8,i}    E z_i^8 (idem)
``mu8``
=====================  ==========  ============================================

Example
-------
>>> from theory.symbols import gamma, B, lam, m, S, sigma2
>>> expr = (1 - 2*gamma*lam + 2*gamma**2*lam**2) * m + gamma**2 * lam * (S + sigma2)
>>> sorted(str(s) for s in expr.free_symbols)
['S', 'gamma', 'lambda_i', 'm_i', 'sigma^2']
"""
from __future__ import annotations

import sympy as sp

__all__ = [
    "learning_rate", "gamma", "batch", "B", "eigenvalue", "lam", "kurtosis",
    "kappa", "noise_variance", "sigma2", "second_moment", "m", "coupling", "S",
    "momentum", "beta", "sixth_moment", "mu6", "eighth_moment", "mu8", "STANDARD", "LATEX_NAMES",
]

learning_rate = gamma = sp.Symbol("gamma", positive=True)
batch = B = sp.Symbol("B", positive=True)
eigenvalue = lam = sp.Symbol("lambda_i", positive=True)
kurtosis = kappa = sp.Symbol("kappa_i", positive=True)
noise_variance = sigma2 = sp.Symbol("sigma^2", nonnegative=True)
second_moment = m = sp.Symbol("m_i", nonnegative=True)
coupling = S = sp.Symbol("S", nonnegative=True)
momentum = beta = sp.Symbol("beta", real=True)
sixth_moment = mu6 = sp.Symbol("mu6_i", positive=True)
eighth_moment = mu8 = sp.Symbol("mu8_i", positive=True)

#: name -> (symbol, description); the table above as data.
STANDARD = {
    "learning_rate": (gamma, "learning rate gamma (no 1/d scaling)"),
    "batch": (B, "batch size B"),
    "eigenvalue": (lam, "eigenvalue lambda_i of K"),
    "kurtosis": (kappa, "kurtosis kappa_i = E z_i^4 of z_i = x_i/sqrt(lambda_i)"),
    "noise_variance": (sigma2, "label-noise variance sigma^2"),
    "second_moment": (m, "second moment m_{k,i} = E e_{k,i}^2"),
    "coupling": (S, "coupling sum S_k = sum_j lambda_j m_{k,j}"),
    "momentum": (beta, "heavy-ball momentum beta"),
    "sixth_moment": (mu6, "sixth moment mu_{6,i} = E z_i^6 (fourth-moment recursions)"),
    "eighth_moment": (mu8, "eighth moment mu_{8,i} = E z_i^8 (fourth-moment recursions)"),
}

#: LaTeX names used when a derivation is printed at step k.
LATEX_NAMES = {
    gamma: r"\gamma",
    B: "B",
    lam: r"\lambda_i",
    kappa: r"\kappa_i",
    sigma2: r"\sigma^2",
    m: r"m_{k,i}",
    S: r"S_k",
    beta: r"\beta",
    mu6: r"\mu_{6,i}",
    mu8: r"\mu_{8,i}",
}
