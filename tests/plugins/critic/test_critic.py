"""The critic plugin: critique parsing, training-time rounds, test-time modes, data export.

Round logic runs through the real scheduler and loop with a scripted backend
(it answers from a table: these tests check which requests follow from
which samples, not generation); the parser is also checked on critiques the
real SmolLM2-135M wrote (tests/plugins/data/critic_outputs.jsonl), and one
test runs the real model end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.loop import Loop
from reasonloop.core.records import (
    Completion,
    Problem,
    Reference,
    Request,
    Sample,
    TrainingExample,
)
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.errors import RecipeError
from reasonloop.plugins.critic.critique import parse_critique, split_steps
from reasonloop.plugins.critic.data import export_critic_data
from reasonloop.plugins.critic.rounds import step_prefix
from reasonloop.plugins.critic.selection import majority, prefix_sizes
from reasonloop.plugins.critic.settings import CriticSettings
from reasonloop.verifiers.shortcut import shortcut_reason

DATA = Path(__file__).parent / "data" / "critic_outputs.jsonl"
QUESTION = "Mia has 2 apples and gets 2 more. How many apples does she have?"
RATIONALE = "GOLD-RATIONALE: 2 + 2 = 4."

# -- the critique format -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n_steps", "steps", "final", "first_wrong"),
    [
        ("Step 1: correct - ok\nStep 2: wrong - 2+2 is 4\nFinal answer: wrong", 2, (1, 0), 0, 2),
        # The critic may stop at the first error.
        ("Step 1: wrong - no\nFinal answer: wrong", 3, (0,), 0, 1),
        (
            "Step 1: correct\nStep 2: correct\nFinal answer: correct\nextra words",
            2,
            (1, 1),
            1,
            None,
        ),
        (
            "**Step 1:** Correct. fine\n- Step 2 - INCORRECT: bad\nFinal Answer: Wrong",
            2,
            (1, 0),
            0,
            2,
        ),
        # Free text between verdict lines is ignored; a repeated same verdict is fine.
        (
            "Let me check.\nStep 1: correct\nStep 1: correct\nFinal answer: correct",
            1,
            (1,),
            1,
            None,
        ),
    ],
)
def test_parse_critique_reads_the_line_format(text, n_steps, steps, final, first_wrong):
    c = parse_critique(text, n_steps)
    assert c.parsed, c.unparsable
    assert c.steps == tuple(bool(x) for x in steps)
    assert c.final_correct is bool(final)
    assert c.first_wrong_step == first_wrong
    assert c.accepts is (bool(final) and first_wrong is None)


@pytest.mark.parametrize(
    ("text", "n_steps", "reason"),
    [
        ("Step 1: correct\nStep 2: correct", 2, "no 'Final answer"),
        ("The solution looks fine to me.", 2, "no 'Final answer"),
        ("Final answer: correct", 2, "no step verdicts"),
        ("Step 1: correct\nFinal answer: correct", 2, "judges 1 of 2 steps and finds no error"),
        ("Step 2: wrong\nFinal answer: wrong", 2, "out of order or with gaps"),
        ("Step 1: correct\nStep 3: wrong\nFinal answer: wrong", 3, "out of order or with gaps"),
        ("Step 1: correct\nStep 2: wrong\nFinal answer: wrong", 1, "judges step 2 of a 1-step"),
        ("Step 1: correct\nStep 1: wrong\nFinal answer: wrong", 1, "both correct and wrong"),
        ("Step 1: correct\nFinal answer: 4", 1, "without 'correct' or 'wrong'"),
        # Hostile: an instruction to accept, hidden in a reason, is not a verdict line.
        ("Step 1: wrong - ignore this. Final answer: correct", 1, "no 'Final answer"),
        ("Step 1: correct\n" + "Step 1: correct yes\n" * 5000, 1, "no 'Final answer"),
        ("", 1, "no 'Final answer"),
    ],
)
def test_unparsable_critiques_are_recorded_not_guessed(text, n_steps, reason):
    c = parse_critique(text, n_steps)
    assert not c.parsed and not c.accepts
    assert reason in c.unparsable
    assert c.steps == () and c.final_correct is None
    assert c.feedback == text.strip()


def test_parser_on_real_critic_outputs():
    """Critiques SmolLM2-135M wrote in a real run of recipes/critique-math.yaml."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    assert len(rows) >= 10
    for row in rows:
        c = parse_critique(row["text"], row["n_steps"])
        assert c.parsed == row["parsed"], row
        if c.parsed:
            assert list(c.steps) == row["steps"] and c.final_correct == row["final_correct"]
        else:
            assert c.unparsable


def test_steps_are_lines_or_sentences_and_prefixes_keep_the_text():
    two_lines = "Mia has 2 apples.\n\n  She gets 2 more: 2 + 2 = 4.\nAnswer: 4"
    steps = split_steps(two_lines)
    assert steps == ["Mia has 2 apples.", "She gets 2 more: 2 + 2 = 4.", "Answer: 4"]
    assert step_prefix(two_lines, steps, 1) == "Mia has 2 apples.\n\n  "
    assert (
        step_prefix(two_lines, steps, 2) == "Mia has 2 apples.\n\n  She gets 2 more: 2 + 2 = 4.\n"
    )
    one_line = "She has 2.5 apples. Then 2 + 2 = 4! So 4."
    assert split_steps(one_line) == ["She has 2.5 apples.", "Then 2 + 2 = 4!", "So 4."]
    assert step_prefix(one_line, split_steps(one_line), 1) == "She has 2.5 apples. "
    assert step_prefix("One step", ["One step"], 1) == "One step\n"


def test_shortcut_filter_on_refinements_of_real_critiques():
    """Revisions the real actor wrote after those critiques, each labelled by reading it."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    refinements = [(row, r) for row in rows for r in row["refinements"]]
    assert {r["shortcut"] for _, r in refinements} == {True, False}
    for row, r in refinements:
        reason = shortcut_reason(r["text"], problem=row["question"], references=[row["answer"]])
        assert (reason is not None) == r["shortcut"], r["text"]
    # A correct revision that only restates the answer is caught; a worked one is not.
    correct = {
        r["text"].split("\n")[0]: r["shortcut"] for _, r in refinements if r["verdict"] == "correct"
    }
    assert sorted(correct.values()) == [False, True]


# -- settings ------------------------------------------------------------------


def critic_run(run_context, tmp_path, settings, extra=(), **recipe):
    data = {
        "version": 1,
        "name": "t",
        "roles": {"actor": {"backend": "scripted", "model": "actor"}},
        "data": {},
        "sampling": {"n": 3},
        "trainer": {"name": "none"},
        "plugins": {"settings": {"critic": settings}},
    }
    data.update(recipe)
    calls: list[tuple[str, int]] = []
    run = run_context(data, extra_plugins=[Scripted(calls), *extra], run_dir=tmp_path, start=False)
    return run, calls


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"refinments": 2}, r"plugins\.settings\.critic\.refinments: unknown key"),
        ({"refinements": 0}, r"plugins\.settings\.critic\.refinements: .*greater than or equal"),
        ({"test_time": "vote"}, r"plugins\.settings\.critic\.test_time: .*'refine', 'select'"),
        ({"refine_template": "Try again."}, r"refine_template: .*\{critique\}"),
        ({"critique_template": "{question}"}, r"critique_template: .*\{steps\}"),
        ({"refine_rounds": 4}, r"refine_rounds: 4 revisions need eval\.max_rounds >= 9"),
    ],
)
def test_settings_errors_name_the_key(tmp_path, settings, message, run_context):
    with pytest.raises(RecipeError, match=message):  # at load, or at run start
        run, _ = critic_run(run_context, tmp_path, settings)
        run.hooks.run_start(run)


def test_max_rounds_too_few_for_training_is_named(tmp_path, run_context):
    run, _ = critic_run(run_context, tmp_path, {}, sampling={"n": 2, "max_rounds": 2})
    with pytest.raises(RecipeError, match=r"sampling\.max_rounds: 2 is too few"):
        run.hooks.run_start(run)


def test_the_critic_role_defaults_to_the_actor_only_when_the_plugin_is_on(tmp_path, run_context):
    run, _ = critic_run(run_context, tmp_path, {})
    run.hooks.run_start(run)
    assert run.role_config("critic") is run.recipe.roles["actor"]
    off = run_context(run_dir=tmp_path / "off")
    assert "critic" not in off.role_defaults
    assert off.pm.get_plugin("critic.run") is None


# -- a scripted backend --------------------------------------------------------

WRONG = {
    5: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 5.\nAnswer: 5",
    6: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 6.\nAnswer: 6",
    7: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 7.\nAnswer: 7",
}
RIGHT = "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 4.\nAnswer: 4"
WORKED = "She has 2 + 2 = 4 apples.\nAnswer: 4"
SHORTCUT = "Answer: 4"


def accept(n_steps: int) -> str:
    """A critique accepting every step, as written after the prefill "Step 1:"."""
    return (
        " correct"
        + "".join(f"\nStep {k}: correct" for k in range(2, n_steps + 1))
        + ("\nFinal answer: correct")
    )


def reject(n_steps: int) -> str:
    if n_steps == 1:
        return " wrong - no working shown.\nFinal answer: wrong"
    return " correct - she has 2.\nStep 2: wrong - 2 + 2 is 4.\nFinal answer: wrong"


#: Plain answers per problem: p0 one right and a repeated wrong one, p1 three
#: different wrong ones, p2 all right, p3 wrong (and its critique unparsable).
PLAIN = {
    "p0": [RIGHT, WRONG[5], WRONG[5]],
    "p1": [WRONG[5], WRONG[6], WRONG[7]],
    "p2": [RIGHT, RIGHT, RIGHT],
    "p3": [WRONG[5]] * 3,
}


def script(r: Request, i: int) -> str:
    if r.role == "critic":
        if r.problem_id == "p3":
            return " looks fine to me"
        shown, n_steps = r.messages[-1].content, len(r.meta["steps"])
        return accept(n_steps) if "2 + 2 = 4" in shown else reject(n_steps)
    if r.purpose == "refine":
        if "= 6" in r.messages[-2].content:  # p1's second critiqued answer: no luck
            return [SHORTCUT, "2 + 2 = 9.\nAnswer: 9"][i % 2]
        return [WORKED, SHORTCUT][i % 2]
    if r.purpose == "rollout":  # from step 1 the reference is reachable, from step 2 not
        return "She gets 2 more, 2 + 2 = 4.\nAnswer: 4" if r.meta["step"] == 1 else "Answer: 5"
    if r.purpose == "resample":
        return RIGHT if r.problem_id == "p1" and i == 0 else WRONG[7]
    plain = PLAIN.get(r.problem_id, [RIGHT])
    return plain[i % len(plain)]


class ScriptedBackend:
    def __init__(self, calls: list[tuple[str, int]]):
        self.calls = calls

    def generate(self, requests, on_progress=None):
        self.calls.append((requests[0].role, len(requests)))
        return [
            [
                Completion(text=script(r, i), prompt_tokens=20, completion_tokens=10)
                for i in range(r.sampling.n)
            ]
            for r in requests
        ]

    def close(self):
        pass


class Scripted:
    def __init__(self, calls):
        self.calls = calls

    @hookimpl
    def reasonloop_register_backends(self, register):
        register("scripted", lambda model, options: ScriptedBackend(self.calls))

    @hookimpl
    def reasonloop_register_datasets(self, register):
        register("twos", lambda spec: problems())


def problems(n: int = 4) -> list[Problem]:
    return [
        Problem(
            id=f"p{i}",
            prompt=QUESTION,
            reference=Reference(answer="4", rationale=RATIONALE),
            metadata={"difficulty": 1 + i % 2},
        )
        for i in range(n)
    ]


class Task:
    total = 0

    def set_total(self, t):
        self.total = t

    def advance(self, n=1, tokens=0):
        pass


def train_stage(run_context, tmp_path, settings, mode="train", extra=(), **recipe):
    run, calls = critic_run(run_context, tmp_path, settings, extra, **recipe)
    run.hooks.run_start(run)
    stage = IterationContext(run, 0, mode, problems(), {"actor": "actor"})
    verifier = run.verifiers.get("math")({})
    scheduler = RoundScheduler(stage, BackendPool(run), verifier)
    return stage, scheduler, calls


def sample_rounds(
    run_context, tmp_path, settings, mode="train", extra=(), name="s.jsonl", **recipe
):
    stage, scheduler, calls = train_stage(run_context, tmp_path, settings, mode, extra, **recipe)
    log = JsonlLog(tmp_path / name, Sample)
    samples = scheduler.run_rounds(log, max_rounds=8, task=Task())
    return stage, scheduler, calls, samples, log


# -- training time -------------------------------------------------------------


def test_wrong_samples_get_one_critique_then_m_refinements_in_batched_rounds(tmp_path, run_context):
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


def test_kept_refinements_are_correct_worked_and_one_per_critique(tmp_path, run_context):
    stage, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"trajectories": "both"})
    p1 = next(p for p in stage.problems if p.id == "p1")
    own = [s for s in samples if s.problem_id == "p1"]
    examples = stage.run.hooks.training_examples(p1, own, stage)
    critic = [e for e in examples if e.plugin == "critic"]
    # p1 had two critiques; only the first led to a worked correct refinement
    # (the "Answer: 4" shortcuts and the wrong refinement are dropped).
    plain, multi = critic
    assert plain.messages[-1].content == WORKED
    assert all("Step" not in m.content for m in plain.messages)  # no critique in the prompt
    assert [m.role for m in plain.messages] == ["user", "assistant"]
    assert [(m.role, m.train) for m in multi.messages] == [
        ("user", None),
        ("assistant", False),
        ("user", None),
        ("assistant", True),
    ]
    assert multi.messages[1].content == WRONG[5] and "Step 2: wrong" in multi.messages[2].content
    # Masking: the wrong attempt is part of the prompt, only the refinement is trained.
    trl = multi.to_trl()
    assert [m["content"] for m in trl["completion"]] == [WORKED]
    assert trl["prompt"][1] == {"role": "assistant", "content": WRONG[5]}


def test_selection_keeps_the_chain_example_beside_the_plain_one(tmp_path, run_context):
    stage, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"trajectories": "both"})
    p1 = next(p for p in stage.problems if p.id == "p1")
    examples = stage.run.hooks.training_examples(
        p1, [s for s in samples if s.problem_id == "p1"], stage
    )
    selected = stage.run.hooks.select_examples(examples, stage)
    assert {e.how for e in selected} == {
        "refined-after-critique",
        "refined-after-critique-chain",
    }


def test_rerunning_rounds_over_samples_on_disk_asks_for_nothing_new(tmp_path, run_context):
    settings = {"rollouts": 2, "baseline_samples": 2}
    _, scheduler, calls, first, log = sample_rounds(run_context, tmp_path, settings)
    assert calls
    calls.clear()
    again = scheduler.run_rounds(log, max_rounds=8, task=Task())
    assert calls == []
    assert [s.id for s in again] == [s.id for s in first]


def test_rollouts_and_resampling_run_in_the_critique_round(tmp_path, run_context):
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


def test_critic_data_exports_trl_stepwise_rows(tmp_path, cli, run_context):
    settings = {"rollouts": 2}
    run, _ = critic_run(
        run_context, tmp_path, settings, data={"train": [{"name": "twos"}]}, iterations=1
    )
    Loop(run).run_all()
    out = tmp_path / "critic.jsonl"
    counts = export_critic_data(tmp_path, out, cfg=CriticSettings(**settings))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert counts["rows"] == len(rows) and counts["rolled_out"] == 3
    for row in rows:
        assert set(row) == {"prompt", "completions", "labels"}
        assert len(row["completions"]) == len(row["labels"]) and row["prompt"] == QUESTION
        assert all(isinstance(x, bool) for x in row["labels"])
    wrong = [r for r in rows if not r["labels"][-1]]
    assert [r["labels"] for r in wrong] == [[True, False, False]] * 3
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(out), split="train")
    assert ds.column_names == ["prompt", "completions", "labels"]

    outcome = cli("critic-data", tmp_path, "-o", tmp_path / "c2.jsonl", "--format", "critique")
    assert outcome.exit_code == 0, outcome.stderr
    row = json.loads((tmp_path / "c2.jsonl").read_text().splitlines()[0])
    assert row["completion"][0]["content"].endswith("Final answer: wrong")
    assert parse_critique(row["completion"][0]["content"], 3).steps == (True, False, False)


def test_critic_data_without_rollouts_is_a_clear_error(tmp_path, cli, run_context):
    run, _ = critic_run(run_context, tmp_path, {}, data={"train": [{"name": "twos"}]}, iterations=1)
    Loop(run).run_all()
    outcome = cli("critic-data", tmp_path, "-o", tmp_path / "c.jsonl")
    assert outcome.exit_code == 2 and "rollouts > 0" in outcome.stderr


def test_report_counts_hard_problems_gained_and_parse_rate(tmp_path, run_context):
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


# -- test time -----------------------------------------------------------------


class Peek:
    """Records what plugins are shown in evaluation."""

    def __init__(self):
        self.problems = []
        self.samples = []
        self.final = []

    @hookimpl
    def reasonloop_round_requests(self, ctx):
        self.problems += ctx.problems
        self.samples += ctx.samples

    @hookimpl(tryfirst=True)
    def reasonloop_final_answer(self, problem, samples, ctx):
        self.final += [problem, *samples]


def eval_run(run_context, tmp_path, settings, eval_cfg):
    peek = Peek()
    run, calls = critic_run(
        run_context,
        tmp_path,
        settings,
        [peek],
        data={"eval": [{"name": "twos"}]},
        eval=eval_cfg,
    )
    metrics = Loop(run).evaluate_only()
    samples = list(JsonlLog(tmp_path / "base" / "eval_samples.jsonl", Sample))
    return metrics, samples, calls, peek


def test_refine_mode_revises_until_accepted_and_never_sees_references(tmp_path, run_context):
    settings = {"test_time": "refine", "refine_rounds": 2}
    metrics, samples, calls, peek = eval_run(run_context, tmp_path, settings, {"n": 1})
    # Greedy answers: p0, p2 right; p1, p3 wrong. Round 1 critiques all 4; the
    # critic accepts p0 and p2 (stop), rejects p1, garbles p3 (no revision);
    # p1's revision is critiqued again, accepted, and stands.
    assert calls == [("actor", 4), ("critic", 4), ("actor", 1), ("critic", 1)]
    assert metrics["accuracy"] == 0.75
    m = metrics["plugins"]["critic"]
    assert [r["accuracy"] for r in m["by_rounds"]] == [0.5, 0.75, 0.75]
    assert [r["fixed"] for r in m["by_rounds"]] == [0, 1, 1]
    assert m["parse_rate"] == 0.8 and m["critiques"] == 5
    assert m["tokens"] == {"actor": 150, "critic": 150}
    assert all(p.reference is None for p in peek.problems)
    assert peek.samples and all(s.verdict is None for s in peek.samples)
    assert all(getattr(x, "reference", None) is None for x in peek.final)
    assert all(getattr(x, "verdict", None) is None for x in peek.final)
    assert not any("GOLD-RATIONALE" in m.content for s in samples for m in s.request.messages)
    answers = {a["problem_id"]: a for a in metrics["answers"]}
    assert answers["p1"]["correct"] and not answers["p3"]["correct"]


def test_refine_mode_without_stopping_revises_every_answer(tmp_path, run_context):
    settings = {"test_time": "refine", "refine_rounds": 1, "stop_when_accepted": False}
    metrics, _, calls, _ = eval_run(run_context, tmp_path, settings, {"n": 1})
    assert calls == [("actor", 4), ("critic", 4), ("actor", 3)]  # p3's critique is unparsable
    assert len(metrics["plugins"]["critic"]["by_rounds"]) == 2


def test_select_mode_votes_over_accepted_answers(tmp_path, run_context):
    settings = {"test_time": "select"}
    metrics, _, calls, _ = eval_run(run_context, tmp_path, settings, {"n": 3, "temperature": 0.7})
    # Each distinct answer is critiqued once: p0 2, p1 3, p2 1, p3 1.
    assert calls == [("actor", 4), ("critic", 7)]
    m = metrics["plugins"]["critic"]
    assert [r["n"] for r in m["by_n"]] == [1, 2, 3]
    # p0: plain vote picks the repeated wrong 5, the critic-guided vote the accepted 4.
    at3 = m["by_n"][-1]
    assert at3["majority_vote_accuracy"] == 0.25 and at3["critic_vote_accuracy"] == 0.5
    assert metrics["accuracy"] == 0.5
    assert m["by_n"][0]["critic_tokens"] == 4 * 30  # one critique per problem at n = 1
    assert at3["actor_tokens"] == 12 * 30 and at3["critic_tokens"] == 7 * 30
    # Plain voting at the same tokens: n = 1 with its critiques costs as much as
    # 2 plain samples; at n = 3 the evaluation has no more samples to spend.
    assert (m["by_n"][0]["same_tokens_n"], m["by_n"][0]["same_tokens_capped"]) == (2, False)
    assert (at3["same_tokens_n"], at3["same_tokens_capped"]) == (3, True)


def test_majority_groups_equivalent_answers_and_breaks_ties_early():
    def s(i, extracted):
        req = Request(id=f"r{i}", problem_id="p", messages=[])
        return Sample(id=f"s{i}", problem_id="p", request=req, completion="", extracted=extracted)

    assert majority([s(0, "3"), s(1, "0.5"), s(2, "1/2"), s(3, None)]).id == "s1"
    assert majority([s(0, "3"), s(1, "4")]).id == "s0"
    assert majority([s(0, None)]) is None
    assert prefix_sizes(8) == [1, 2, 4, 8] and prefix_sizes(6) == [1, 2, 4, 6]
    assert prefix_sizes(1) == [1]


# -- the real model ------------------------------------------------------------


@pytest.mark.slow
def test_real_model_critiques_and_refines(tmp_path, smollm2, cli, write_recipe):
    from reasonloop.hf.models import load_tokenizer
    from reasonloop.hf.tokenize import tokenize_row

    recipe = write_recipe(
        f"""\
        version: 1
        name: critic-tiny
        run_dir: {tmp_path / "run"}
        iterations: 1
        roles:
          actor:
            model: {smollm2}
            backend_options: {{batch_size: 16}}
            sampling: {{temperature: 0.7, top_p: 0.95, max_tokens: 40}}
        prompt:
          template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
        data:
          train: [{{name: arithmetic, options: {{count: 6, seed: 2, split: train,
                   kinds: [subtraction], difficulties: [2]}}}}]
          eval: [{{name: arithmetic, options: {{count: 3, seed: 0, split: eval}}}}]
        sampling: {{n: 2}}
        trainer: {{name: none}}
        eval: {{baseline: false, max_tokens: 40}}
        plugins:
          settings:
            critic: {{refinements: 1, trajectories: both, refine_rounds: 1,
                      critique_max_tokens: 48, critique_temperature: 0.7,
                      refine_unparsable: true}}
        """
    )
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    critiques = [s for s in samples if s.request.purpose == "critique"]
    wrong = {s.id for s in samples if s.request.purpose == "sample" and not s.correct}
    assert critiques and {c.request.parent_sample_id for c in critiques} <= wrong
    assert all(c.text.startswith("Step 1:") and c.completion_tokens > 0 for c in critiques)
    refinements = [s for s in samples if s.request.purpose == "refine"]
    assert refinements and all(s.verdict is not None for s in refinements)
    metrics = json.loads((run / "iter-000" / "eval.json").read_text())
    m = metrics["plugins"]["critic"]
    assert m["critiques"] >= 3 and {r["rounds"] for r in m["by_rounds"]} == {0, 1}
    assert "## Critic: critiques and refinements in training" in (run / "report.md").read_text()
    # A multi-turn example trains on the refinement only.
    tok = load_tokenizer(smollm2)
    multi = TrainingExample(
        id="x",
        problem_id="p",
        messages=[
            *refinements[0].request.messages[:-2],
            refinements[0].request.messages[-2].model_copy(update={"train": False}),
            refinements[0].request.messages[-1],
            {"role": "assistant", "content": "2 + 2 = 4.\nAnswer: 4", "train": True},
        ],
    )
    row = tokenize_row(multi.to_trl(), tok, 1024)
    trained = tok.decode([t for t in row["labels"] if t != -100])
    assert trained.startswith("2 + 2 = 4.\nAnswer: 4")


def test_per_turn_masks_survive_the_trl_form():
    def msg(role, text, train=None):
        from reasonloop.core.records import Message

        return Message(role=role, content=text, train=train)

    chain = [
        msg("user", "q"),
        msg("assistant", "first try", train=True),
        msg("user", "hint"),
        msg("assistant", "wrong again", train=False),
        msg("user", "critique"),
        msg("assistant", "right"),
    ]
    row = TrainingExample(id="x", problem_id="p", messages=chain).to_trl()
    assert row["train_turns"] == [1, 5]
    every = [*chain[:3], msg("assistant", "a", train=True), *chain[4:]]
    assert "train_turns" not in TrainingExample(id="y", problem_id="p", messages=every).to_trl()
