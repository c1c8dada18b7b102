"""``attribution.json``'s content: each subset's metric with its interval, and the values.

The runner hands over, for every subset and seed, the run's row (its
directory, status, metric and cost) and its per-problem values. This module
checks that every run scored the same problems, averages a subset's seeds,
and attaches the intervals of :mod:`reasonloop.attribution.intervals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reasonloop.attribution.intervals import (
    resampled_worths,
    spans_zero,
    value_intervals,
)
from reasonloop.attribution.problems import ProblemValues
from reasonloop.attribution.values import banzhaf_values, shapley_values
from reasonloop.core.pairing import problem_mismatch
from reasonloop.core.statistics import RESAMPLES, bootstrap_interval, wilson_interval
from reasonloop.errors import UsageError

__all__ = ["CONFIDENCE", "RunEntry", "attribution_data"]

CONFIDENCE = 0.95


@dataclass
class RunEntry:
    """One run of one subset (under one seed): its row and, once done, its problems."""

    row: dict[str, Any]
    #: Per-problem values, the reason there are none, or ``None`` while pending.
    problems: ProblemValues | str | None = None


def _check_same_problems(grid: Sequence[Sequence[RunEntry]]) -> None:
    """Refuse runs scored on different problems: the bootstrap pairs them problem by problem."""
    scored = [e for runs in grid for e in runs if isinstance(e.problems, ProblemValues)]
    for other in scored[1:]:
        first = scored[0]
        differ = problem_mismatch(
            first.problems.ids,  # type: ignore[union-attr]
            other.problems.ids,  # type: ignore[union-attr]
            "the first",
            "the second",
        )
        if differ:
            raise UsageError(
                f"{other.row['run_dir']} scored different held-out problems from "
                f"{first.row['run_dir']}: {differ}; the intervals pair every subset and seed "
                "problem by problem, so all must score the same problems"
            )


def _per_problem(runs: Sequence[RunEntry]) -> list[ProblemValues] | str:
    reasons = [e.problems for e in runs if isinstance(e.problems, str)]
    if reasons:
        return str(reasons[0])
    return [e.problems for e in runs]  # type: ignore[misc]


def _subset_interval(scored: list[ProblemValues]) -> list[float]:
    if len(scored) == 1:
        one = scored[0]
        n = len(one.ids)
        if one.proportion:
            return list(wilson_interval(round(one.values.sum()), n, CONFIDENCE))
        values = one.values * n if one.total else one.values
        return list(bootstrap_interval(values, np.mean, CONFIDENCE))
    worths = resampled_worths(np.stack([[p.values for p in scored]]), total=scored[0].total)
    alpha = (1 - CONFIDENCE) / 2
    return [float(x) for x in np.quantile(worths[0], [alpha, 1 - alpha])]


def _subset_row(
    info: dict[str, Any], runs: Sequence[RunEntry], seeds: Sequence[int] | None
) -> dict[str, Any]:
    done = all(e.row["status"] == "done" for e in runs)
    row: dict[str, Any] = dict(info)
    if seeds is None:
        row.update(runs[0].row)
    else:
        row.update(
            status="done" if done else "pending",
            metric=float(np.mean([e.row["metric"] for e in runs])) if done else None,
            tokens=sum(e.row["tokens"] for e in runs) if done else None,
            seconds=round(sum(e.row["seconds"] for e in runs), 1) if done else None,
        )
    row.update(problems=None, interval=None)
    if done:
        scored = _per_problem(runs)
        if not isinstance(scored, str):
            row.update(problems=len(scored[0].ids), interval=_subset_interval(scored))
    if seeds is not None:
        row["seeds"] = [{"seed": s, **e.row} for s, e in zip(seeds, runs, strict=True)]
    return row


def _methods(grid: Sequence[Sequence[RunEntry]], seeds: Sequence[int] | None) -> dict[str, Any]:
    for runs in grid:
        scored = _per_problem(runs)
        if isinstance(scored, str):
            return {"unavailable": scored}
    sample = grid[0][0].problems
    assert isinstance(sample, ProblemValues)
    if seeds is not None and len(seeds) > 1:
        subsets = values = "two-way bootstrap over seeds and problems"
    else:
        subsets = "Wilson score interval" if sample.proportion else "bootstrap over problems"
        values = "paired bootstrap over problems"
    return {
        "confidence": CONFIDENCE,
        "subsets": subsets,
        "values": values,
        "resamples": RESAMPLES,
        "seed": 0,
    }


def attribution_data(
    header: dict[str, Any],
    plugins: list[str],
    subsets: Sequence[dict[str, Any]],
    grid: Sequence[Sequence[RunEntry]],
    seeds: Sequence[int] | None,
) -> dict[str, Any]:
    """``attribution.json``: every subset so far, and the values once all are done.

    ``subsets`` holds each coalition's ``plugins`` and ``disabled``, in
    :func:`~reasonloop.attribution.values.all_coalitions` order; ``grid`` its
    runs, one per seed (one in all without seeds).
    """
    _check_same_problems(grid)
    rows = [_subset_row(info, runs, seeds) for info, runs in zip(subsets, grid, strict=True)]
    done = [r for r in rows if r["status"] == "done"]
    data: dict[str, Any] = {
        **header,
        "plugins": plugins,
        "seeds": list(seeds) if seeds is not None else None,
        "complete": len(done) == len(rows),
        "subsets": rows,
        "total": {
            "runs": sum(e.row["status"] == "done" for runs in grid for e in runs),
            "tokens": sum(e.row["tokens"] for runs in grid for e in runs if e.row["tokens"]),
            "seconds": round(
                sum(e.row["seconds"] for runs in grid for e in runs if e.row["seconds"]), 1
            ),
        },
    }
    if not data["complete"]:
        return data
    value = {frozenset(r["plugins"]): r["metric"] for r in rows}
    shapley = shapley_values(plugins, value)
    banzhaf = banzhaf_values(plugins, value)
    data["values"] = {p: {"shapley": shapley[p], "banzhaf": banzhaf[p]} for p in plugins}
    data["intervals"] = _methods(grid, seeds)
    if "unavailable" not in data["intervals"]:
        scored = [_per_problem(runs) for runs in grid]
        per_problem = np.array([[p.values for p in runs] for runs in scored])  # type: ignore[union-attr]
        found = value_intervals(
            plugins,
            per_problem,
            total=scored[0][0].total,  # type: ignore[index]
            confidence=CONFIDENCE,
        )
        for p in plugins:
            for kind, interval in (("shapley", found.shapley[p]), ("banzhaf", found.banzhaf[p])):
                data["values"][p][f"{kind}_interval"] = list(interval)
                data["values"][p][f"{kind}_distinguishable"] = not spans_zero(interval)
    data["none"] = value[frozenset()]
    data["all"] = value[frozenset(plugins)]
    # Ties go to the cheaper subset for best, to the dearer one for worst.
    data["best"] = max(rows, key=lambda r: (r["metric"], -r["tokens"]))
    data["worst"] = min(rows, key=lambda r: (r["metric"], -r["tokens"]))
    return data
