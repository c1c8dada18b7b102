"""The guidance plugin (GSI): trigger, strategies, examples, shortcuts, budget, resume.

The backend here is scripted (it answers from the reference solutions)
because these tests check what the plugin asks and keeps, not generation;
the real model runs in ``test_state_reset_with_the_real_model``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.loop import Loop
from reasonloop.core.records import (
    Completion,
    Message,
    Problem,
    Reference,
    Request,
    Sample,
    TrainingExample,
)
from reasonloop.core.rundir import JsonlLog, RunDirectory
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.datasets.arithmetic import load_arithmetic
from reasonloop.datasets.reference_sets import DATA_ENV
from reasonloop.errors import RecipeError
from reasonloop.plugins.guidance.metrics import stage_metrics
from reasonloop.plugins.guidance.requests import reference_lines, state_reset_prefix
from reasonloop.plugins.guidance.settings import GuidanceSettings, schedule

TEMPLATE = "{prompt}\nEnd with 'Answer: <number>'."
#: Correct plain samples (of n=4) per problem: p0 solved, p1 and p2 deficient (t=2), p3 not.
PLAIN_CORRECT = [4, 1, 0, 2]


def problems() -> list:
    # Multistep problems with three steps: a reference of three working lines and "Answer: N".
    spec = DatasetSpec(
        name="arithmetic",
        options={"count": 4, "seed": 7, "split": "train", "kinds": ["multistep"],
                 "difficulties": [2]},
    )  # fmt: skip
    return load_arithmetic(spec)


def worked(problem) -> str:
    return problem.reference.rationale


Respond = Callable[[Request, int, Any], str]


def default_respond(request: Request, index: int, problem) -> str:
    """Plain: PLAIN_CORRECT[i] worked answers; guided: the worked reference; teacher: a note."""
    if request.role == "teacher":
        return "The second step is wrong: it should subtract."
    if request.plugin == "selfimprove":
        i = int(problem.id.rsplit("-", 1)[1])
        return worked(problem) if index < PLAIN_CORRECT[i] else "I think it is 1.\nAnswer: 1"
    text = worked(problem)
    prefill = request.prefill or ""
    assert text.startswith(prefill)
    return text[len(prefill) :]


class ScriptedBackend:
    def __init__(self, calls: list, respond: Respond, problems: dict):
        self.calls = calls
        self.respond = respond
        self.problems = problems

    def generate(self, requests, on_progress=None):
        self.calls.append([(r.role, r.purpose) for r in requests])
        out = []
        for r in requests:
            completions = []
            for i in range(r.sampling.n):
                text = self.respond(r, i, self.problems[r.problem_id])
                prompt = sum(len(m.content.split()) for m in r.messages)
                completions.append(
                    Completion(text=text, prompt_tokens=prompt, completion_tokens=len(text.split()))
                )
            out.append(completions)
        return out

    def close(self):
        pass


def recipe_dict(settings: dict | None, **extra: Any) -> dict:
    data = {
        "version": 1,
        "name": "g",
        "roles": {"actor": {"backend": "scripted", "model": "actor"}},
        "prompt": {"template": TEMPLATE},
        "data": {},
        "sampling": {"n": 4, "max_rounds": 12},
        "plugins": {"settings": {} if settings is None else {"guidance": settings}},
    }
    data.update(extra)
    return data


class Task:
    total = 0

    def set_total(self, t):
        self.total = t

    def advance(self, n=1, tokens=0):
        pass


def make_stage(
    run_context, tmp_path: Path, settings: dict | None, respond: Respond = default_respond, **extra
):
    calls: list = []
    probs = problems()
    by_id = {p.id: p for p in probs}

    class Scripted:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("scripted", lambda model, options: ScriptedBackend(calls, respond, by_id))

    run = run_context(recipe_dict(settings, **extra), extra_plugins=[Scripted()], run_dir=tmp_path)
    stage = IterationContext(run, 0, "train", probs, {"actor": "actor"})
    verifier = run.verifiers.get("math")({})
    return stage, RoundScheduler(stage, BackendPool(run), verifier), calls


def sample_rounds(
    run_context,
    tmp_path: Path,
    settings: dict | None,
    respond: Respond = default_respond,
    **kw,
):
    stage, scheduler, calls = make_stage(run_context, tmp_path, settings, respond, **kw)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    samples = scheduler.run_rounds(log, stage.recipe.sampling.max_rounds, Task())
    return stage, samples, calls


def guided(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.request.plugin == "guidance"]


def examples_of(stage, samples) -> list[TrainingExample]:
    out = []
    for p in stage.problems:
        own = [s for s in samples if s.problem_id == p.id]
        out.extend(
            stage.run.pm.get_plugin("guidance.run").reasonloop_training_examples(p, own, stage)
            or []
        )
    return out


# -- trigger and schedule --------------------------------------------------------


def test_only_deficient_problems_get_guided_samples_until_they_reach_t(tmp_path, run_context):
    stage, samples, calls = sample_rounds(
        run_context, tmp_path, {"strategy": "rationale", "attempts": 3}
    )
    ids = [p.id for p in stage.problems]
    rounds = {}
    for s in guided(samples):
        rounds.setdefault(s.request.round, []).append(s.problem_id)
    # t defaults to half of n=4: p1 (1 correct) needs one guided success, p2 (0) two.
    assert rounds == {1: [ids[2], ids[1]], 2: [ids[2]]}
    assert calls == [[("actor", "sample")] * 4, [("actor", "guided-rationale")] * 2,
                     [("actor", "guided-rationale")]]  # fmt: skip


def test_threshold_and_attempts_settings(tmp_path, run_context):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return default_respond(request, index, problem)
        return "Answer: 1"  # guided attempts never succeed

    stage, samples, _ = sample_rounds(run_context, tmp_path, {"threshold": 3, "attempts": 2}, never)
    per_round = {r: sorted(s.problem_id for s in guided(samples) if s.request.round == r)
                 for r in (1, 2)}  # fmt: skip
    ids = [p.id for p in stage.problems]
    # t=3: p1, p2 and p3 (2 correct) are deficient; two attempts each, then stop.
    assert per_round == {1: ids[1:], 2: ids[1:]}
    assert max(s.request.round for s in samples) == 2


def test_default_threshold_is_half_of_n_rounded_up():
    s = GuidanceSettings()
    assert (s.threshold_for(8), s.threshold_for(4), s.threshold_for(3), s.threshold_for(1)) == (
        4, 2, 2, 1)  # fmt: skip
    assert GuidanceSettings(threshold=5).threshold_for(8) == 5


def test_interactive_takes_two_rounds_per_attempt_in_the_schedule():
    s = GuidanceSettings(strategy=["interactive", "answer"], attempts=3)
    assert [(x.attempt, x.strategy, x.phase) for x in schedule(s)] == [
        (0, "interactive", "ask"),
        (0, "interactive", "revise"),
        (1, "answer", "ask"),
        (2, "interactive", "ask"),
        (2, "interactive", "revise"),
    ]


def test_no_guidance_settings_means_plain_sampling_only(tmp_path, run_context):
    _, samples, calls = sample_rounds(run_context, tmp_path, None)
    assert not guided(samples) and len(calls) == 1


def test_evaluation_gets_no_guidance(tmp_path, run_context):
    stage, scheduler, calls = make_stage(run_context, tmp_path, {"strategy": "answer"})
    stage.mode = "eval"
    samples = scheduler.run_rounds(JsonlLog(tmp_path / "e.jsonl", Sample), 12, Task())
    assert not guided(samples) and len(calls) == 1


# -- strategies: what each request shows -------------------------------------------


def first_guided(run_context, tmp_path, settings, respond=default_respond):
    stage, samples, _calls = sample_rounds(run_context, tmp_path, settings, respond)
    g = guided(samples)
    return stage, g[0], samples


def test_answer_strategy_gives_the_final_answer_as_a_hint(tmp_path, run_context):
    stage, s, _ = first_guided(run_context, tmp_path, {"strategy": "answer"})
    p = next(p for p in stage.problems if p.id == s.problem_id)
    user = s.request.messages[-1].content
    assert user.startswith(stage.run.format_problem(p))
    assert f"the correct final answer is {p.reference.answer}" in user
    assert p.reference.rationale not in user
    assert (s.request.purpose, s.request.how, s.request.prefill) == (
        "guided-answer", "guided-answer", None)  # fmt: skip


def test_rationale_strategy_shows_the_reference_as_a_worked_example(tmp_path, run_context):
    stage, s, _ = first_guided(run_context, tmp_path, {"strategy": "rationale"})
    p = next(p for p in stage.problems if p.id == s.problem_id)
    user = s.request.messages[-1].content
    assert p.reference.rationale in user and "your own" in user
    assert s.request.purpose == "guided-rationale" and s.request.prefill is None


def test_templates_can_be_overridden(tmp_path, run_context):
    settings = {"strategy": "answer", "templates": {"answer": "{question} (it is {answer}) {x}"}}
    stage, s, _ = first_guided(run_context, tmp_path, settings)
    p = next(p for p in stage.problems if p.id == s.problem_id)
    # Unknown placeholders and braces stay as written.
    assert s.request.messages[-1].content == f"{p.prompt} (it is {p.reference.answer}) {{x}}"


def test_state_reset_prefixes_grow_and_never_reach_the_answer(tmp_path, run_context):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return default_respond(request, index, problem)
        return " so it is 1.\nAnswer: 1"

    stage, samples, _ = sample_rounds(
        run_context, tmp_path, {"strategy": "state_reset", "attempts": 5}, never
    )
    p = stage.problems[2]
    lines = reference_lines(p)
    # Three working lines, the third reaching the answer, then "Answer: N".
    assert len(lines) == 4 and lines[-1] == f"Answer: {p.reference.answer}"
    assert p.reference.answer in lines[2] and p.reference.answer not in "".join(lines[:2])
    prefixes = [s.request.prefill for s in guided(samples) if s.problem_id == p.id]
    # k = 1, 2 lines (those before the step that reaches the answer), then from 1 again.
    assert prefixes == ["\n".join(lines[:k]) + "\n" for k in (1, 2, 1, 2, 1)]
    s = next(s for s in guided(samples) if s.problem_id == p.id)
    # The plain question is asked; the prefix is the start of the answer.
    assert s.request.messages == stage.run.problem_messages(p)
    assert s.text == s.request.prefill + s.completion


def reset(answer: str, rationale: str, index: int, unit: str = "lines") -> str | None:
    p = Problem(id="x", prompt="q", reference=Reference(answer=answer, rationale=rationale))
    return state_reset_prefix(p, index, GuidanceSettings(state_reset_unit=unit))


def test_state_reset_on_one_step_solutions_stops_before_the_answer():
    # No whole line comes before the answer: a share of the words before it.
    assert [reset("31", "19 + 12 = 31.\nAnswer: 31", i) for i in range(4)] == [
        "19", "19 +", "19 +", "19 + 12"]  # fmt: skip
    # 1500 is found as 1,500; 150 inside 1500 is not the answer 150.
    assert reset("1500", "1,200 + 300 = 1,500.\nAnswer: 1500", 3) == "1,200 + 300"
    assert reset("150", "1500 / 10 = 150.\nAnswer: 150", 3) == "1500 / 10"
    # One line without the answer in it (SVAMP's equations): never all of it.
    assert [reset("145", "( 290.0 / 2.0 )", i) for i in range(4)] == [
        "(", "( 290.0", "( 290.0 /", "( 290.0 / 2.0"]  # fmt: skip
    # Without the answer anywhere: whole lines, all but the last.
    assert [reset("x", "a\nb\nc", i) for i in range(3)] == ["a\n", "a\nb\n", "a\n"]
    assert reset("12", "12", 0) is None


def test_state_reset_by_shares_of_words():
    p = problems()[0]
    settings = GuidanceSettings(state_reset_unit="shares")
    body = "\n".join(reference_lines(p)[:-1])
    before = body[: body.rindex(p.reference.answer)]
    assert p.reference.answer not in before
    words = before.split()
    got = [state_reset_prefix(p, i, settings) for i in range(5)]
    for share, prefix in zip([0.2, 0.4, 0.6, 0.8, 0.2], got, strict=True):
        assert before.startswith(prefix)
        assert len(prefix.split()) == round(share * len(words))


def test_interactive_asks_the_teacher_then_the_actor_revises(tmp_path, run_context):
    settings = {"strategy": "interactive", "attempts": 1, "teacher_max_tokens": 40}
    stage, samples, calls = sample_rounds(run_context, tmp_path, settings)
    # The recipe has no teacher role: it defaults to the actor's backend and model.
    assert "teacher" not in stage.recipe.roles
    assert calls[1] == [("teacher", "feedback")] * 2 and calls[2] == [("actor", "interactive")] * 2
    feedback = [s for s in samples if s.request.role == "teacher"]
    revisions = [s for s in samples if s.request.purpose == "interactive"]
    by_id = {s.id: s for s in samples}
    for fb in feedback:
        wrong = by_id[fb.request.parent_sample_id]
        p = next(p for p in stage.problems if p.id == fb.problem_id)
        assert not wrong.correct and wrong.request.plugin == "selfimprove"
        assert fb.verdict is None and not fb.request.answers_problem
        assert fb.request.sampling.max_tokens == 40
        user = fb.request.messages[-1].content
        assert wrong.text in user and p.reference.rationale in user and p.prompt in user
    for rev in revisions:
        fb = by_id[rev.request.parent_sample_id]
        wrong = by_id[fb.request.parent_sample_id]
        roles = [m.role for m in rev.request.messages]
        assert roles == ["user", "assistant", "user"]
        assert rev.request.messages[1].content == wrong.text
        assert fb.text in rev.request.messages[2].content
        assert rev.correct and rev.request.round == fb.request.round + 1


def test_brute_force_resamples_the_plain_question(tmp_path, run_context):
    stage, samples, _ = sample_rounds(
        run_context, tmp_path, {"strategy": "brute_force", "attempts": 2}
    )
    g = guided(samples)
    assert g and all(s.request.how == "plain" and s.request.purpose == "resample" for s in g)
    for s in g:
        p = next(p for p in stage.problems if p.id == s.problem_id)
        assert s.request.messages == stage.run.problem_messages(p) and s.request.prefill is None
    # Two plain requests for one problem in different rounds are different requests.
    assert len({s.request.id for s in g}) == len(g)
    assert len({s.request.sampling.seed for s in g}) == len(g)


def test_strategies_take_turns(tmp_path, run_context):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return default_respond(request, index, problem)
        return "Answer: 1"

    settings = {"strategy": ["answer", "state_reset", "brute_force"], "attempts": 4}
    _, samples, _ = sample_rounds(run_context, tmp_path, settings, never)
    by_round = {s.request.round: s.request.meta["strategy"] for s in guided(samples)}
    assert by_round == {1: "answer", 2: "state_reset", 3: "brute_force", 4: "answer"}


# -- training examples and shortcuts ------------------------------------------------


@pytest.mark.parametrize("strategy", ["answer", "rationale", "state_reset", "interactive"])
def test_examples_are_the_plain_question_and_the_guided_solution(tmp_path, strategy, run_context):
    stage, samples, _ = sample_rounds(run_context, tmp_path, {"strategy": strategy})
    examples = examples_of(stage, samples)
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


def test_interactive_chain_masks_the_wrong_attempt(tmp_path, run_context):
    settings = {"strategy": "interactive", "trajectories": "both"}
    stage, samples, _ = sample_rounds(run_context, tmp_path, settings)
    examples = examples_of(stage, samples)
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


def test_guided_samples_that_copy_the_hint_are_filtered_and_counted(tmp_path, run_context):
    def copies(request, index, problem):
        if request.plugin == "selfimprove":
            return default_respond(request, index, problem)
        return f"The answer is {problem.reference.answer}.\nAnswer: {problem.reference.answer}"

    stage, samples, _ = sample_rounds(
        run_context, tmp_path, {"strategy": "answer", "attempts": 2}, copies
    )
    g = guided(samples)
    assert g and all(s.correct for s in g)
    # Shortcuts count neither as examples nor towards t: the problems stay deficient.
    assert examples_of(stage, samples) == []
    assert {s.request.round for s in g} == {1, 2}
    settings = stage.run.settings_for("guidance")
    metrics = stage_metrics(stage.problems, samples, [], settings=settings, recipe=stage.recipe)
    row = next(r for r in metrics["strategies"] if r["strategy"] == "answer")
    assert row["correct"] == row["shortcuts"] == len(g) == 4

    stage, samples, _ = sample_rounds(
        run_context, tmp_path / "off", {"strategy": "answer", "filter_shortcuts": False}, copies
    )
    assert len(examples_of(stage, samples)) == 3  # p1 needs one, p2 two


# -- token budget, coverage, settings ----------------------------------------------


@pytest.mark.parametrize("strategy", ["brute_force", "rationale", "interactive"])
def test_token_budget_limits_guided_requests(tmp_path, strategy, run_context):
    def never(request, index, problem):
        if request.plugin == "selfimprove":
            return default_respond(request, index, problem)
        return "I am not sure at all, sorry.\nAnswer: 1"

    settings = {"strategy": strategy, "attempts": 5, "threshold": 3}
    _, free, _ = sample_rounds(run_context, tmp_path / "free", settings, never)
    spent = sum(s.prompt_tokens + s.completion_tokens for s in guided(free))
    budget = spent // 3
    _, capped, _ = sample_rounds(
        run_context, tmp_path / "capped", {**settings, "token_budget": budget}, never
    )
    used = sum(s.prompt_tokens + s.completion_tokens for s in guided(capped))
    assert 0 < used <= budget
    assert len(guided(capped)) < len(guided(free))


def test_coverage_by_difficulty(tmp_path, run_context):
    stage, samples, _ = sample_rounds(run_context, tmp_path, {"strategy": "rationale"})
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


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"strategy": "hints"}, r"plugins\.settings\.guidance\.strategy\.0: Input should be"),
        ({"treshold": 3}, r"plugins\.settings\.guidance\.treshold: unknown key"),
        ({"attempts": 0}, r"plugins\.settings\.guidance\.attempts: Input should be greater"),
        ({"templates": {"hint": "x"}}, r"plugins\.settings\.guidance\.templates\.hint: unknown"),
        ({"state_reset_shares": [0.5, 1.0]}, r"guidance\.state_reset_shares: .*between 0 and 1"),
        ({"attempts": 6, "strategy": "interactive"},
         r"sampling\.max_rounds: 12 rounds are too few .* need 13 \(6 interactive"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_key(tmp_path, settings, message, run_context):
    with pytest.raises(RecipeError, match=message):
        make_stage(run_context, tmp_path, settings)


# -- resume and whole runs ---------------------------------------------------------


@pytest.mark.parametrize("strategy", [["interactive", "state_reset"], "answer"])
def test_resume_over_samples_on_disk_sends_nothing_new(tmp_path, strategy, run_context):
    settings = {"strategy": strategy, "attempts": 3, "token_budget": 400}
    _stage, scheduler, calls = make_stage(run_context, tmp_path, settings)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    first = scheduler.run_rounds(log, 12, Task())
    assert guided(first)
    calls.clear()
    again = scheduler.run_rounds(log, 12, Task())
    assert calls == []
    assert [s.id for s in again] == [s.id for s in first]
    # Lose the last round and tear a line: only that round is asked again.
    last = max(s.request.round for s in first)
    lines = log.path.read_text().splitlines(keepends=True)
    kept = [ln for ln, s in zip(lines, first, strict=True) if s.request.round != last]
    log.path.write_text("".join(kept) + kept[-1][:30])
    resumed = scheduler.run_rounds(log, 12, Task())
    assert len(calls) == 1
    assert [s.id for s in resumed] == [s.id for s in first]


def run_loop(
    run_context, tmp_path: Path, settings: dict, data: dict, respond: Respond = default_respond
):
    calls: list = []
    holder: dict = {}

    class Scripted:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register(
                "scripted", lambda model, options: ScriptedBackend(calls, respond, holder["by_id"])
            )

        @hookimpl
        def reasonloop_run_start(self, run):
            holder["run"] = run

    run = run_context(
        recipe_dict(settings, data=data, trainer={"name": "none"}, iterations=2),
        extra_plugins=[Scripted()],
        run_dir=tmp_path / "run",
        start=False,
    )
    loop = Loop(run)
    holder["by_id"] = {p.id: p for split in ("train", "eval") for p in loop._problems(split)}
    loop.run_all()
    return run, calls


def test_a_run_writes_guidance_metrics_and_report_sections(tmp_path, run_context, cli):
    data = {
        "train": [{"name": "arithmetic", "options": {"count": 24, "seed": 2, "split": "train"}}],
        "eval": [{"name": "arithmetic", "options": {"count": 6, "seed": 0, "split": "eval"}}],
        "problems_per_iteration": 12,
    }

    def respond(request, index, problem):
        if request.plugin == "selfimprove" and problem.metadata["difficulty"] == 3:
            return "Answer: 0"  # the tail: plain sampling never solves difficulty 3
        if request.plugin == "selfimprove" or request.role == "actor":
            text = worked(problem)
            return text[len(request.prefill or "") :]
        return "Check the last step."

    run, _ = run_loop(run_context, tmp_path, {"strategy": "state_reset"}, data, respond)
    root = run.run_dir.root
    metrics = json.loads((root / "iter-000" / "guidance.json").read_text())
    hard = metrics["buckets"]["3"]
    assert hard["plain_coverage"] == 0.0 and hard["coverage"] == 1.0
    assert hard["guided_examples"] == hard["problems"] > 0
    report = (root / "report.md").read_text()
    assert "## Guidance: coverage by difficulty" in report
    assert "| 1 | 3 |" in report  # iteration 1, difficulty 3
    assert "## Guidance: attempts and tokens by role and strategy" in report
    assert (root / "guidance_coverage.png").stat().st_size > 0
    assert "state-reset" in report  # the core's compute table splits the strategy out
    # The comparison command reads any run directory.
    outcome = cli("guidance-compare", root, root, "-o", tmp_path / "cmp.png")
    assert outcome.exit_code == 0, outcome.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 0
    assert f"| {root.name} | 1 | 3 | " in outcome.stdout and "plot: " in outcome.stdout
    outcome = cli("guidance-compare", root, tmp_path / "nowhere")
    assert outcome.exit_code == 2 and "nowhere" in outcome.stderr
    from reasonloop.plugins.guidance.report import plot_comparison

    bars = plot_comparison([("plain", metrics), ("guided", metrics)], tmp_path / "b.png", "t")
    assert bars.stat().st_size > 0
    assert RunDirectory(root).load_state().completed[-1] == "iter-001/eval"


def test_svamp_problems_get_guidance(tmp_path, shared_data, monkeypatch, run_context):
    monkeypatch.setenv(DATA_ENV, str(shared_data))
    data = {"train": [{"name": "svamp", "limit": 12}], "eval": []}

    def respond(request, index, problem):
        answer = problem.reference.answer
        if request.plugin == "selfimprove":
            return "Answer: 0.5"
        # SVAMP's reference is one equation line, so state reset pre-fills a share of it.
        return f" = {answer}, working with the numbers.\nAnswer: {answer}"

    run, _ = run_loop(
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


@pytest.mark.slow
def test_state_reset_with_the_real_model(tmp_path, smollm2):
    """The real backend continues a pre-filled prefix; the sample's text includes it."""
    from reasonloop.backends.transformers_backend import TransformersBackend
    from reasonloop.core.records import SamplingParams

    p = problems()[2]
    settings = GuidanceSettings(strategy="state_reset")
    prefix = state_reset_prefix(p, 1, settings)
    assert prefix.count("\n") == 2
    backend = TransformersBackend(
        smollm2, dtype="float32", batch_size=4, defaults=SamplingParams(max_tokens=24)
    )
    try:
        request = Request(
            id="r",
            problem_id=p.id,
            messages=[Message(role="user", content=TEMPLATE.replace("{prompt}", p.prompt))],
            prefill=prefix,
            sampling=SamplingParams(n=2, temperature=0.0),
        )
        plain = request.model_copy(update={"prefill": None, "id": "q"})
        (with_prefix, without) = backend.generate([request, plain])
        ids = backend.prompt_ids(request)
    finally:
        backend.close()
    # The prefix is part of the prompt the model continues, after the assistant header.
    assert backend.tokenizer.decode(ids).endswith(prefix)
    assert with_prefix[0].prompt_tokens == len(ids) > without[0].prompt_tokens
    assert with_prefix[0].completion_tokens > 0
    sample = Sample(id="s", problem_id=p.id, request=request, completion=with_prefix[0].text)
    assert sample.text.startswith(prefix) and not with_prefix[0].text.startswith(prefix)


def test_the_gsi_recipe_validates_and_names_no_cpu_only_option(run_context):
    path = Path(__file__).resolve().parents[3] / "recipes" / "gsi-math.yaml"
    run = run_context(path.read_text())  # settings and max_rounds check out
    recipe = run.recipe
    settings = run.settings_for("guidance")
    assert settings is not None and 1 + len(schedule(settings)) <= recipe.sampling.max_rounds
    # Moving to a GPU changes roles.actor.backend and .model only: no backend options.
    assert recipe.roles["actor"].backend_options == {}
