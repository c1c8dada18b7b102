"""Guided samples that only copy the hint are shortcuts: filtered and counted."""

from __future__ import annotations

from reasonloop.plugins.guidance.metrics import stage_metrics


def test_guided_samples_that_copy_the_hint_are_filtered_and_counted(
    tmp_path, run_context, scripted
):
    def copies(request, index, problem):
        if request.plugin == "selfimprove":
            return scripted.default_respond(request, index, problem)
        return f"The answer is {problem.reference.answer}.\nAnswer: {problem.reference.answer}"

    stage, samples, _ = scripted.sample_rounds(
        run_context, tmp_path, {"strategy": "answer", "attempts": 2}, copies
    )
    g = scripted.guided(samples)
    assert g and all(s.correct for s in g)
    # Shortcuts count neither as examples nor towards t: the problems stay deficient.
    assert scripted.examples_of(stage, samples) == []
    assert {s.request.round for s in g} == {1, 2}
    settings = stage.run.settings_for("guidance")
    metrics = stage_metrics(stage.problems, samples, [], settings=settings, recipe=stage.recipe)
    row = next(r for r in metrics["strategies"] if r["strategy"] == "answer")
    assert row["correct"] == row["shortcuts"] == len(g) == 4

    stage, samples, _ = scripted.sample_rounds(
        run_context, tmp_path / "off", {"strategy": "answer", "filter_shortcuts": False}, copies
    )
    assert len(scripted.examples_of(stage, samples)) == 3  # p1 needs one, p2 two
