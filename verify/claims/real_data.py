"""Claims on real data: streaming SGD on least squares over the rows of a real data set.

``sgd.real_data.digits``: scikit-learn's bundled digits data set (1797 images of 8 x 8
pixels, values 0..16; bundled with scikit-learn, no download). The input x is a row
of pixels, centred by the mean row; the target y is the image's own label (the digit
0..9), centred. The target is *not* a linear function of x: y = <x, theta*> + epsilon
with theta* the best linear fit and epsilon its residual, which is uncorrelated with
x but not independent of it. Three predictions are set against the same Monte Carlo
run: the exact empirical-distribution recursion (:func:`theory.derive_empirical`,
which must pass the calibrated test), the Gaussian-equivalent theory (Gaussian x with
the same covariance, independent label noise of the residual's variance) and the
independent-coordinates theory with each eigen-coordinate's own kurtosis; the latter
two are reported with their largest relative deviation and worst z-score.

Needs the optional extra ``data`` (scikit-learn): ``pip install 'sgdcheck[data]'``.
"""
from __future__ import annotations

import numpy as np

from theory import SGD, EmpiricalDistribution, Gaussian, IndependentCoordinates, derive, derive_empirical

from ..montecarlo import simulate
from ..stats import AlphaBudget, compare, reported
from . import Claim, ClaimSkipped, child_seed, register

_EXTRA = "the optional extra 'data' (scikit-learn): pip install 'sgdcheck[data]'"


def _bundled_digits():
    """(X, y) read straight from the file scikit-learn bundles (``sklearn/datasets/data/digits.csv.gz``:
    one row per image, 64 pixels then the label), or None if that file is not where it is expected.

    ``sklearn.datasets.load_digits`` reads the same file with the same ``numpy.loadtxt`` call; going
    to the file directly skips importing ``sklearn.datasets`` (0.2 s of CPU in a worker that has
    already imported NumPy and SciPy, 0.9 s in a fresh process; the file itself loads in 0.02 s).
    Locating the package with :func:`importlib.util.find_spec` does not import it.
    """
    import importlib.util
    from pathlib import Path
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            if table.ndim == 2 and table.shape[1] == 65:
                return table[:, :-1], table[:, -1]
    return None


def load_digits_distribution() -> EmpiricalDistribution:
    """The digits data set as an :class:`theory.EmpiricalDistribution` (centred rows, centred labels).

    The data are scikit-learn's bundled copy, read from its file (:func:`_bundled_digits`) or, if
    the file is not found there, by ``sklearn.datasets.load_digits``.

    Raises :class:`verify.claims.ClaimSkipped` if scikit-learn is not installed.
    """
    import importlib.util
    if importlib.util.find_spec("sklearn") is None:
        raise ClaimSkipped(f"scikit-learn is not installed; install {_EXTRA}")
    bundled = _bundled_digits()
    if bundled is None:
        try:
            from sklearn.datasets import load_digits
        except ImportError as exc:
            raise ClaimSkipped(f"scikit-learn is not installed; install {_EXTRA}") from exc
        bundled = load_digits(return_X_y=True)
    X, y = bundled
    return EmpiricalDistribution(np.asarray(X, dtype=float), np.asarray(y, dtype=float))


def _largest_relative_deviation(prediction, result) -> float:
    return float(np.max(np.abs(prediction.risk - result.risk) / result.risk))


def _digits_runner(claim, budget, ss):
    data = load_digits_distribution()
    lam = data.eigenvalues
    configs = [(1, 0.5)] + ([(4, 2.0)] if budget.examples else [])
    alphas = AlphaBudget(claim.alpha, [f"B={b}" for b, _ in configs])
    verdicts = []
    recursion = derive_empirical(SGD(), data)   # one recursion (its lambdified terms, N) for every config
    for j, (batch, c) in enumerate(configs):
        gamma = c / float(lam.sum())
        kw = dict(eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=0.0,
                  initial=-data.optimum, steps=255)
        res = simulate(SGD(), data=data, replicas=budget.replicas, seed=child_seed(ss, j), **kw)
        desc = f"B={batch}, gamma={c}/tr K"
        exact = recursion.trajectory(**kw)
        verdicts.append(compare(exact, res, alpha=alphas[f"B={batch}"], quantities=("risk", "second_moments", "mean"),
                                parameters=dict(dataset="sklearn digits", batch=batch, learning_rate=gamma, steps=255),
                                label=f"exact empirical recursion ({desc}): risk max rel. dev. "
                                      f"{_largest_relative_deviation(exact, res):.2%}"))
        approx_kw = {**kw, "noise_variance": data.residual_variance}
        for name, model in (("Gaussian-equivalent", Gaussian()),
                            ("independent coords, own kurtosis",
                             IndependentCoordinates(data.kurtosis_values(data.dimension)))):
            pred = derive(SGD(), model).trajectory(**approx_kw)
            k = int(np.argmax(np.abs(pred.risk - res.risk) / res.risk))
            verdicts.append(reported(res.risk[k], pred.risk[k], standard_error=res.risk_se[k],
                                     label=f"{name} theory ({desc}): largest relative deviation of the risk "
                                           f"from Monte Carlo, at step {k} (reported, not tested)"))
    return verdicts


register(Claim(
    "sgd.real_data.digits",
    "SGD on the digits data set (centred rows, target = centred labels) follows the exact "
    "empirical-distribution recursion; Gaussian-equivalent and independent-coordinates theories reported",
    "scikit-learn digits (UCI optical digits); exact recursion: Bordelon & Pehlevan, arXiv:2106.02713, Sec. 3",
    _digits_runner,
    lambda: derive_empirical(SGD(), load_digits_distribution()),
    tags=("real_data",),
))
