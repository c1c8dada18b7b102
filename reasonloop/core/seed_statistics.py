"""Intervals for an accuracy measured over several seeds on the same problems.

A seed group gives a table ``y[s, i]``: seed ``s``'s outcome on problem
``i``. Both the seeds and the problems are draws from larger populations
(other seeds of the same recipe, other problems like these), so the mean
accuracy varies with each. The interval here covers both, from the two-way
(crossed) random-effects decomposition of ``y``; see docs/statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, computed_field

from reasonloop.core.statistics import bootstrap_interval

__all__ = ["PooledEstimate", "pooled_estimate", "t_quantile"]


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` (possibly fractional) degrees of freedom.

    The density is integrated numerically (Simpson's rule on a substitution
    that keeps the heavy tail finite) and the quantile found by bisection:
    accurate to about 1e-6, enough for an interval's end.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def mass(x: float) -> float:
        # P(0 < T < x), with t = tan(u): the integrand stays bounded on [0, atan x].
        u = np.linspace(0.0, math.atan(x), 2001)
        t = np.tan(u)
        f = np.exp(log_c - (df + 1) / 2 * np.log1p(t * t / df)) / np.cos(u) ** 2
        h = u[1] - u[0]
        return float(h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()))

    target = p - 0.5
    lo, hi = 0.0, 1.0
    while mass(hi) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if mass(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class PooledEstimate(BaseModel):
    """A mean over seeds and problems, with the intervals a seed group reports."""

    model_config = ConfigDict(extra="forbid")

    seeds: int
    problems: int
    #: The mean over every seed and problem (= the mean of the per-seed accuracies).
    mean: float
    #: Each seed's mean, in the order the seeds were given.
    per_seed: list[float]
    #: Sample standard deviation of ``per_seed`` (0 for one seed).
    std: float
    min: float
    max: float
    #: 95% interval for the recipe's expected value over new seeds and new problems.
    interval: tuple[float, float]
    #: Degrees of freedom of the t quantile behind ``interval`` (Satterthwaite).
    df: float
    #: Variance components: between seeds, between problems, and what is left.
    seed_variance: float
    problem_variance: float
    residual_variance: float
    #: 95% bootstrap interval over problems with these seeds held fixed
    #: (per-problem means over seeds, resampled): what ``compare`` uses.
    problems_interval: tuple[float, float]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def distinguishable(self) -> bool:
        """Whether ``interval`` excludes zero (meaningful for a difference)."""
        lo, hi = self.interval
        return lo > 0 or hi < 0


def pooled_estimate(
    values: Sequence[Sequence[float]] | np.ndarray,
    confidence: float = 0.95,
    bounds: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> PooledEstimate:
    """The mean of a seeds x problems table with its spread and its pooled intervals.

    ``values[s][i]`` is seed ``s``'s score on problem ``i`` (0/1 correctness,
    or a difference in -1..1 with ``bounds=(-1, 1)``); every seed has every
    problem, in the same order. The interval is mean +- t * se, where

        se^2 = var_seeds / S + var_problems / N + var_residual / (S N)

    with the components estimated from the two-way ANOVA mean squares
    (each clipped at zero), and the t quantile's degrees of freedom from
    Satterthwaite's approximation. With one seed it is the usual interval
    over problems; with one problem, the usual interval over seeds.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"need a seeds x problems table with at least one of each, got {y.shape}")
    n_seeds, n_problems = y.shape
    grand = float(y.mean())
    per_seed = y.mean(axis=1)
    per_problem = y.mean(axis=0)
    # (mean square, its degrees of freedom, its coefficient in se^2 * S * N)
    terms: list[tuple[float, float, float]] = []
    var_s = var_p = var_e = 0.0
    if n_seeds > 1 and n_problems > 1:
        ms_s = n_problems * float(((per_seed - grand) ** 2).sum()) / (n_seeds - 1)
        ms_p = n_seeds * float(((per_problem - grand) ** 2).sum()) / (n_problems - 1)
        resid = y - per_seed[:, None] - per_problem[None, :] + grand
        df_e = (n_seeds - 1) * (n_problems - 1)
        ms_e = float((resid**2).sum()) / df_e
        var_s = max(0.0, (ms_s - ms_e) / n_problems)
        var_p = max(0.0, (ms_p - ms_e) / n_seeds)
        var_e = ms_e
        c_s, c_p = float(var_s > 0), float(var_p > 0)
        terms = [(ms_s, n_seeds - 1, c_s), (ms_p, n_problems - 1, c_p), (ms_e, df_e, 1 - c_s - c_p)]
    elif n_problems > 1:  # one seed: the problems are the only random part
        ms_p = n_seeds * float(((per_problem - grand) ** 2).sum()) / (n_problems - 1)
        var_p = ms_p / n_seeds
        terms = [(ms_p, n_problems - 1, 1.0)]
    elif n_seeds > 1:  # one problem: the seeds are
        ms_s = n_problems * float(((per_seed - grand) ** 2).sum()) / (n_seeds - 1)
        var_s = ms_s / n_problems
        terms = [(ms_s, n_seeds - 1, 1.0)]
    combined = sum(c * ms for ms, _, c in terms)
    se2 = combined / (n_seeds * n_problems)
    lo_b, hi_b = bounds
    if se2 > 0:
        denom = sum((c * ms) ** 2 / df for ms, df, c in terms if c)
        df = combined**2 / denom if denom > 0 else math.inf
        half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(se2)
        interval = (max(lo_b, grand - half), min(hi_b, grand + half))
    else:
        # Every cell alike (all solved, none solved): nothing varies to measure.
        df = float(max(1, n_seeds * n_problems - 1))
        interval = (grand, grand)
    return PooledEstimate(
        seeds=n_seeds,
        problems=n_problems,
        mean=grand,
        per_seed=[float(v) for v in per_seed],
        # Seeds that agree exactly (greedy evaluation of one model) report 0, not rounding noise.
        std=float(per_seed.std(ddof=1)) if n_seeds > 1 and np.ptp(per_seed) > 0 else 0.0,
        min=float(per_seed.min()),
        max=float(per_seed.max()),
        interval=interval,
        df=float(df),
        seed_variance=var_s,
        problem_variance=var_p,
        residual_variance=var_e,
        problems_interval=bootstrap_interval(per_problem, confidence=confidence, seed=seed),
    )
