"""Each problem's share of an attribution metric, read back from a subset's eval records.

An interval needs the metric problem by problem: the 0/1 outcomes in
``eval.json``'s ``answers`` for an accuracy (overall or of one ``by`` group),
each problem's unbiased pass@k from ``eval_samples.jsonl`` for a pass@k, and
each problem's tokens for ``eval.tokens``. Other metrics (a plugin's counts,
a verdict tally) have no per-problem form; for them the reason is returned
instead, and the attribution reports its values without intervals.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reasonloop.attribution.subsets import metric_value
from reasonloop.core.evaluation import pass_at_k
from reasonloop.core.lineage import attempt_chains
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog

__all__ = ["ProblemValues", "problem_values"]

_PASS = re.compile(r"^(first_attempt_)?pass@(\d+)$")


@dataclass(frozen=True)
class ProblemValues:
    """One run's metric, problem by problem, in the order of ``ids``."""

    ids: tuple[str, ...]
    values: np.ndarray
    #: 0/1 outcomes, so one run's interval is Wilson's.
    proportion: bool = False
    #: The metric adds the problems up (tokens) instead of averaging them.
    total: bool = False

    def aggregate(self) -> float:
        return float(self.values.sum() if self.total else self.values.mean())


def problem_values(metrics: dict[str, Any], metric: str, eval_path: Path) -> ProblemValues | str:
    """``metric`` of the ``eval.json`` at ``eval_path`` per problem, or why it has no such form.

    The per-problem values must reproduce the metric ``eval.json`` holds;
    where they do not (an edited or partial file) the reason says so.
    """
    parts = metric.split(".")[1:]
    answers = metrics.get("answers")
    if parts == ["accuracy"] or (len(parts) >= 4 and parts[0] == "by" and parts[-1] == "accuracy"):
        if not answers:
            return f"{eval_path} has no per-problem answers (written by an older reasonloop)"
        if parts == ["accuracy"]:
            rows = answers
        else:
            key, group = parts[1], ".".join(parts[2:-1])
            rows = [a for a in answers if a.get(key) == group]
        found = _values({a["problem_id"]: float(bool(a["correct"])) for a in rows}, proportion=True)
    elif len(parts) == 2 and parts[0] == "pass_at_k" and _PASS.match(parts[1]):
        first, k = _PASS.match(parts[1]).groups()  # type: ignore[union-attr]
        found = _pass_at_k(eval_path.parent / "eval_samples.jsonl", int(k), bool(first))
    elif parts == ["tokens"]:
        found = _tokens(eval_path.parent / "eval_samples.jsonl")
    else:
        return (
            f"{metric} has no per-problem values (intervals are computed for eval.accuracy, "
            "eval.by.KEY.VALUE.accuracy, eval.pass_at_k.* and eval.tokens)"
        )
    if isinstance(found, str):
        return found
    expected = metric_value(metrics, metric, eval_path)
    if not math.isclose(found.aggregate(), expected, rel_tol=1e-9, abs_tol=1e-9):
        return f"the per-problem records next to {eval_path} do not reproduce its {metric}"
    return found


def _values(
    by_id: dict[str, float], proportion: bool = False, total: bool = False
) -> ProblemValues | str:
    if not by_id:
        return "no problem contributes to it"
    ids = tuple(sorted(by_id))
    return ProblemValues(ids, np.array([by_id[i] for i in ids]), proportion, total)


def _samples(path: Path) -> dict[str, list[Sample]] | str:
    if not path.exists():
        return f"{path}: missing"
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    for s in JsonlLog(path, Sample):
        by_problem[s.problem_id].append(s)
    return by_problem


def _pass_at_k(path: Path, k: int, first: bool) -> ProblemValues | str:
    # As evaluation.pass_at_k_metrics: over the problems with at least one attempt.
    by_problem = _samples(path)
    if isinstance(by_problem, str):
        return by_problem
    out = {}
    for pid, samples in by_problem.items():
        chains = attempt_chains(samples)
        if 0 < len(chains) < k:
            return f"{path}: problem {pid} has {len(chains)} attempts, fewer than {k}"
        if chains:
            correct = sum((r if first else f).correct for r, f in chains)
            out[pid] = pass_at_k(len(chains), correct, k)
    return _values(out)


def _tokens(path: Path) -> ProblemValues | str:
    by_problem = _samples(path)
    if isinstance(by_problem, str):
        return by_problem
    return _values(
        {
            pid: float(sum(s.prompt_tokens + s.completion_tokens for s in samples))
            for pid, samples in by_problem.items()
        },
        total=True,
    )
