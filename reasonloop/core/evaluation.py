"""Scoring an evaluation stage: final answers, accuracy by source and difficulty."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reasonloop.core.accounting import compute_ledger, total_tokens
from reasonloop.core.context import IterationContext
from reasonloop.core.records import Sample

__all__ = ["BREAKDOWNS", "evaluate_stage"]

#: Problem metadata keys that accuracy is broken down by, where present.
BREAKDOWNS = ("source", "difficulty", "kind")


def evaluate_stage(stage: IterationContext, samples: list[Sample]) -> dict[str, Any]:
    """Score each problem's final answer and return ``eval.json``'s content.

    The final answer is chosen by ``reasonloop_final_answer`` from the
    redacted samples, so a test-time method cannot peek at verdicts; it is
    then scored with the verdict recorded at verification.
    """
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    hooks = stage.run.hooks
    rows = []
    for problem in stage.problems:
        own = by_problem.get(problem.id, [])
        chosen = hooks.final_answer(problem.without_reference(), [s.redacted() for s in own], stage)
        real = next((s for s in own if chosen is not None and s.id == chosen.id), None)
        rows.append(
            {
                "problem_id": problem.id,
                "correct": bool(real is not None and real.correct),
                "verdict": real.verdict.value if real is not None and real.verdict else None,
                "extracted": real.extracted if real is not None else None,
                **{k: str(problem.metadata[k]) for k in BREAKDOWNS if k in problem.metadata},
            }
        )
    ledger = compute_ledger(samples)
    metrics: dict[str, Any] = {
        "iteration": stage.iteration,
        "model": stage.models["actor"],
        "problems": len(rows),
        "accuracy": _mean(r["correct"] for r in rows),
        "by": {
            key: {
                value: {"accuracy": _mean(r["correct"] for r in group), "problems": len(group)}
                for value, group in sorted(_group(rows, key).items())
            }
            for key in BREAKDOWNS
            if any(key in r for r in rows)
        },
        "verdicts": _count(r["verdict"] or "none" for r in rows),
        "tokens": total_tokens(ledger),
        "compute": ledger,
    }
    extra = hooks.eval_metrics(stage.problems, samples, stage)
    if extra:
        metrics["plugins"] = extra
    metrics["answers"] = rows
    return metrics


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _group(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if key in r:
            groups[r[key]].append(r)
    return groups


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[v] += 1
    return dict(sorted(counts.items()))
