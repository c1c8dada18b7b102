"""Coverage of the training problems by difficulty, read back from a run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop.core.coverage import bucket_order, training_coverage
from reasonloop.core.records import Message, Problem, Request, Sample, TrainingExample
from reasonloop.core.rundir import write_records
from reasonloop.core.statistics import wilson_interval


def problem(pid: str, difficulty: int) -> Problem:
    return Problem(id=pid, prompt="2+2?", metadata={"difficulty": difficulty})


def samples(ids: list[str]) -> list[Sample]:
    out = []
    for n, pid in enumerate(ids):
        request = Request(id=f"r{n}", problem_id=pid, messages=[])
        out.append(Sample(id=f"s{pid}{n}", problem_id=pid, request=request, completion="4"))
    return out


def example(pid: str, n: int = 0) -> TrainingExample:
    return TrainingExample(
        id=f"e{pid}{n}", problem_id=pid, messages=[Message(role="assistant", content="4")]
    )


def make_run(root: Path) -> Path:
    pool = [problem(f"a{i}", 1) for i in range(4)] + [problem(f"b{i}", 3) for i in range(4)]
    write_records(root / "problems" / "train.jsonl", pool)
    # Iteration 0 samples a0-a3 and b0-b1 and keeps examples from a0 (twice) and a1.
    write_records(
        root / "iter-000" / "samples.jsonl", samples(["a0", "a0", "a1", "a2", "a3", "b0", "b1"])
    )
    write_records(root / "iter-000" / "selected.jsonl", [example("a0"), example("a0", 1),
                                                          example("a1")])  # fmt: skip
    # Iteration 1 samples b0-b3 and a0 and keeps one example of b2; its last line is torn.
    write_records(root / "iter-001" / "samples.jsonl", samples(["b0", "b1", "b2", "b3", "a0"]))
    write_records(root / "iter-001" / "selected.jsonl", [example("b2")])
    with (root / "iter-001" / "selected.jsonl").open("a") as f:
        f.write('{"id": "torn", "problem_id": "b3"')
    return root


def test_coverage_accumulates_over_the_iterations_up_to_the_stage(tmp_path) -> None:
    root = make_run(tmp_path)
    assert training_coverage(root, None) == []
    first = {b.difficulty: b for b in training_coverage(root, 0)}
    assert (first["1"].problems, first["1"].covered, first["1"].examples) == (4, 2, 3)
    assert (first["3"].problems, first["3"].covered, first["3"].examples) == (2, 0, 0)
    assert first["1"].share == 0.5 and first["1"].interval == pytest.approx(wilson_interval(2, 4))
    both = {b.difficulty: b for b in training_coverage(root, 1)}
    # b3's only example sits on the torn line: not counted, as resume would drop it.
    assert (both["3"].problems, both["3"].covered, both["3"].examples) == (4, 1, 1)
    assert (both["1"].problems, both["1"].covered) == (4, 2)


def test_buckets_sort_by_their_first_number() -> None:
    assert sorted(["5+", "all", "3-4", "10", "1"], key=bucket_order) == [
        "1", "3-4", "5+", "10", "all"
    ]  # fmt: skip


def test_the_seeds_of_a_group_pool_their_counts(tmp_path) -> None:
    from reasonloop.core.coverage import pooled_coverage

    one = training_coverage(make_run(tmp_path / "a"), 0)
    two = training_coverage(make_run(tmp_path / "b"), 1)
    pooled = {b.difficulty: b for b in pooled_coverage([one, two])}
    assert (pooled["1"].problems, pooled["1"].covered, pooled["1"].examples) == (8, 4, 6)
    assert (pooled["3"].problems, pooled["3"].covered) == (6, 1)
    assert pooled["3"].interval == pytest.approx(wilson_interval(1, 6))
