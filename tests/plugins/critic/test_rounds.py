"""The critic's training rounds through the real scheduler: critiques, refinements, rollouts."""

from __future__ import annotations


def test_wrong_samples_get_one_critique_then_m_refinements_in_batched_rounds(
    tmp_path, run_context, sample_rounds
):
    _, _, calls, samples, _ = sample_rounds(run_context, tmp_path, {"critiques_per_problem": 2})
    # Round 0: 4 problems; round 1: critiques of p0's one distinct wrong answer,
    # p1's first two wrong ones (capped at 2) and p3's; round 2: refinements of
    # the three parsable critiques (p3's is unparsable).
    assert calls == [("actor", 4), ("critic", 4), ("actor", 3)]
    critiques = [s for s in samples if s.request.purpose == "critique"]
    assert [c.request.role for c in critiques] == ["critic"] * 4
    assert all(c.verdict is None and c.text.startswith("Step 1:") for c in critiques)
    parents = {s.id: s for s in samples}
    assert all(parents[c.request.parent_sample_id].verdict.value == "wrong" for c in critiques)
    refinements = [s for s in samples if s.request.purpose == "refine"]
    assert len(refinements) == 3 * 2  # m = 2 per critique (the default)
    first = refinements[0].request
    assert [m.role for m in first.messages[-3:]] == ["user", "assistant", "user"]
    assert "Step 2: wrong" in first.messages[-1].content
    assert first.meta["critique"]["first_wrong_step"] == 2


def test_all_critiques_every_distinct_wrong_sample_as_the_authors_do(
    tmp_path, run_context, sample_rounds
):
    _, _, calls, samples, _ = sample_rounds(run_context, tmp_path, {"critiques_per_problem": "all"})
    # p0's repeated wrong answer once, p1's three different ones, p3's.
    assert calls[1] == ("critic", 5)
    critiqued = [s.request.parent_sample_id for s in samples if s.request.purpose == "critique"]
    assert len(critiqued) == len(set(critiqued)) == 5


def test_rerunning_rounds_over_samples_on_disk_asks_for_nothing_new(
    tmp_path, run_context, sample_rounds, scripted
):
    settings = {"rollouts": 2, "baseline_samples": 2}
    _, scheduler, calls, first, log = sample_rounds(run_context, tmp_path, settings)
    assert calls
    calls.clear()
    again = scheduler.run_rounds(log, max_rounds=8, task=scripted.Task())
    assert calls == []
    assert [s.id for s in again] == [s.id for s in first]


def test_rollouts_and_resampling_run_in_the_critique_round(tmp_path, run_context, sample_rounds):
    settings = {"rollouts": 3, "baseline_samples": 2, "critiques_per_problem": 1}
    _, _, calls, samples, _ = sample_rounds(run_context, tmp_path, settings)
    # round 1: critiques (critic) and rollouts + resamples (actor): one call each.
    assert calls[1:3] in ([("critic", 3), ("actor", 8)], [("actor", 8), ("critic", 3)])
    rollouts = [s for s in samples if s.request.purpose == "rollout"]
    # p0, p1, p3 have a wrong 3-step sample: prefixes after steps 1 and 2, 3 rollouts each.
    assert len(rollouts) == 3 * 2 * 3
    assert all(s.text.startswith(s.request.prefill) for s in rollouts)
    assert {s.correct for s in rollouts if s.request.meta["step"] == 1} == {True}
    resampled = [s for s in samples if s.request.purpose == "resample"]
    assert {s.problem_id for s in resampled} == {"p1", "p3"}  # the hard problems
