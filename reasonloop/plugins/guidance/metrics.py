"""What guidance did to the tail: coverage and training data by difficulty, and its cost.

*Coverage* of a difficulty bucket is the share of its training problems with
at least one selected training example; *plain coverage* counts only the
examples from plain samples (what self-improvement without guidance would
have had). The same numbers serve the report, ``guidance.json`` in each
iteration directory and the benchmark.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.coverage import bucket_order
from reasonloop.core.records import Problem, Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, RunDirectory, read_jsonl
from reasonloop.plugins.guidance.samples import shortcut_of, strategy_of
from reasonloop.plugins.guidance.settings import NAME

if TYPE_CHECKING:
    from reasonloop.core.recipe import Recipe
    from reasonloop.plugins.guidance.settings import GuidanceSettings

__all__ = ["bucket_order", "iteration_dirs", "run_metrics", "stage_metrics"]


def stage_metrics(
    problems: list[Problem],
    samples: Iterable[Sample],
    selected: Iterable[TrainingExample],
    *,
    settings: GuidanceSettings | None = None,
    recipe: Recipe | None = None,
    eval_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Coverage, examples and tokens per difficulty bucket for one sampling stage."""
    samples = list(samples)
    by_id = {p.id: p for p in problems}
    covered: set[str] = set()
    plain_covered: set[str] = set()
    examples: dict[str, int] = defaultdict(int)
    guided_examples: dict[str, int] = defaultdict(int)
    for ex in selected:
        if ex.problem_id not in by_id:
            continue
        bucket = by_id[ex.problem_id].difficulty
        covered.add(ex.problem_id)
        examples[bucket] += 1
        if ex.plugin == NAME:
            guided_examples[bucket] += 1
        else:
            plain_covered.add(ex.problem_id)
    total_examples = sum(examples.values())
    heldout = ((eval_metrics or {}).get("by") or {}).get("difficulty", {})
    buckets: dict[str, dict[str, Any]] = {}
    for bucket in sorted({p.difficulty for p in problems}, key=bucket_order):
        ids = [p.id for p in problems if p.difficulty == bucket]
        buckets[bucket] = {
            "problems": len(ids),
            "plain_coverage": _share(sum(i in plain_covered for i in ids), len(ids)),
            "coverage": _share(sum(i in covered for i in ids), len(ids)),
            "examples": examples[bucket],
            "guided_examples": guided_examples[bucket],
            "example_share": _share(examples[bucket], total_examples),
            "heldout_accuracy": heldout.get(bucket, {}).get("accuracy"),
        }
    return {
        "problems": len(problems),
        "coverage": _share(len(covered), len(problems)),
        "plain_coverage": _share(len(plain_covered), len(problems)),
        "examples": total_examples,
        "hardest": next(reversed(buckets), None),
        "buckets": buckets,
        "strategies": _strategies(samples, by_id, settings, recipe),
        "tokens": sum(s.prompt_tokens + s.completion_tokens for s in samples),
        "heldout_accuracy": (eval_metrics or {}).get("accuracy"),
    }


def _strategies(
    samples: list[Sample],
    problems: dict[str, Problem],
    settings: GuidanceSettings | None,
    recipe: Recipe | None,
) -> list[dict[str, Any]]:
    """One row per (role, strategy): requests, samples, correct, shortcuts, tokens."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    requests: set[str] = set()
    for s in samples:
        key = (s.role, strategy_of(s))
        row = rows.setdefault(
            key,
            {"role": key[0], "strategy": key[1], "requests": 0, "samples": 0, "correct": 0,
             "shortcuts": 0, "prompt_tokens": 0, "completion_tokens": 0},
        )  # fmt: skip
        if s.request.id not in requests:
            requests.add(s.request.id)
            row["requests"] += 1
        row["samples"] += 1
        row["prompt_tokens"] += s.prompt_tokens
        row["completion_tokens"] += s.completion_tokens
        if s.correct:
            row["correct"] += 1
            problem = problems.get(s.problem_id)
            if (
                s.request.plugin == NAME
                and settings is not None
                and recipe is not None
                and problem is not None
                and shortcut_of(s, problem, settings, recipe)
            ):
                row["shortcuts"] += 1
    return [rows[k] for k in sorted(rows, key=lambda k: (k[1] != "plain", k))]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def iteration_dirs(run_dir: RunDirectory) -> list[tuple[int, Path]]:
    found = []
    for d in run_dir.root.glob("iter-*"):
        if d.is_dir() and d.name[5:].isdigit():
            found.append((int(d.name[5:]), d))
    return sorted(found)


def run_metrics(
    run_dir: RunDirectory,
    settings: GuidanceSettings | None = None,
    recipe: Recipe | None = None,
    only: int | None = None,
) -> list[dict[str, Any]]:
    """:func:`stage_metrics` of every sampled iteration (or iteration ``only``), in order."""
    train_path = run_dir.root / "problems" / "train.jsonl"
    pool = read_jsonl(train_path, Problem) if train_path.exists() else []
    rows = []
    for it, d in iteration_dirs(run_dir):
        if only is not None and it != only:
            continue
        samples = list(JsonlLog(d / "samples.jsonl", Sample))
        if not samples:
            continue
        ids = {s.problem_id for s in samples}
        problems = [p for p in pool if p.id in ids]
        selected_path = d / "selected.jsonl"
        selected = read_jsonl(selected_path, TrainingExample) if selected_path.exists() else []
        eval_path = d / "eval.json"
        eval_metrics = json.loads(eval_path.read_text()) if eval_path.exists() else None
        m = stage_metrics(
            problems,
            samples,
            selected,
            settings=settings,
            recipe=recipe,
            eval_metrics=eval_metrics,
        )
        rows.append({"iteration": it, **m})
    return rows
