"""Interval estimates for proportions.

The Wilson score interval is written out here rather than taken from scipy because the cumulative (product-limit)
conversions need it at a non-integer effective sample size, which scipy's binomtest does not accept; the tests check
it against scipy.stats.binomtest(...).proportion_ci(method="wilson") at integer n.
"""

from __future__ import annotations

import math
from statistics import NormalDist

Interval = tuple[float, float]


def z_value(confidence: float = 0.95) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval for successes/n; None when n is 0."""
    if n <= 0:
        return None
    z = z_value(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def product_limit(steps: list[tuple[int, int]], confidence: float = 0.95) -> tuple[float | None, Interval | None]:
    """Chain of conditional proportions [(passed, at_risk), …] → product and an interval.

    The product is the Kaplan–Meier estimate of passing every step, which stays unbiased when open deals are
    censored. Its interval is Wilson's at the effective sample size p(1−p)/Var(p), with Greenwood's variance;
    without censoring it equals the plain Wilson interval of passed-all over started.
    """
    if not steps:
        return 1.0, (1.0, 1.0)
    if any(n <= 0 for _, n in steps):
        return None, None
    p = 1.0
    greenwood = 0.0
    for passed, n in steps:
        p *= passed / n
        if passed > 0:
            greenwood += (n - passed) / (n * passed)
    if p == 0.0:
        return 0.0, wilson_interval(0, steps[0][1], confidence)
    variance = p * p * greenwood
    if variance <= 0:  # every step passed by all: as informative as the smallest risk set
        n_eff = min(n for _, n in steps)
    else:
        n_eff = p * (1 - p) / variance
    return p, wilson_interval(p * n_eff, n_eff, confidence)
