"""The PDPC arrangement: perplexity difference, preference functions, the offline order.

PD = (PPL_weak - PPL_strong) / PPL_weak says how much better a strong model
fits an example than a weak one. The examples with the highest PD (a share
``high_share`` of them) form the *high* pool, the rest the *low* pool. A
preference function f(t) gives the share of high-PD examples at training
progress t in [0, 1]; it rises over training and its mean over [0, 1] is the
high pool's share of the data, so every example is used exactly once.
:func:`arrange` lays the examples out so that the first m positions hold
round(N * integral of f from 0 to m/N) high-PD ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Arrangement",
    "PreferenceFunction",
    "arrange",
    "perplexity_difference",
    "segment_shares",
]

Shape = Literal["linear", "sigmoid"]


def perplexity_difference(weak: float | None, strong: float | None) -> float | None:
    """(PPL_weak - PPL_strong) / PPL_weak; ``None`` when either is missing."""
    if weak is None or strong is None or not weak > 0:
        return None
    return (weak - strong) / weak


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


@dataclass(frozen=True)
class PreferenceFunction:
    """f(t) = rho + lam * (g(t) - 1/2): the share of high-PD data at progress t.

    g rises from 0 to 1 (linear: t; sigmoid: a logistic curve of steepness k
    centred at t = 1/2, rescaled to [0, 1]); both have mean 1/2, so f has
    mean ``rho``. ``lam`` is the widest swing that keeps f within [0, 1]:
    with ``rho = 1/2`` the share goes from 0 at the start to 1 at the end.
    ``falling`` mirrors it in time, f(1 - t): high-PD data first (an
    ablation of the curriculum's direction, not PDPC).
    """

    shape: Shape
    rho: float
    steepness: float = 10.0
    falling: bool = False

    @property
    def lam(self) -> float:
        return min(2 * self.rho, 2 * (1 - self.rho))

    def g(self, t: float) -> float:
        if self.shape == "linear":
            return t
        k = self.steepness
        lo, hi = _sigmoid(-k / 2), _sigmoid(k / 2)
        return (_sigmoid(k * (t - 0.5)) - lo) / (hi - lo)

    def _g_integral(self, t: float) -> float:
        if self.shape == "linear":
            return t * t / 2
        k = self.steepness
        lo, hi = _sigmoid(-k / 2), _sigmoid(k / 2)
        raw = (_softplus(k * (t - 0.5)) - _softplus(-k / 2)) / k
        return (raw - lo * t) / (hi - lo)

    def __call__(self, t: float) -> float:
        """The share of high-PD examples at progress ``t``."""
        if self.falling:
            t = 1 - t
        return self.rho + self.lam * (self.g(t) - 0.5)

    def cumulative(self, t: float) -> float:
        """The integral of f from 0 to ``t``: the high-PD share of the data up to t."""
        if t >= 1:
            return self.rho
        if self.falling:
            # The integral of f(1 - s) over [0, t] is F(1) - F(1 - t) of the rising f.
            return self.rho - self._rising_cumulative(1 - t)
        return self._rising_cumulative(t)

    def _rising_cumulative(self, t: float) -> float:
        if t >= 1:
            return self.rho
        if t <= 0:
            return 0.0
        return self.rho * t + self.lam * (self._g_integral(t) - t / 2)


@dataclass
class Arrangement:
    """The order built from a preference function, and which positions are high-PD."""

    #: Indices into the scored items, in training order.
    order: list[int]
    #: ``high[i]``: whether position i of the order holds a high-PD item.
    high: list[bool]
    #: The score from which an item counts as high (``None``: no high pool).
    threshold: float | None


def arrange(
    scores: Sequence[float | None],
    preference: PreferenceFunction | None,
    *,
    shape: Shape = "linear",
    high_share: float = 0.5,
    steepness: float = 10.0,
    falling: bool = False,
    seed: int = 0,
) -> Arrangement:
    """Order items by their scores (PD, or perplexity) along the preference function.

    The ``round(high_share * N)`` items with the highest scores are the high
    pool; a missing score counts as the lowest. Within each pool the order is
    a shuffle seeded by ``seed`` (the preference function sets the mixture,
    not a sort). ``preference`` overrides the one built from ``shape``,
    ``high_share``, ``steepness`` and ``falling``.
    """
    n = len(scores)
    ranked = sorted(
        range(n),
        key=lambda i: (scores[i] is not None, scores[i] if scores[i] is not None else 0.0, -i),
        reverse=True,
    )
    h = min(n, max(0, round(high_share * n)))
    high_pool, low_pool = ranked[:h], ranked[h:]
    rng = random.Random(seed)
    rng.shuffle(high_pool)
    rng.shuffle(low_pool)
    threshold = scores[ranked[h - 1]] if h else None
    if n == 0:
        return Arrangement([], [], None)
    f = preference or PreferenceFunction(shape, h / n, steepness, falling)
    order: list[int] = []
    high: list[bool] = []
    taken, lows = 0, n - h
    for m in range(n):
        due = math.floor(n * f.cumulative((m + 1) / n) + 0.5)
        # Never more high items than there are, nor fewer than the low pool forces.
        due = min(h, max(due, m + 1 - lows))
        take_high = due > taken and bool(high_pool)
        order.append(high_pool.pop() if take_high else low_pool.pop())
        high.append(take_high)
        taken += take_high
    return Arrangement(order, high, threshold)


def segment_shares(
    high: Sequence[bool], preference: PreferenceFunction, segments: int = 10
) -> list[dict[str, float | int]]:
    """Planned and realised high-PD share in ``segments`` equal stretches of the order."""
    n = len(high)
    rows: list[dict[str, float | int]] = []
    for s in range(min(segments, n)):
        a, b = s * n // min(segments, n), (s + 1) * n // min(segments, n)
        planned = (preference.cumulative(b / n) - preference.cumulative(a / n)) / ((b - a) / n)
        rows.append(
            {
                "segment": s,
                "start": a,
                "end": b,
                "planned": round(planned, 4),
                "realised": round(sum(high[a:b]) / (b - a), 4),
            }
        )
    return rows
