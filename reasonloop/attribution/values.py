"""Shapley and Banzhaf values of a cooperative game given on every coalition.

The players are plugins and ``v(S)`` is the metric of a run with exactly the
plugins in ``S`` switched on (CapaBench's module attribution, Yang et al.
2025). With a handful of players every coalition is run, so both values are
computed exactly from their definitions:

- Shapley: ``phi_i = sum over S without i of |S|! (n-|S|-1)! / n! * (v(S+i) - v(S))``,
  the marginal contribution averaged over every order the plugins could be
  added in. The values add up to ``v(all) - v(none)`` (efficiency).
- Banzhaf: ``beta_i = mean over S without i of (v(S+i) - v(S))``, every
  coalition weighted alike; it need not add up to anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from math import factorial

__all__ = ["all_coalitions", "banzhaf_values", "shapley_values"]

Coalition = frozenset[str]


def all_coalitions(players: Sequence[str]) -> list[Coalition]:
    """Every subset of ``players``: the empty one first, then by size, in player order."""
    return [
        frozenset(combo)
        for size in range(len(players) + 1)
        for combo in combinations(players, size)
    ]


def _marginals(
    players: Sequence[str], value: Mapping[Coalition, float]
) -> Iterable[tuple[str, Coalition, float]]:
    _check(players, value)
    for player in players:
        others = [p for p in players if p != player]
        for coalition in all_coalitions(others):
            yield player, coalition, value[coalition | {player}] - value[coalition]


def shapley_values(players: Sequence[str], value: Mapping[Coalition, float]) -> dict[str, float]:
    """Each player's exact Shapley value; ``value`` maps every coalition to its worth."""
    n = len(players)
    phi = dict.fromkeys(players, 0.0)
    for player, coalition, gain in _marginals(players, value):
        s = len(coalition)
        phi[player] += factorial(s) * factorial(n - s - 1) / factorial(n) * gain
    return phi


def banzhaf_values(players: Sequence[str], value: Mapping[Coalition, float]) -> dict[str, float]:
    """Each player's Banzhaf value: its mean marginal gain over the others' coalitions."""
    beta = dict.fromkeys(players, 0.0)
    for player, _, gain in _marginals(players, value):
        beta[player] += gain / 2 ** (len(players) - 1)
    return beta


def _check(players: Sequence[str], value: Mapping[Coalition, float]) -> None:
    if len(set(players)) != len(players):
        raise ValueError(f"players are not unique: {list(players)}")
    missing = [sorted(c) for c in all_coalitions(players) if c not in value]
    if missing:
        raise ValueError(f"no value for coalitions {missing}")
