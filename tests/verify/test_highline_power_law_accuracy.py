"""highline.adagrad_power_law solves the ODE at a requested accuracy (POWER_LAW_ACCURACY) instead of fixed
tight tolerances: the solution must stay within that accuracy of a much tighter solve (LSODA, rtol 1e-11),
and a planted error of that size in the exponents would still be far below the checked digits."""
import numpy as np

import theory.highline as hl
from theory import adaptive as ad
from verify.claims.highline import POWER_LAW_ACCURACY, power_law_measure


def test_power_law_solution_within_the_requested_accuracy_of_a_tight_solve():
    te = np.geomspace(1e3, 1e9, 7)
    lam, w, D0 = power_law_measure(0.6, 0.8)
    kw = {"weights": w, "initial_D2": D0, "t_max": te[-1], "rule": ad.adagrad_norm(0.5, 1.0), "t_eval": np.concatenate([[0.0], te])}
    fast = hl.solve(lam, accuracy=POWER_LAW_ACCURACY, **kw)
    tight = hl.solve(lam, method="LSODA", rtol=1e-11, atol=1e-30, **kw)
    for a, b in ((fast.g, tight.g), (fast.risk, tight.risk)):
        assert np.max(np.abs(a / b - 1)) < POWER_LAW_ACCURACY
    # the exponents per decade move by far less than the 1e-2 the claim checks
    lt = np.log(te)
    assert np.max(np.abs(np.diff(np.log(fast.g[1:])) / np.diff(lt) - np.diff(np.log(tight.g[1:])) / np.diff(lt))) < 1e-5
