"""The critic's report sections: hard problems gained, parse rate, cost."""

from __future__ import annotations

from reasonloop.core.loop import Loop
from reasonloop.core.records import TrainingExample
from reasonloop.core.rundir import read_jsonl


def test_report_counts_hard_problems_gained_and_parse_rate(tmp_path, run_context, critic_run):
    settings = {"baseline_samples": 2, "test_time": "off"}
    run, _ = critic_run(
        run_context,
        tmp_path,
        settings,
        data={"train": [{"name": "twos"}], "eval": [{"name": "twos"}]},
        iterations=1,
    )
    Loop(run).run_all()
    report = (tmp_path / "report.md").read_text()
    # p1 (difficulty 2) is hard and gained; p3 (difficulty 2) is hard, its critique unparsable.
    assert "| iter-000 | 2 | 2 | 2 | 1 | 1 | 1 |" in report
    assert "| iter-000 | 1 | 2 | 0 | 0 | 0 | 0 |" in report
    # 4 critiques, 3 parsed (all flag the wrong answer); 6 refinements, 5 correct
    # of which 3 are shortcuts ("Answer: 4"), 2 kept (p0's and p1's first).
    assert "| iter-000 | 4 | 3 | 75.0% | 3 | 6 | 5 | 3 | 2 |" in report
    selected = read_jsonl(tmp_path / "iter-000" / "selected.jsonl", TrainingExample)
    assert {e.problem_id for e in selected if e.plugin == "critic"} == {"p0", "p1"}
    # Tokens: plain 12 x 30, critiques 4 x 30, refinements 6 x 30: 300 per hard problem
    # gained; resampling the 2 hard problems twice cost 120 tokens and solved p1.
    assert "| iter-000 | 360 | 120 | 180 | 0 | 1 | 300 | 120 | 1 | 120 |" in report
