"""Intervals and paired tests for held-out accuracy, so a difference can be told from noise."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, computed_field

__all__ = [
    "PairedComparison",
    "bootstrap_interval",
    "mcnemar_exact",
    "paired_bootstrap_interval",
    "paired_comparison",
    "wilson_interval",
]

#: The significance level that goes with the 95% intervals.
ALPHA = 0.05

#: Bootstrap resamples: enough that the interval's ends move by well under a point between seeds.
RESAMPLES = 2000


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion of ``successes`` out of ``n``.

    Unlike the normal approximation it stays inside [0, 1] and keeps its
    coverage near 0% and 100% and on small ``n``. ``n == 0`` gives [0, 1].
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the ends are exactly 0 or 1; rounding would leave them just off.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def bootstrap_interval(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.mean,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """A seeded percentile-bootstrap interval for ``statistic`` of per-problem ``values``.

    Problems are resampled with replacement, so this fits any per-problem
    metric (pass@k, a mean score). The same seed gives the same interval.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("a bootstrap interval needs at least one problem")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    if statistic is np.mean:
        # One vectorised pass: the common case, and the one the coverage tests run thousands of.
        stats = data[idx].mean(axis=1)
    else:
        stats = np.array([statistic(data[row]) for row in idx])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def paired_bootstrap_interval(
    a: Sequence[float],
    b: Sequence[float],
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile-bootstrap interval for mean(b) - mean(a), resampling problems in pairs.

    ``a`` and ``b`` are outcomes (0/1, or a seed group's fraction solved) on
    the same problems in the same order;
    pairing removes the problem-to-problem variance both sides share.
    """
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need the same problems, got {len(a)} and {len(b)}")
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return bootstrap_interval(diff, np.mean, confidence, resamples, seed)


def mcnemar_exact(gained: int, lost: int) -> float:
    """McNemar's exact two-sided p-value from the discordant pairs.

    Under no change each discordant problem is gained or lost with
    probability 1/2; the p-value is twice the binomial tail of the smaller
    count, capped at 1, computed exactly in integers.
    """
    if gained < 0 or lost < 0:
        raise ValueError(f"discordant counts must be non-negative, got {gained} and {lost}")
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(gained, lost) + 1))
    return min(1.0, 2 * tail / 2**n)


class PairedComparison(BaseModel):
    """Two evaluations on the same problems, compared problem by problem."""

    model_config = ConfigDict(extra="forbid")

    #: Problems both sides answered.
    problems: int
    accuracy_a: float
    accuracy_b: float
    #: accuracy_b - accuracy_a.
    difference: float
    #: 95% paired-bootstrap interval for the difference.
    interval: tuple[float, float]
    #: McNemar's exact two-sided p-value.
    p_value: float
    #: Problems b solves and a does not.
    gained: int
    #: Problems a solves and b does not.
    lost: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def interval_excludes_zero(self) -> bool:
        """Whether the paired-bootstrap interval lies wholly above or below zero."""
        lo, hi = self.interval
        return lo > 0 or hi < 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["distinguishable", "borderline", "not distinguishable"]:
        """What the two tests say together.

        ``distinguishable`` when the interval excludes zero *and* McNemar's
        p-value is under ``1 - confidence``; ``borderline`` when only one of
        them says so (the percentile bootstrap runs a little narrow on few
        discordant problems, the exact test a little wide); otherwise
        ``not distinguishable``.
        """
        votes = int(self.interval_excludes_zero) + int(self.p_value < ALPHA)
        return ("not distinguishable", "borderline", "distinguishable")[votes]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def distinguishable(self) -> bool:
        """Whether the change is more than noise by both tests (``verdict`` says more)."""
        return self.verdict == "distinguishable"


def paired_comparison(
    a: dict[str, bool] | dict[str, float],
    b: dict[str, bool] | dict[str, float],
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedComparison:
    """Compare two per-problem outcome maps (problem id -> correct) on the ids they share.

    An outcome may also be a fraction (a seed group's share of seeds that
    solved the problem): gained and lost then count the problems whose
    outcome rose or fell, and McNemar's test becomes the exact sign test.
    """
    ids = sorted(set(a) & set(b))
    if not ids:
        raise ValueError("the two evaluations share no problems")
    xa = [float(a[i]) for i in ids]
    xb = [float(b[i]) for i in ids]
    gained = sum(1 for p, q in zip(xa, xb, strict=True) if q > p)
    lost = sum(1 for p, q in zip(xa, xb, strict=True) if p > q)
    acc_a, acc_b = sum(xa) / len(ids), sum(xb) / len(ids)
    return PairedComparison(
        problems=len(ids),
        accuracy_a=acc_a,
        accuracy_b=acc_b,
        difference=acc_b - acc_a,
        interval=paired_bootstrap_interval(xa, xb, confidence, seed=seed),
        p_value=mcnemar_exact(gained, lost),
        gained=gained,
        lost=lost,
    )
