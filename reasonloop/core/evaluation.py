"""Scoring an evaluation stage: final answers, accuracy by source and difficulty."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reasonloop.core.accounting import compute_ledger, total_tokens
from reasonloop.core.context import IterationContext
from reasonloop.core.lineage import attempt_chains
from reasonloop.core.records import Problem, Sample
from reasonloop.core.statistics import bootstrap_interval, wilson_interval

__all__ = ["BREAKDOWNS", "evaluate_stage", "pass_at_k", "pass_at_k_metrics"]

#: The k of pass@k reported, where a problem has at least k attempts.
KS = (1, 2, 5, 10, 20, 50, 100)

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
        "interval": _wilson(rows),
        "by": {
            key: {
                value: {
                    "accuracy": _mean(r["correct"] for r in group),
                    "problems": len(group),
                    "interval": _wilson(group),
                }
                for value, group in sorted(_group(rows, key).items())
            }
            for key in BREAKDOWNS
            if any(key in r for r in rows)
        },
        "verdicts": _count(r["verdict"] or "none" for r in rows),
        "tokens": total_tokens(ledger),
        "compute": ledger,
    }
    metrics["pass_at_k"] = pass_at_k_metrics(stage.problems, by_problem)
    extra = hooks.eval_metrics(stage.problems, samples, stage)
    if extra:
        metrics["plugins"] = extra
    metrics["answers"] = rows
    return metrics


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate from ``n`` attempts of which ``c`` are correct.

    1 - C(n-c, k) / C(n, k), computed as a product so it stays exact for
    large n (Chen et al., 2021).
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} attempts, got {n}")
    if n - c < k:
        return 1.0
    result = 1.0
    for i in range(n - c + 1, n + 1):
        result *= 1.0 - k / i
    return 1.0 - result


def pass_at_k_metrics(
    problems: list[Problem], by_problem: dict[str, list[Sample]]
) -> dict[str, Any]:
    """pass@k over final attempts (and over first attempts, when plugins refined them).

    ``intervals`` holds, for each ``pass@k`` key, a 95% bootstrap interval
    over problems (kept apart so readers of the ``pass@k`` keys see no new ones).
    """
    counts = []
    refined = False
    for p in problems:
        chains = attempt_chains(by_problem.get(p.id, []))
        if chains:
            counts.append(
                (len(chains), sum(f.correct for _, f in chains), sum(r.correct for r, _ in chains))
            )
            refined = refined or any(r.id != f.id for r, f in chains)
    out: dict[str, Any] = {"problems": len(counts)}
    if not counts:
        return out
    out["attempts_per_problem"] = min(n for n, _, _ in counts)
    intervals: dict[str, list[float]] = {}
    for k in KS:
        eligible = [(n, c, c0) for n, c, c0 in counts if n >= k]
        if len(eligible) < len(counts):
            break
        final = [pass_at_k(n, c, k) for n, c, _ in eligible]
        out[f"pass@{k}"] = _mean(final)
        intervals[f"pass@{k}"] = list(bootstrap_interval(final))
        if refined:
            first = [pass_at_k(n, c0, k) for n, _, c0 in eligible]
            out[f"first_attempt_pass@{k}"] = _mean(first)
            intervals[f"first_attempt_pass@{k}"] = list(bootstrap_interval(first))
    out["intervals"] = intervals
    return out


def _mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _wilson(rows: list[dict[str, Any]]) -> list[float]:
    """The 95% Wilson interval of the rows' accuracy, as eval.json's ``[lo, hi]``."""
    return list(wilson_interval(sum(bool(r["correct"]) for r in rows), len(rows)))


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
