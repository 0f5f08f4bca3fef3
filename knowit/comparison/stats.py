"""The statistics behind honest comparisons, in plain numpy and ``math`` (no scipy at run time).

- ``t_interval``: mean, sample std and the two-sided Student-t interval of a few values
  (repeats, backtest folds).
- ``diebold_mariano``: are two forecasts' losses on the same points equal on average? The loss
  differential's mean over its Newey-West (Bartlett-weighted HAC) standard error, with
  ``lag = horizon - 1`` because h-step forecast errors are autocorrelated up to lag h-1.
- ``mcnemar``: do two classifiers err on the same points equally often? Exact binomial on the
  discordant pairs when they are few, the continuity-corrected chi-square otherwise.
- ``holm``: Holm's step-down adjustment of a family of p-values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EXACT_MCNEMAR_BELOW = 50  # discordant pairs; the chi-square approximation is poor for fewer


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on ``t_sf``; exact to ~1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile {q} is outside (0, 1)")
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while 1.0 - t_sf(hi, df) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 1.0 - t_sf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for one value
    low: float  # the two-sided interval; equal to the mean for one value
    high: float
    level: float = 0.95

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "mean": self.mean, "std": self.std, "ci_low": self.low, "ci_high": self.high, "level": self.level}


def t_interval(values: np.ndarray | list[float], level: float = 0.95) -> Interval:
    """Mean, std and the Student-t ``level`` interval of the mean of ``values``."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, 0.0, mean, mean, level)
    std = float(x.std(ddof=1))
    half = t_ppf(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half, level)


def hac_variance(d: np.ndarray, lag: int) -> float:
    """Newey-West long-run variance of ``d``: autocovariances up to ``lag`` with Bartlett weights."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    e = d - d.mean()
    total = float(e @ e) / n
    for k in range(1, min(lag, n - 1) + 1):
        total += 2.0 * (1.0 - k / (lag + 1.0)) * float(e[k:] @ e[:-k]) / n
    return total


@dataclass(frozen=True)
class TestResult:
    name: str
    statistic: float
    p_value: float
    detail: dict

    def as_dict(self) -> dict:
        return {"test": self.name, "statistic": self.statistic, "p_value": self.p_value, **self.detail}


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, *, horizon: int = 1) -> TestResult:
    """Two-sided Diebold-Mariano test of equal expected loss on the same points, in time order.

    ``statistic`` < 0 means A's losses are lower. The mean differential is divided by its HAC
    standard error (``lag = horizon - 1``), then scaled by Harvey, Leybourne and Newbold's (1997)
    small-sample factor ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)``, with the p-value from
    Student's t with ``n - 1`` degrees of freedom. Without it a test set of a few points (a
    monthly series' 6) reads as overwhelming evidence: on equal 3-step forecasts the normal
    p-value fell below 5 % in 30 % of trials at n=6 and 16 % at n=20 (4 % and 7 % corrected).
    """
    a, b = np.asarray(loss_a, dtype=np.float64), np.asarray(loss_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the two loss series must be 1-D and of equal length")
    d = a - b
    n = len(d)
    lag = max(0, int(horizon) - 1)
    h = lag + 1
    variance = hac_variance(d, lag) / n if n > 1 else 0.0
    mean = float(d.mean()) if n else 0.0
    small_sample = (n + 1 - 2 * h + h * (h - 1) / n) / n if n else 0.0
    if variance <= 0.0 or small_sample <= 0.0:  # identical losses everywhere, or too few points for the horizon
        stat, p = (0.0, 1.0) if mean == 0.0 or small_sample <= 0.0 else (math.copysign(math.inf, mean), 0.0)
    else:
        stat = mean / math.sqrt(variance) * math.sqrt(small_sample)
        p = min(1.0, 2.0 * t_sf(abs(stat), n - 1))
    return TestResult("diebold_mariano", stat, p, {"n": n, "mean_loss_difference": mean, "hac_lag": lag,
                                                   "small_sample_correction": "Harvey-Leybourne-Newbold, Student's t with n-1 df"})


def binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips (symmetric: doubled tail)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> TestResult:
    """McNemar's test on paired correctness; ``statistic`` is (b - c): A right and B wrong minus the reverse."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("the two correctness arrays must have equal length")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n < EXACT_MCNEMAR_BELOW:
        p, method = binom_two_sided(only_a, n), "exact binomial"
    else:
        chi2 = (abs(only_a - only_b) - 1.0) ** 2 / n
        p, method = math.erfc(math.sqrt(chi2 / 2.0)), "chi-square, continuity corrected"
    return TestResult("mcnemar", float(only_a - only_b), p, {"n": int(len(a)), "only_a_correct": only_a, "only_b_correct": only_b, "method": method})


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted.tolist()
