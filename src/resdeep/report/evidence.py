"""Whether a gap between two networks' final errors is larger than the spread between seeds: Welch's t-test.

Numpy and the standard library only (no scipy): Student's t distribution through the regularised incomplete
beta function (Numerical Recipes' continued fraction), its quantile by bisection. Deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

LEVEL = 0.95  # the interval's coverage; a claim needs the interval to exclude zero (p < 0.05)


@dataclass(frozen=True)
class Comparison:
    """deep minus shallow: means, spreads and seed counts of each side, and the test when both have 2+ seeds."""

    deep_mean: float
    deep_std: Optional[float]  # None with one seed
    deep_seeds: int
    shallow_mean: float
    shallow_std: Optional[float]
    shallow_seeds: int
    t: Optional[float] = None
    df: Optional[float] = None
    p: Optional[float] = None
    low: Optional[float] = None  # the 95% interval of the gap
    high: Optional[float] = None

    @property
    def gap(self) -> float:
        return self.deep_mean - self.shallow_mean

    @property
    def tested(self) -> bool:
        return self.p is not None

    @property
    def beyond_seed_spread(self) -> bool:
        """The gap's 95% interval excludes zero: depth, not the seed, explains it (at the 5% level)."""
        return self.tested and self.p < 1 - LEVEL


def compare(deep: Sequence[float], shallow: Sequence[float]) -> Comparison:
    """Mean ± std of each side and, with at least two seeds a side, Welch's t-test of deep - shallow."""
    a, b = np.asarray(deep, dtype=np.float64), np.asarray(shallow, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("compare needs at least one value a side")
    std = lambda x: float(x.std(ddof=1)) if len(x) > 1 else None  # noqa: E731 - the sample std, as in Table 6
    sides = dict(deep_mean=float(a.mean()), deep_std=std(a), deep_seeds=len(a),
                 shallow_mean=float(b.mean()), shallow_std=std(b), shallow_seeds=len(b))
    if len(a) < 2 or len(b) < 2:
        return Comparison(**sides)
    gap = float(a.mean() - b.mean())
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:  # every seed gave the same error on both sides: no spread at all
        p = 1.0 if gap == 0 else 0.0
        return Comparison(**sides, t=math.copysign(math.inf, gap) if gap else 0.0, df=float(len(a) + len(b) - 2), p=p, low=gap, high=gap)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    t = gap / se
    half = t_quantile((1 + LEVEL) / 2, df) * se
    return Comparison(**sides, t=t, df=df, p=two_sided_p(t, df), low=gap - half, high=gap + half)


def two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2, 0.5, df / (df + t * t))


def t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = probability (0.5 < probability < 1), by bisection on the distribution function."""
    low, high = 0.0, 1.0
    while 1 - two_sided_p(high, df) / 2 < probability:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if 1 - two_sided_p(middle, df) / 2 < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result
