"""Guidance metrics: coverage by difficulty and per strategy."""

from __future__ import annotations

from reasonloop.core.records import Message, TrainingExample
from reasonloop.plugins.guidance.metrics import stage_metrics


def test_coverage_by_difficulty(tmp_path, run_context, scripted):
    stage, samples, _ = scripted.sample_rounds(run_context, tmp_path, {"strategy": "rationale"})
    probs = stage.problems
    probs = [p.model_copy(update={"metadata": {**p.metadata, "difficulty": d}})
             for p, d in zip(probs, [1, 1, 3, 3], strict=True)]  # fmt: skip

    def ex(i: int, pid: str, plugin: str) -> TrainingExample:
        msgs = [Message(role="user", content="q"), Message(role="assistant", content=f"a{i}")]
        return TrainingExample(id=f"e{i}", problem_id=pid, messages=msgs, plugin=plugin)

    selected = [ex(0, probs[0].id, "selfimprove"), ex(1, probs[0].id, "selfimprove"),
                ex(2, probs[2].id, "guidance")]  # fmt: skip
    m = stage_metrics(probs, samples, selected, eval_metrics={
        "accuracy": 0.5, "by": {"difficulty": {"3": {"accuracy": 0.25}}}})  # fmt: skip
    assert m["hardest"] == "3"
    assert m["buckets"]["1"] == {
        "problems": 2, "plain_coverage": 0.5, "coverage": 0.5, "examples": 2,
        "guided_examples": 0, "example_share": 2 / 3, "heldout_accuracy": None}  # fmt: skip
    assert m["buckets"]["3"]["coverage"] == 0.5 and m["buckets"]["3"]["plain_coverage"] == 0.0
    assert m["buckets"]["3"]["heldout_accuracy"] == 0.25
    plain = next(r for r in m["strategies"] if r["strategy"] == "plain")
    assert plain["requests"] == 4 and plain["samples"] == 16 and plain["correct"] == 7
