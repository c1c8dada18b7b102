"""What each strategy's request shows: hints, worked examples, state-reset prefixes, feedback.

The real model runs in ``test_state_reset_with_the_real_model``.
"""

from __future__ import annotations

import pytest

from reasonloop.core.records import Message, Problem, Reference, Request, Sample
from reasonloop.plugins.guidance.requests import reference_lines, state_reset_prefix
from reasonloop.plugins.guidance.settings import GuidanceSettings


@pytest.fixture
def first_guided(scripted):
    """``first_guided(run_context, tmp_path, settings)``: stage, first guided sample, samples."""

    def first(run_context, tmp_path, settings, respond=scripted.default_respond):
        stage, samples, _calls = scripted.sample_rounds(run_context, tmp_path, settings, respond)
        g = scripted.guided(samples)
        return stage, g[0], samples

    return first


def test_answer_strategy_gives_the_final_answer_as_a_hint(tmp_path, run_context, first_guided):
    stage, s, _ = first_guided(run_context, tmp_path, {"strategy": "answer"})
    p = next(p for p in stage.problems if p.id == s.problem_id)
    user = s.request.messages[-1].content
    assert user.startswith(stage.run.format_problem(p))
    assert f"the correct final answer is {p.reference.answer}" in user
    assert p.reference.rationale not in user
    assert (s.request.purpose, s.request.how, s.request.prefill) == (
        "guided-answer", "guided-answer", None)  # fmt: skip


def test_rationale_strategy_shows_the_reference_as_a_worked_example(
    tmp_path, run_context, first_guided
):
    stage, s, _ = first_guided(run_context, tmp_path, {"strategy": "rationale"})
    p = next(p for p in stage.problems if p.id == s.problem_id)
    user = s.request.messages[-1].content
    assert p.reference.rationale in user and "your own" in user
    assert s.request.purpose == "guided-rationale" and s.request.prefill is None


def test_templates_can_be_overridden(tmp_path, run_context, first_guided):
    settings = {"strategy": "answer", "templates": {"answer": "{question} (it is {answer}) {x}"}}
    stage, s, _ = first_guided(run_context, tmp_path, settings)
    p = next(p for p in stage.problems if p.id == s.problem_id)
    # Unknown placeholders and braces stay as written.
    assert s.request.messages[-1].content == f"{p.prompt} (it is {p.reference.answer}) {{x}}"


def never(scripted):
    def respond(request, index, problem):
        if request.plugin == "selfimprove":
            return scripted.default_respond(request, index, problem)
        return " so it is 1.\nAnswer: 1"

    return respond


def test_state_reset_prefixes_grow_line_by_line_as_in_the_paper(tmp_path, run_context, scripted):
    stage, samples, _ = scripted.sample_rounds(
        run_context, tmp_path, {"strategy": "state_reset", "attempts": 5}, never(scripted)
    )
    p = stage.problems[2]
    lines = reference_lines(p)
    assert len(lines) == 4 and lines[-1] == f"Answer: {p.reference.answer}"
    prefixes = [s.request.prefill for s in scripted.guided(samples) if s.problem_id == p.id]
    # k = 1 .. L-1 lines: every working line, the one reaching the answer too, never
    # the "Answer: N" statement; then from 1 again.
    assert prefixes == ["\n".join(lines[:k]) + "\n" for k in (1, 2, 3, 1, 2)]
    s = next(s for s in scripted.guided(samples) if s.problem_id == p.id)
    assert s.request.messages == stage.run.problem_messages(p)
    assert s.text == s.request.prefill + s.completion


def test_state_reset_can_stop_before_the_answer(tmp_path, run_context, scripted):
    settings = {"strategy": "state_reset", "attempts": 5, "state_reset_stop": "answer"}
    stage, samples, _ = scripted.sample_rounds(run_context, tmp_path, settings, never(scripted))
    p = stage.problems[2]
    lines = reference_lines(p)
    # Three working lines, the third reaching the answer, then "Answer: N".
    assert len(lines) == 4 and lines[-1] == f"Answer: {p.reference.answer}"
    assert p.reference.answer in lines[2] and p.reference.answer not in "".join(lines[:2])
    prefixes = [s.request.prefill for s in scripted.guided(samples) if s.problem_id == p.id]
    # k = 1, 2 lines (those before the step that reaches the answer), then from 1 again.
    assert prefixes == ["\n".join(lines[:k]) + "\n" for k in (1, 2, 1, 2, 1)]
    s = next(s for s in scripted.guided(samples) if s.problem_id == p.id)
    # The plain question is asked; the prefix is the start of the answer.
    assert s.request.messages == stage.run.problem_messages(p)
    assert s.text == s.request.prefill + s.completion


def reset(
    answer: str, rationale: str, index: int, unit: str = "lines", stop: str = "answer"
) -> str | None:
    p = Problem(id="x", prompt="q", reference=Reference(answer=answer, rationale=rationale))
    settings = GuidanceSettings(state_reset_unit=unit, state_reset_stop=stop)
    return state_reset_prefix(p, index, settings)


def test_the_paper_rule_counts_the_answer_statement_as_the_last_line():
    paper = {"stop": "final_line"}
    gsm8k = "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day."
    # GSM8K's loader strips "#### 18": both working lines may be given, in turn.
    assert [reset("18", gsm8k, i, **paper) for i in range(3)] == [
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n", gsm8k + "\n",
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"]  # fmt: skip
    # A reference that states its answer keeps that line out, whatever its wording.
    for last in ("Answer: 18", "The answer is 18", "#### 18", "So the answer is: 18",
                 "Hence it is $\\boxed{18}$."):  # fmt: skip
        got = {reset("18", f"a = 9\nb = 18\n{last}", i, **paper) for i in range(4)}
        assert got == {"a = 9\n", "a = 9\nb = 18\n"}, last
    # One working line: shares of the 7 words (rounded down: 1, 2, 4, 5), never all.
    assert [reset("31", "19 + 12 = 31.\nAnswer: 31", i, **paper) for i in range(4)] == [
        "19", "19 +", "19 + 12 =", "19 + 12 = 31."]  # fmt: skip
    assert [reset("145", "( 290.0 / 2.0 )", i, **paper) for i in range(4)] == [
        "(", "( 290.0", "( 290.0 /", "( 290.0 / 2.0"]  # fmt: skip
    assert reset("12", "12", 0, **paper) is None
    # shares: of the whole reference, as the paper does for MATH.
    text = "We add. Then 2 + 3 = 5, so $\\boxed{5}$."
    assert reset("5", text, 3, unit="shares", **paper) == "We add. Then 2 + 3 = 5,"


def test_gsm8k_prefixes_are_whole_lines_that_change_over_the_attempts(shared_data, monkeypatch):
    """The first 400 GSM8K test problems, as a user's recipe loads them."""
    from reasonloop.core.dataspec import DatasetSpec
    from reasonloop.datasets.reference_sets import DATA_ENV, load_gsm8k

    monkeypatch.setenv(DATA_ENV, str(shared_data))
    problems = load_gsm8k(DatasetSpec(name="gsm8k", split="test", limit=400))
    assert len(problems) == 400
    stop_at_answer = GuidanceSettings(state_reset_stop="answer")
    paper = GuidanceSettings()
    same = {"answer": 0, "final_line": 0}
    for p in problems:
        lines = reference_lines(p)
        got = [state_reset_prefix(p, i, paper) for i in range(len(lines))]
        # k = 1 .. L over L attempts: each prefix is the first k working lines.
        assert got == ["\n".join(lines[:k]) + "\n" for k in range(1, len(lines) + 1)], p.id
        for name, settings in (("answer", stop_at_answer), ("final_line", paper)):
            if len({state_reset_prefix(p, i, settings) for i in range(4)}) == 1:
                same[name] += 1
    # Cutting where the answer's number first appears repeats one prefix on many problems.
    assert same["final_line"] == 0 and same["answer"] > 50


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


def test_state_reset_by_shares_of_the_words_before_the_answer(scripted):
    p = scripted.problems()[0]
    settings = GuidanceSettings(state_reset_unit="shares", state_reset_stop="answer")
    body = "\n".join(reference_lines(p)[:-1])
    before = body[: body.rindex(p.reference.answer)]
    assert p.reference.answer not in before
    words = before.split()
    got = [state_reset_prefix(p, i, settings) for i in range(5)]
    for share, prefix in zip([0.2, 0.4, 0.6, 0.8, 0.2], got, strict=True):
        assert before.startswith(prefix)
        assert len(prefix.split()) == round(share * len(words))


def test_interactive_asks_the_teacher_then_the_actor_revises(tmp_path, run_context, scripted):
    settings = {"strategy": "interactive", "attempts": 1, "teacher_max_tokens": 40}
    stage, samples, calls = scripted.sample_rounds(run_context, tmp_path, settings)
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


def test_brute_force_resamples_the_plain_question(tmp_path, run_context, scripted):
    stage, samples, _ = scripted.sample_rounds(
        run_context, tmp_path, {"strategy": "brute_force", "attempts": 2}
    )
    g = scripted.guided(samples)
    assert g and all(s.request.how == "plain" and s.request.purpose == "resample" for s in g)
    for s in g:
        p = next(p for p in stage.problems if p.id == s.problem_id)
        assert s.request.messages == stage.run.problem_messages(p) and s.request.prefill is None
    # Two plain requests for one problem in different rounds are different requests.
    assert len({s.request.id for s in g}) == len(g)
    assert len({s.request.sampling.seed for s in g}) == len(g)


@pytest.mark.slow
def test_state_reset_with_the_real_model(tmp_path, smollm2, scripted):
    """The real backend continues a pre-filled prefix; the sample's text includes it."""
    from reasonloop.backends.transformers_backend import TransformersBackend
    from reasonloop.core.records import SamplingParams

    p = scripted.problems()[2]
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
            messages=[
                Message(role="user", content=scripted.TEMPLATE.replace("{prompt}", p.prompt))
            ],
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
