"""Null studies of :func:`verify.compare` at a larger size than ``python -m verify calibrate``'s default.

Run from the repository root::

    python benchmarks/bench_calibration.py [--runs 5000] [--replicas 1000] [--regimes readme 0.7gc ...]

Prints, per regime of :data:`verify.calibrate.REGIMES`, the false failures at alpha = 0.05,
0.01 and 0.001 with 95 % Clopper-Pearson intervals and the Binomial 99 % limit; exits non-zero
if any count exceeds its limit. With 5000 runs a doubled rate is detected with probability
> 0.99 at alpha = 0.01 and about 0.6 at alpha = 0.001.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verify.__main__ import main  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--runs" not in argv:
        argv = ["--runs", "5000"] + argv
    sys.exit(main(["calibrate", "--power-runs", "0"] + argv))
