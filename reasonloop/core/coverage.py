"""Coverage of the training problems by difficulty: how many gave the model something to learn.

A training problem is *covered* once at least one selected training example
came from it. Held-out accuracy says what a run achieved; coverage says
where its training data came from, which is what methods for hard problems
(guidance, the critic) change first. ``reasonloop compare`` shows it per run
so two runs can be read at the same stage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from reasonloop.core.records import Problem
from reasonloop.core.rundir import RunDirectory, read_jsonl
from reasonloop.core.statistics import wilson_interval

__all__ = ["BucketCoverage", "bucket_order", "pooled_coverage", "training_coverage"]


class BucketCoverage(BaseModel):
    """One difficulty bucket's training problems up to a stage, and how many were covered."""

    model_config = ConfigDict(extra="forbid")

    difficulty: str
    #: Distinct problems sampled for training in the iterations up to the stage.
    problems: int
    #: Of those, problems with at least one selected training example.
    covered: int
    #: Selected training examples from this bucket.
    examples: int
    #: 95% Wilson interval of ``covered / problems``.
    interval: tuple[float, float]

    @property
    def share(self) -> float:
        return self.covered / self.problems if self.problems else 0.0


def bucket_order(bucket: str) -> tuple[float, str]:
    """Sort difficulty buckets by their first number (``"5+"`` after ``"3-4"``), then by name."""
    m = re.search(r"-?\d+(\.\d+)?", bucket)
    return (float(m.group()) if m else float("inf"), bucket)


def _problem_ids(path: Path) -> Iterator[str]:
    """The ``problem_id`` of each complete line (a torn last line is skipped, as on resume)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\n") and line.strip():
                yield json.loads(line)["problem_id"]


def training_coverage(root: Path, upto: int | None) -> list[BucketCoverage]:
    """Coverage per difficulty over iterations ``0 .. upto`` of the run at ``root``.

    ``upto=None`` (the base model, before any training) gives no rows.
    """
    if upto is None:
        return []
    run_dir = RunDirectory(root)
    pool_path = root / "problems" / "train.jsonl"
    pool = read_jsonl(pool_path, Problem) if pool_path.exists() else []
    difficulty = {p.id: p.difficulty for p in pool}
    sampled: set[str] = set()
    covered: set[str] = set()
    examples: dict[str, int] = {}
    for it in range(upto + 1):
        d = run_dir.stage_dir(it)
        sampled.update(_problem_ids(d / "samples.jsonl"))
        for pid in _problem_ids(d / "selected.jsonl"):
            covered.add(pid)
            bucket = difficulty.get(pid, "all")
            examples[bucket] = examples.get(bucket, 0) + 1
    by_bucket: dict[str, list[str]] = {}
    for pid in sampled:
        by_bucket.setdefault(difficulty.get(pid, "all"), []).append(pid)
    rows = []
    for bucket in sorted(by_bucket, key=bucket_order):
        ids = by_bucket[bucket]
        hit = sum(pid in covered for pid in ids)
        rows.append(
            BucketCoverage(
                difficulty=bucket,
                problems=len(ids),
                covered=hit,
                examples=examples.get(bucket, 0),
                interval=wilson_interval(hit, len(ids)),
            )
        )
    return rows


def pooled_coverage(runs: list[list[BucketCoverage]]) -> list[BucketCoverage]:
    """Several runs' coverage (the seeds of a group) as one: counts summed per difficulty."""
    totals: dict[str, list[int]] = {}
    for rows in runs:
        for b in rows:
            t = totals.setdefault(b.difficulty, [0, 0, 0])
            t[0] += b.problems
            t[1] += b.covered
            t[2] += b.examples
    return [
        BucketCoverage(
            difficulty=bucket,
            problems=n,
            covered=hit,
            examples=examples,
            interval=wilson_interval(hit, n),
        )
        for bucket, (n, hit, examples) in sorted(totals.items(), key=lambda kv: bucket_order(kv[0]))
    ]
