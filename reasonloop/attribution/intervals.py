"""Bootstrap intervals for an attribution: every subset's metric and every plugin's values.

Every subset is scored on the same held-out problems (and, with ``--seeds``,
under the same seeds), so one resample is drawn for all of them at once:
each resample's ``v(S)`` for every coalition comes from the same problems,
and the Shapley and Banzhaf values of that resample are computed from those.
Like a paired comparison, this keeps out the problem-to-problem variation
that every subset shares (an easy problem is easy with or without a plugin).

With several seeds the problems and the seeds are crossed (every seed runs
every problem), so each resample draws problems and seeds independently,
each with replacement, and ``v(S)`` is the mean over the drawn seeds of the
mean over the drawn problems: the two-way ("pigeonhole") bootstrap of Owen
(2007). Both values are linear in ``v``, so they are computed for all
``B`` resamples at once from the ``(coalitions, B)`` array of worths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import factorial

import numpy as np

from reasonloop.attribution.values import all_coalitions
from reasonloop.core.statistics import RESAMPLES

__all__ = [
    "ValueIntervals",
    "player_values",
    "resampled_worths",
    "spans_zero",
    "value_intervals",
]


def player_values(players: Sequence[str], worths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapley and Banzhaf values, ``(players, ...)``, from worths ``(coalitions, ...)``.

    The coalitions are in :func:`all_coalitions` order; any further axes (one
    per resample) are carried along. Each value is a weighted sum of
    marginal gains ``v(S + i) - v(S)``, so a player that changes nothing gets
    exactly 0 on every resample, not a rounding residue.
    """
    coalitions = all_coalitions(players)
    index = {c: i for i, c in enumerate(coalitions)}
    n = len(players)
    shapley = np.zeros((n, *worths.shape[1:]))
    banzhaf = np.zeros_like(shapley)
    for i, player in enumerate(players):
        without = [c for c in coalitions if player not in c]
        gains = worths[[index[c | {player}] for c in without]] - worths[[index[c] for c in without]]
        weights = np.array([factorial(len(c)) * factorial(n - len(c) - 1) for c in without])
        shapley[i] = np.tensordot(weights / factorial(n), gains, axes=1)
        banzhaf[i] = gains.mean(axis=0)
    return shapley, banzhaf


def _counts(draws: np.ndarray, size: int) -> np.ndarray:
    """How often each of ``size`` items was drawn in each row of ``draws``."""
    rows = draws.shape[0]
    flat = draws + size * np.arange(rows)[:, None]
    return np.bincount(flat.ravel(), minlength=rows * size).reshape(rows, size).astype(float)


def resampled_worths(
    per_problem: np.ndarray, resamples: int = RESAMPLES, seed: int = 0, total: bool = False
) -> np.ndarray:
    """Every coalition's worth on each resample: ``(coalitions, resamples)``.

    ``per_problem`` is ``(coalitions, seeds, problems)``: each run's value on
    each problem. A worth is the mean over seeds of the mean over problems
    (of the sum, with ``total``, for a metric such as tokens). The problems'
    draw comes first from the seeded generator, so with one seed a row is
    exactly the resample :func:`~reasonloop.core.statistics.bootstrap_interval`
    draws with the same seed.
    """
    if per_problem.ndim != 3 or 0 in per_problem.shape:
        raise ValueError(f"need (coalitions, seeds, problems) values, got {per_problem.shape}")
    _, seeds, problems = per_problem.shape
    rng = np.random.default_rng(seed)
    problem_counts = _counts(rng.integers(0, problems, size=(resamples, problems)), problems)
    if seeds == 1:
        seed_counts = np.ones((resamples, 1))
    else:
        seed_counts = _counts(rng.integers(0, seeds, size=(resamples, seeds)), seeds)
    by_seed = per_problem @ problem_counts.T  # (coalitions, seeds, resamples)
    worths = np.einsum("csb,bs->cb", by_seed, seed_counts) / (seeds * problems)
    return worths * problems if total else worths


def spans_zero(interval: Sequence[float]) -> bool:
    """Whether an interval holds 0: the value is not distinguishable from zero."""
    lo, hi = interval
    return lo <= 0 <= hi


@dataclass(frozen=True)
class ValueIntervals:
    """Percentile intervals from one set of resamples, shared by subsets and values."""

    #: One ``(lo, hi)`` per coalition, in :func:`all_coalitions` order.
    worths: list[tuple[float, float]]
    shapley: dict[str, tuple[float, float]]
    banzhaf: dict[str, tuple[float, float]]


def value_intervals(
    players: Sequence[str],
    per_problem: np.ndarray,
    *,
    total: bool = False,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> ValueIntervals:
    """Bootstrap intervals of every coalition's worth and every player's two values.

    ``per_problem`` is ``(coalitions, seeds, problems)`` with the coalitions
    in :func:`all_coalitions` order and the same problems (and seeds) in the
    same order for every coalition.
    """
    if per_problem.shape[0] != 2 ** len(players):
        need, got = 2 ** len(players), per_problem.shape[0]
        raise ValueError(f"{len(players)} players need {need} coalitions, got {got}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    worths = resampled_worths(per_problem, resamples, seed, total)
    shapley, banzhaf = player_values(players, worths)
    alpha = (1 - confidence) / 2

    def ends(stats: np.ndarray) -> list[tuple[float, float]]:
        lo, hi = np.quantile(stats, [alpha, 1 - alpha], axis=1)
        return [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]

    return ValueIntervals(
        worths=ends(worths),
        shapley=dict(zip(players, ends(shapley), strict=True)),
        banzhaf=dict(zip(players, ends(banzhaf), strict=True)),
    )
