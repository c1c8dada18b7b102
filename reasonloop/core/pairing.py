"""Paired comparisons of evaluated stages on the same problems, as report text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from reasonloop.core.statistics import PairedComparison, paired_comparison, wilson_interval

__all__ = [
    "compare_answers",
    "format_accuracy",
    "format_difference",
    "format_p",
    "format_verdict",
    "load_answers",
    "problem_mismatch",
    "short_verdict",
    "stage_interval",
]


def load_answers(eval_path: Path) -> dict[str, bool] | None:
    """Problem id -> correct from an ``eval.json``; ``None`` when it has no per-problem answers."""
    if not eval_path.exists():
        return None
    answers = json.loads(eval_path.read_text()).get("answers")
    if not answers:
        return None
    return {a["problem_id"]: bool(a["correct"]) for a in answers}


def problem_mismatch(
    first: Iterable[str], other: Iterable[str], first_name: str, other_name: str
) -> str | None:
    """``None`` when both hold the same problem ids; else what differs, for an error message:
    ``1 only in A (p2), 1 only in B (p9)`` (at most three ids each)."""
    a, b = set(first), set(other)
    if a == b:
        return None

    def some(ids: set[str]) -> str:
        names = sorted(ids)
        return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") or "none"

    return (
        f"{len(a - b)} only in {first_name} ({some(a - b)}), "
        f"{len(b - a)} only in {other_name} ({some(b - a)})"
    )


def compare_answers(
    a: Mapping[str, float] | None, b: Mapping[str, float] | None
) -> PairedComparison | str:
    """The paired comparison of two stages, or the reason it is unavailable."""
    if a is None or b is None:
        return "an eval.json without per-problem answers (written by an older reasonloop)"
    if not set(a) & set(b):
        return "the two evaluations share no problems"
    return paired_comparison(a, b)


def stage_interval(metrics: dict) -> list[float] | None:
    """``eval.json``'s interval, or a Wilson interval from its counts where an old file lacks it."""
    if "interval" in metrics:
        return list(metrics["interval"])
    n = metrics.get("problems")
    if not n:
        return None
    return list(wilson_interval(round(metrics["accuracy"] * n), n))


def format_accuracy(accuracy: float | None, interval: list[float] | None = None) -> str:
    """``26.0% [20.4, 32.5]``: the accuracy with its 95% interval in points, ``-`` when absent."""
    if accuracy is None:
        return "-"
    if interval is None:
        return f"{accuracy:.1%}"
    lo, hi = interval
    return f"{accuracy:.1%} [{100 * lo:.1f}, {100 * hi:.1f}]"


def format_verdict(c: PairedComparison) -> str:
    """Whether a paired difference is more than noise, in the words the report uses."""
    if c.verdict == "distinguishable":
        return "distinguishable from noise (the interval excludes 0 and McNemar's p < 0.05)"
    if c.verdict == "borderline":
        if c.interval_excludes_zero:
            why = f"the interval excludes 0 but McNemar's p = {format_p(c.p_value)}"
        else:
            why = f"McNemar's p = {format_p(c.p_value)} but the interval spans 0"
        return f"borderline: {why}; not distinguishable from noise by both tests"
    return "not distinguishable from noise (the interval spans 0)"


def short_verdict(c: PairedComparison) -> str:
    """The verdict in a table cell: ``distinguishable``, ``borderline`` or ``not distinguishable
    from noise``."""
    if c.verdict == "not distinguishable":
        return "not distinguishable from noise"
    return c.verdict


def format_difference(c: PairedComparison) -> str:
    """``+4.0 points [-1.5, +9.5]``: a paired difference with its 95% bootstrap interval."""
    lo, hi = c.interval
    return f"{100 * c.difference:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def format_p(p: float) -> str:
    """A p-value to three figures, small ones in scientific notation."""
    return f"{p:.3g}" if p >= 0.001 else f"{p:.1e}"
