"""Fuse several raters' scores into one and select progressively (FIRE).

Each rater scores candidates on its own scale. :func:`win_rates` aligns the
scales: a candidate's aligned score is the share of the other candidates it
beats under that rater (ties count half), so every rater speaks in the same
unit and a rater's scale or outliers do not matter. :func:`rater_weights`
weighs each rater by

- its *reliability*: how well it orders candidates the way the consensus of
  the other raters (each weighted by its own reliability, copies of this
  rater left out) does, ``(1 + rho) / 2`` with ``rho`` the rank correlation
  to that consensus (1: the same order, 0.5: unrelated, 0: the reverse;
  FIRE measures this against a strong judge model, which a self-improvement
  loop does not have); and
- its *independence*: ``1 / sum_j max(0, rho_ij)`` over the raters, itself
  included, so ``k`` raters that say the same thing share the weight of one.

With a judge (``reliability`` given, see
:mod:`reasonloop.plugins.raters.reliability`), reliability is the rater's
agreement with the judge's pairwise preferences instead, and independence
counts only near-copies: ``1 / sum_j sameness(rho_ij)``, with sameness 0 up
to a rank correlation of :data:`REDUNDANT_CORRELATION` and rising linearly to
1 at identity. Agreeing with a good rater is then no longer redundancy (the
judge, not the others, says who is good), while copies still share one weight.

The fused score is the weighted mean of the aligned scores.
:func:`progressive_select` keeps the top share, re-aligns and re-weighs on
what it kept, and repeats until the target size is reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "COPY_CORRELATION",
    "REDUNDANT_CORRELATION",
    "RoundRecord",
    "fuse",
    "pool_sizes",
    "progressive_rank",
    "progressive_select",
    "rater_weights",
    "redundancy_independence",
    "win_rates",
]


def win_rates(scores: Sequence[float | None]) -> np.ndarray:
    """Each candidate's share of the other candidates it beats (ties and unknowns: half).

    A candidate without a score (``None``) gets 0.5, and the scored
    candidates are compared among themselves: an unknown neither helps nor
    hurts.
    """
    n = len(scores)
    out = np.full(n, 0.5)
    known = [i for i, s in enumerate(scores) if s is not None and np.isfinite(s)]
    if len(known) < 2:
        return out
    values = np.array([scores[i] for i in known], dtype=float)
    ordered = np.sort(values)
    below = np.searchsorted(ordered, values, side="left")
    ties = np.searchsorted(ordered, values, side="right") - below - 1
    share = (below + 0.5 * ties) / (len(known) - 1)
    out[known] = share
    return out


def _correlations(aligned: np.ndarray) -> np.ndarray:
    """Pearson correlation of the aligned columns (rank correlation); constants: 0."""
    centred = aligned - aligned.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    safe = np.where(norms > 0, norms, 1.0)
    unit = centred / safe
    corr = unit.T @ unit
    corr[:, norms == 0] = 0.0
    corr[norms == 0, :] = 0.0
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a**2).sum() * (b**2).sum()))
    return float((a * b).sum() / denom) if denom > 0 else 0.0


#: Raters whose rank correlation is above this are copies of each other when
#: judging reliability (a rater cannot vouch for itself through its copy).
COPY_CORRELATION = 0.9

#: With a judge, raters share weight from this rank correlation up (fully at 1).
REDUNDANT_CORRELATION = 0.75


def redundancy_independence(corr: np.ndarray) -> np.ndarray:
    """``1 / sum_j sameness(rho_ij)``: near-copies share one weight, related raters do not."""
    sameness = np.clip((corr - REDUNDANT_CORRELATION) / (1.0 - REDUNDANT_CORRELATION), 0.0, 1.0)
    np.fill_diagonal(sameness, 1.0)
    return 1.0 / sameness.sum(axis=1)


def rater_weights(
    aligned: np.ndarray, reliability: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reliability, independence, weight) of each column of ``aligned`` (candidates x raters).

    ``reliability``, when given (one value per column, from a judge), is used
    as it is, with :func:`redundancy_independence`; else it is estimated from
    the consensus as follows.

    A rater's consensus is the mean of the other raters, each weighted by its
    own reliability and left out (smoothly, from a rank correlation of
    :data:`COPY_CORRELATION` up to 1) when it is a copy of this rater.
    Reliability and consensus are refined together until they settle, so a
    rater that contradicts the rest stops pulling the consensus its way.
    Weights are ``reliability * independence``, normalised to sum to 1
    (equal weights when every product is 0).
    """
    m = aligned.shape[1]
    if m == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    corr = _correlations(aligned)
    if reliability is not None:
        return _normalised(np.asarray(reliability, dtype=float), redundancy_independence(corr))
    independence = 1.0 / np.maximum(corr, 0.0).sum(axis=1)
    distinct = np.clip((1.0 - corr) / (1.0 - COPY_CORRELATION), 0.0, 1.0)
    reliability = np.ones(m)
    for _ in range(50):
        updated = np.ones(m)
        for i in range(m):
            w = reliability * distinct[i]
            w[i] = 0.0
            if w.sum() > 1e-9:
                consensus = aligned @ w / w.sum()
                updated[i] = (1.0 + _correlation(aligned[:, i], consensus)) / 2.0
        settled = np.abs(updated - reliability).max() < 1e-6
        reliability = updated
        if settled:
            break
    return _normalised(reliability, independence)


def _normalised(
    reliability: np.ndarray, independence: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    raw = reliability * independence
    total = raw.sum()
    m = len(raw)
    weights = raw / total if total > 0 else np.full(m, 1.0 / m)
    return reliability, independence, weights


def fuse(aligned: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The fused score of each candidate: its weighted mean aligned score."""
    if aligned.shape[1] == 0:
        return np.full(aligned.shape[0], 0.5)
    return aligned @ weights


def pool_sizes(n: int, keep: int, rounds: int) -> list[int]:
    """How many candidates remain after each round: a geometric path from ``n`` to ``keep``."""
    keep = min(keep, n)
    if n == 0:
        return [0] * rounds
    sizes = [max(keep, round(n * (keep / n) ** (r / rounds))) for r in range(1, rounds + 1)]
    sizes[-1] = keep
    for r in range(1, rounds):  # never grow
        sizes[r] = min(sizes[r], sizes[r - 1])
    return sizes


@dataclass
class RoundRecord:
    """What one round of progressive selection saw and decided."""

    pool: int
    kept: int
    weights: dict[str, float]
    reliability: dict[str, float] = field(default_factory=dict)
    independence: dict[str, float] = field(default_factory=dict)
    #: Raters with no signal on this round's pool (every score equal or unknown).
    silent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "kept": self.kept,
            "weights": self.weights,
            "reliability": self.reliability,
            "independence": self.independence,
            "silent": self.silent,
        }


def progressive_select(
    scores: Mapping[str, Sequence[float | None]],
    keep: int,
    rounds: int = 1,
    fixed: Mapping[str, float] | None = None,
    reliability: Mapping[str, float] | None = None,
) -> tuple[list[int], list[RoundRecord]]:
    """Indices of the ``keep`` best candidates, and what each round did.

    ``scores`` maps each rater to one score per candidate. Each round aligns
    the scores on the remaining candidates, drops raters with no signal
    there, weighs the rest (``fixed`` weights when given, else reliability x
    independence; ``reliability`` per rater when a judge measured it, else
    from the consensus), and keeps the best of the pool by fused score (ties: the
    earlier candidate). The indices come back in candidate order.
    """
    rank, records = progressive_rank(scores, keep, rounds, fixed, reliability)
    return sorted(rank[: min(keep, len(rank))]), records


def progressive_rank(
    scores: Mapping[str, Sequence[float | None]],
    keep: int,
    rounds: int = 1,
    fixed: Mapping[str, float] | None = None,
    reliability: Mapping[str, float] | None = None,
) -> tuple[list[int], list[RoundRecord]]:
    """Every candidate, best first, as :func:`progressive_select` sees them.

    The ``keep`` it keeps come first, in their last round's fused order; then
    those its last round dropped, best first; then those dropped a round
    earlier, and so on. A quota (:mod:`reasonloop.plugins.raters.quota`)
    walks this order to swap candidates in and out.
    """
    names = list(scores)
    n = len(next(iter(scores.values()))) if scores else 0
    pool = list(range(n))
    records: list[RoundRecord] = []
    if n == 0:
        return [], records
    dropped: list[list[int]] = []
    ranked = pool
    for r, size in enumerate(pool_sizes(n, keep, rounds)):
        if r > 0 and len(pool) <= size:
            break  # nothing left to drop
        aligned_all = {name: win_rates([scores[name][i] for i in pool]) for name in names}
        active = [name for name in names if np.ptp(aligned_all[name]) > 0]
        silent = [name for name in names if name not in active]
        if fixed is not None:
            active = [name for name in active if fixed.get(name, 0.0) > 0]
        matrix = (
            np.column_stack([aligned_all[name] for name in active])
            if active
            else np.zeros((len(pool), 0))
        )
        if fixed is not None:
            given = np.array([fixed[name] for name in active], dtype=float)
            weights = given / given.sum() if given.sum() > 0 else given
            record = RoundRecord(len(pool), size, _named(active, weights, names))
        else:
            judged = (
                None
                if reliability is None
                else np.array([reliability.get(name, 0.0) for name in active])
            )
            rel, independence, weights = rater_weights(matrix, judged)
            record = RoundRecord(
                len(pool),
                size,
                _named(active, weights, names),
                _named(active, rel, []),
                _named(active, independence, []),
            )
        record.silent = silent
        records.append(record)
        fused = fuse(matrix, weights)
        order = sorted(range(len(pool)), key=lambda k: (-fused[k], k))
        best_first = [pool[k] for k in order]
        dropped.append(best_first[size:])
        ranked = best_first[:size]
        pool = sorted(ranked)
    return ranked + [i for out in reversed(dropped) for i in out], records


def _named(active: list[str], values: np.ndarray, every: list[str]) -> dict[str, float]:
    out = {name: 0.0 for name in every}
    out.update({name: round(float(v), 4) for name, v in zip(active, values, strict=True)})
    return out
