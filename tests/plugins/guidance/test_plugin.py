"""The guidance plugin (GSI) as a whole: trigger, turns, examples, budget, resume, whole runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop.core.loop import Loop
from reasonloop.core.records import Message, Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog
from reasonloop.datasets.reference_sets import DATA_ENV
from reasonloop.plugins.guidance.settings import schedule


def test_only_deficient_problems_get_guided_samples_until_they_reach_t(
    tmp_path, run_context, scripted
):
    stage, samples, calls = scripted.sample_rounds(
        run_context, tmp_path, {"strategy": "rationale", "attempts": 3}
    )
    ids = [p.id for p in stage.problems]
    rounds = {}
    for s in scripted.guided(samples):
        rounds.setdefault(s.request.round, []).append(s.problem_id)
    # t defaults to half of n=4: p1 (1 correct) needs one guided success, p2 (0) two.
    assert rounds == {1: [ids[2], ids[1]], 2: [ids[2]]}
    assert calls == [[("actor", "sample")] * 4, [("actor", "guided-rationale")] * 2,
                     [("actor", "guided-rationale")]]  # fmt: skip


def test_threshold_and_attempts_settings(tmp_path, run_context, scripted):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return scripted.default_respond(request, index, problem)
        return "Answer: 1"  # guided attempts never succeed

    stage, samples, _ = scripted.sample_rounds(
        run_context, tmp_path, {"threshold": 3, "attempts": 2}, never
    )
    per_round = {r: sorted(s.problem_id for s in scripted.guided(samples) if s.request.round == r)
                 for r in (1, 2)}  # fmt: skip
    ids = [p.id for p in stage.problems]
    # t=3: p1, p2 and p3 (2 correct) are deficient; two attempts each, then stop.
    assert per_round == {1: ids[1:], 2: ids[1:]}
    assert max(s.request.round for s in samples) == 2


def test_no_guidance_settings_means_plain_sampling_only(tmp_path, run_context, scripted):
    _, samples, calls = scripted.sample_rounds(run_context, tmp_path, None)
    assert not scripted.guided(samples) and len(calls) == 1


def test_evaluation_gets_no_guidance(tmp_path, run_context, scripted):
    stage, scheduler, calls = scripted.make_stage(run_context, tmp_path, {"strategy": "answer"})
    stage.mode = "eval"
    samples = scheduler.run_rounds(JsonlLog(tmp_path / "e.jsonl", Sample), 12, scripted.Task())
    assert not scripted.guided(samples) and len(calls) == 1


def test_strategies_take_turns(tmp_path, run_context, scripted):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return scripted.default_respond(request, index, problem)
        return "Answer: 1"

    settings = {"strategy": ["answer", "state_reset", "brute_force"], "attempts": 4}
    _, samples, _ = scripted.sample_rounds(run_context, tmp_path, settings, never)
    by_round = {s.request.round: s.request.meta["strategy"] for s in scripted.guided(samples)}
    assert by_round == {1: "answer", 2: "state_reset", 3: "brute_force", 4: "answer"}


@pytest.mark.parametrize("strategy", ["answer", "rationale", "state_reset", "interactive"])
def test_examples_are_the_plain_question_and_the_guided_solution(
    tmp_path, strategy, run_context, scripted
):
    stage, samples, _ = scripted.sample_rounds(run_context, tmp_path, {"strategy": strategy})
    examples = scripted.examples_of(stage, samples)
    assert examples
    for ex in examples:
        p = next(p for p in stage.problems if p.id == ex.problem_id)
        assert ex.messages[:-1] == stage.run.problem_messages(p)
        assert ex.messages[-1].role == "assistant"
        assert ex.plugin == "guidance" and ex.metadata["strategy"] == strategy
        user = " ".join(m.content for m in ex.messages[:-1])
        assert "Hint" not in user and "teacher" not in user and p.reference.rationale not in user
        s = next(s for s in samples if s.id == ex.sample_id)
        if strategy == "state_reset":
            # The pre-filled prefix is part of what the model learns to write.
            assert ex.messages[-1].content.startswith(s.request.prefill.strip())


def test_interactive_chain_masks_the_wrong_attempt(tmp_path, run_context, scripted):
    settings = {"strategy": "interactive", "trajectories": "both"}
    stage, samples, _ = scripted.sample_rounds(run_context, tmp_path, settings)
    examples = scripted.examples_of(stage, samples)
    chains = [e for e in examples if e.how == "interactive-chain"]
    plain = [e for e in examples if e.how == "interactive"]
    # p1 needs one correct revision, p2 two.
    assert len(chains) == len(plain) == 3
    chain = chains[0]
    assert [(m.role, m.train) for m in chain.messages] == [
        ("user", None), ("assistant", False), ("user", None), ("assistant", True)]  # fmt: skip
    assert "teacher" in chain.messages[2].content
    row = chain.to_trl()
    # Only the revision is trained: the wrong attempt sits in the prompt.
    assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
    assert row["completion"][0]["content"] == chain.messages[-1].content


def test_to_trl_keeps_per_turn_masks_in_the_messages_form():
    ex = TrainingExample(
        id="e",
        problem_id="p",
        messages=[
            Message(role="user", content="q"),
            Message(role="assistant", content="a1", train=True),
            Message(role="user", content="f"),
            Message(role="assistant", content="a2", train=True),
            Message(role="user", content="g"),
            Message(role="assistant", content="a3", train=False),
        ],
    )
    assert ex.to_trl()["train_turns"] == [1, 3]


@pytest.mark.parametrize("strategy", ["brute_force", "rationale", "interactive"])
def test_token_budget_limits_guided_requests(tmp_path, strategy, run_context, scripted):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return scripted.default_respond(request, index, problem)
        return "I am not sure at all, sorry.\nAnswer: 1"

    settings = {"strategy": strategy, "attempts": 5, "threshold": 3}
    _, free, _ = scripted.sample_rounds(run_context, tmp_path / "free", settings, never)
    spent = sum(s.prompt_tokens + s.completion_tokens for s in scripted.guided(free))
    budget = spent // 3
    _, capped, _ = scripted.sample_rounds(
        run_context, tmp_path / "capped", {**settings, "token_budget": budget}, never
    )
    used = sum(s.prompt_tokens + s.completion_tokens for s in scripted.guided(capped))
    assert 0 < used <= budget
    assert len(scripted.guided(capped)) < len(scripted.guided(free))


@pytest.mark.parametrize("strategy", [["interactive", "state_reset"], "answer"])
def test_resume_over_samples_on_disk_sends_nothing_new(tmp_path, strategy, run_context, scripted):
    settings = {"strategy": strategy, "attempts": 3, "token_budget": 400}
    _stage, scheduler, calls = scripted.make_stage(run_context, tmp_path, settings)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    first = scheduler.run_rounds(log, 12, scripted.Task())
    assert scripted.guided(first)
    calls.clear()
    again = scheduler.run_rounds(log, 12, scripted.Task())
    assert calls == []
    assert [s.id for s in again] == [s.id for s in first]
    # Lose the last round and tear a line: only that round is asked again.
    last = max(s.request.round for s in first)
    lines = log.path.read_text().splitlines(keepends=True)
    kept = [ln for ln, s in zip(lines, first, strict=True) if s.request.round != last]
    log.path.write_text("".join(kept) + kept[-1][:30])
    resumed = scheduler.run_rounds(log, 12, scripted.Task())
    assert len(calls) == 1
    assert [s.id for s in resumed] == [s.id for s in first]


def test_svamp_problems_get_guidance(tmp_path, shared_data, monkeypatch, run_context, scripted):
    monkeypatch.setenv(DATA_ENV, str(shared_data))
    data = {"train": [{"name": "svamp", "limit": 12}], "eval": []}

    def respond(request, index, problem):
        answer = problem.reference.answer
        if request.plugin == "selfimprove":
            return "Answer: 0.5"
        # SVAMP's reference is one equation line, so state reset pre-fills a share of it.
        return f" = {answer}, working with the numbers.\nAnswer: {answer}"

    run, _ = scripted.run_loop(
        run_context, tmp_path, {"strategy": "state_reset", "attempts": 2}, data, respond
    )
    samples = list(JsonlLog(run.run_dir.stage_dir(0) / "samples.jsonl", Sample))
    resets = [s for s in samples if s.request.plugin == "guidance"]
    # t = 2 of n = 4 and no plain sample is correct: two guided attempts each.
    assert len(resets) == 24
    problems_by_id = {p.id: p for p in Loop(run)._problems("train")}
    for s in resets:
        equation = problems_by_id[s.problem_id].reference.rationale
        assert s.request.prefill and equation.startswith(s.request.prefill)
        assert s.request.prefill != equation and s.correct
    metrics = json.loads((run.run_dir.stage_dir(0) / "guidance.json").read_text())
    assert metrics["coverage"] == 1.0 and metrics["plain_coverage"] == 0.0


def test_the_gsi_recipe_validates_and_names_no_cpu_only_option(run_context):
    path = Path(__file__).resolve().parents[3] / "recipes" / "gsi-math.yaml"
    run = run_context(path.read_text())  # settings and max_rounds check out
    recipe = run.recipe
    settings = run.settings_for("guidance")
    assert settings is not None and 1 + len(schedule(settings)) <= recipe.sampling.max_rounds
    # Moving to a GPU changes roles.actor.backend and .model only: no backend options.
    assert recipe.roles["actor"].backend_options == {}


@pytest.mark.parametrize("strategy", ["answer", "rationale", "state_reset", "interactive"])
def test_pairs_put_guided_solutions_over_wrong_answers_without_the_hint(
    tmp_path, strategy, run_context, scripted
):
    from reasonloop.core.lineage import SampleTree

    stage, samples, _ = scripted.sample_rounds(run_context, tmp_path, {"strategy": strategy})
    pairs = []
    for p in stage.problems:
        own = [s for s in samples if s.problem_id == p.id]
        pairs += [
            x for x in stage.run.hooks.preference_pairs(p, own, stage) if x.source == "guidance"
        ]
    assert pairs
    tree = SampleTree(samples)
    for pair in pairs:
        p = next(p for p in stage.problems if p.id == pair.problem_id)
        assert pair.prompt == stage.run.problem_messages(p)
        chosen, rejected = tree.get(pair.chosen_sample_id), tree.get(pair.rejected_sample_id)
        assert chosen.request.plugin == "guidance" and chosen.correct
        assert rejected.verdict.value in ("wrong", "unparsable")
        if strategy == "interactive":
            # The revision over the very answer the teacher's feedback was about.
            assert pair.pairing == "correction"
            assert tree.parent(tree.parent(chosen)).id == rejected.id
        else:
            assert pair.pairing == "guided-random" and rejected.request.how == "plain"
        if strategy == "state_reset":
            assert pair.chosen.startswith(chosen.request.prefill.strip())
