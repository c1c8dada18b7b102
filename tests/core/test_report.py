"""The run summary: one row shape for report.md, the CLI's table and ``iteration_end``."""

from __future__ import annotations

import json

import pytest

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.records import Message, Request, Sample, TrainingExample
from reasonloop.core.report import StageSummary, stage_summary, summary_rows, write_report
from reasonloop.core.rundir import RunDirectory, RunState, atomic_write_json, write_records


def sample(sid: str, purpose: str = "sample", tokens: int = 10) -> Sample:
    request = Request(id=f"r-{sid}", problem_id="p", messages=[], purpose=purpose)
    return Sample(
        id=sid, problem_id="p", request=request, completion="", prompt_tokens=tokens,
        completion_tokens=tokens,
    )  # fmt: skip


def write_stage(run_dir: RunDirectory, it: int | None, accuracy: float | None, n: int) -> None:
    d = run_dir.stage_dir(it)
    d.mkdir(parents=True)
    if n:
        write_records(d / "samples.jsonl", [sample(f"{d.name}-{i}").model_dump() for i in range(n)])
        example = TrainingExample(
            id="e", problem_id="p", messages=[Message(role="assistant", content="4")]
        )
        write_records(d / "selected.jsonl", [example.model_dump()] * (n // 2))
    if accuracy is not None:
        ledger = compute_ledger([sample("e1", "eval", 5), sample("e2", "eval", 5)])
        by = {"difficulty": {"1": {"accuracy": accuracy, "problems": 2}}}
        atomic_write_json(d / "eval.json", {"accuracy": accuracy, "by": by, "compute": ledger})


def make_run(tmp_path) -> RunDirectory:
    run_dir = RunDirectory(tmp_path)
    write_stage(run_dir, None, 0.25, 0)
    write_stage(run_dir, 0, 0.5, 4)
    write_stage(run_dir, 1, None, 2)  # interrupted before its evaluation
    (tmp_path / "iter-002").mkdir()  # nothing yet: no row
    seconds = {"base/eval": 1.0, "iter-000/sample": 2.0, "iter-000/eval": 0.5, "iter-001/sample": 3}
    run_dir.save_state(RunState(seconds=seconds))
    return run_dir


def test_a_stage_row_adds_sampling_and_evaluation(tmp_path):
    run_dir = make_run(tmp_path)
    row = stage_summary(run_dir, 0, run_dir.load_state().seconds)
    assert (row.stage, row.iteration, row.accuracy) == ("iter-000", 0, 0.5)
    assert (row.samples, row.kept, row.seconds) == (4, 2, 2.5)
    assert row.tokens == 4 * 20 + 2 * 10  # four training samples, two eval samples
    assert {(c["purpose"], c["samples"]) for c in row.compute} == {("sample", 4), ("eval", 2)}
    assert row.by["difficulty"]["1"]["accuracy"] == 0.5


def test_summary_rows_skip_stages_with_nothing_yet(tmp_path):
    rows = summary_rows(make_run(tmp_path))
    assert [(r.stage, r.iteration, r.accuracy) for r in rows] == [
        ("base", None, 0.25),
        ("iter-000", 0, 0.5),
        ("iter-001", 1, None),
    ]
    # The hook's dict form carries the same values, in JSON types.
    data = rows[1].model_dump(mode="json")
    assert json.loads(json.dumps(data)) == data and StageSummary.model_validate(data) == rows[1]


def test_the_report_table_shows_each_row(tmp_path):
    run_dir = make_run(tmp_path)
    rows = write_report(run_dir=run_dir)
    text = run_dir.report_path.read_text()
    # These eval.json files predate problem counts and answers: no interval, no pairing.
    assert "| base | 25.0% | - | 0 | 0 | 20 | 1.0 |" in text
    assert "| iter-000 | 50.0% | - | 4 | 2 | 100 | 2.5 |" in text
    assert "| iter-001 | - | - | 2 | 1 | 40 | 3.0 |" in text
    assert "from 25.0% (base) to 50.0% (iter-000): +25.0 points" in text
    assert "A paired comparison is unavailable: an eval.json without per-problem answers" in text
    assert "| iter-000 | - | unavailable: an eval.json without per-problem answers" in text
    assert [r.stage for r in rows] == ["base", "iter-000", "iter-001"]


def write_eval(run_dir: RunDirectory, it: int | None, solved: set[int], n: int) -> None:
    """An eval.json as evaluate_stage writes it: counts, intervals and per-problem answers."""
    from reasonloop.core.statistics import wilson_interval

    d = run_dir.stage_dir(it)
    d.mkdir(parents=True)
    answers = [
        {"problem_id": f"p{i}", "correct": i in solved, "difficulty": "1" if i % 2 else "2"}
        for i in range(n)
    ]
    by = {
        "difficulty": {
            v: {
                "accuracy": sum(a["correct"] for a in group) / len(group),
                "problems": len(group),
                "interval": list(wilson_interval(sum(a["correct"] for a in group), len(group))),
            }
            for v in ("1", "2")
            for group in [[a for a in answers if a["difficulty"] == v]]
        }
    }
    ledger = compute_ledger([sample(f"{d.name}-e", "eval", 5)])
    atomic_write_json(
        d / "eval.json",
        {
            "accuracy": len(solved) / n,
            "problems": n,
            "interval": list(wilson_interval(len(solved), n)),
            "by": by,
            "compute": ledger,
            "answers": answers,
        },
    )


def test_the_report_compares_stages_paired_on_the_same_problems(tmp_path):
    run_dir = RunDirectory(tmp_path)
    write_eval(run_dir, None, set(range(20)), 100)  # base: 20/100
    write_eval(run_dir, 0, set(range(22)) | {50}, 100)  # +3, -0: within noise
    write_eval(run_dir, 1, set(range(5, 50)), 100)  # +30 gained, 5 lost
    run_dir.save_state(RunState(seconds={}))
    rows = write_report(run_dir=run_dir)
    text = run_dir.report_path.read_text()
    assert rows[0].interval == pytest.approx([0.1334, 0.2888], abs=1e-4)
    assert "| base | 20.0% [13.3, 28.9] | 100 |" in text
    assert "| iter-001 | 45.0% [35.6, 54.8] | 100 |" in text
    headline = next(line for line in text.splitlines() if line.startswith("Held-out"))
    assert "from 20.0% (base) to 45.0% (iter-001): +25.0 points" in headline
    assert "Paired on the same 100 problems: +25.0 points [" in headline
    assert "McNemar exact p = 2.2e-05" in headline  # 2 * P(X <= 5), X ~ Bin(35, 1/2)
    assert "30 gained and 5 lost: **distinguishable from noise" in headline
    section = text.split("## Paired comparisons")[1]
    assert "| iter-000 | 100 | +3.0 points [" in section
    assert "| 0.25 | 3 | 0 | 10 | 10 | not distinguishable from noise |" in section
    assert "| 30 | 5 | 10 | 10 | distinguishable |" in section
    assert "| stage | 1 (n=50) | 2 (n=50) |" in text
    assert (tmp_path / "accuracy.png").stat().st_size > 0
