"""The round scheduler: plugin follow-ups, one batched call per role and round.

The backend here is scripted (it answers from a table) because these tests
check the scheduler's bookkeeping, not generation; the real model runs in
tests/test_end_to_end.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.plugins import make_plugin_manager
from reasonloop.core.progress import RunProgress
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Completion, Message, Problem, Reference, Sample, Verdict
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.errors import PluginError, UsageError


class ScriptedBackend:
    """Answers "Answer: 4" to actors on even problems, "Answer: 5" otherwise."""

    def __init__(self, calls: list[tuple[str, int]], role: str):
        self.calls = calls
        self.role = role

    def generate(self, requests, on_progress=None):
        self.calls.append((self.role, len(requests)))
        out = []
        for r in requests:
            if r.role == "critic":
                text = "The answer is wrong."
            else:
                text = "Answer: 4" if int(r.problem_id[1:]) % 2 == 0 else "Answer: 5"
            out.append(
                [Completion(text=text, prompt_tokens=10, completion_tokens=3)] * r.sampling.n
            )
            if on_progress:
                on_progress(r.sampling.n, 3 * r.sampling.n)
        return out

    def close(self):
        pass


class CritiqueThenRefine:
    """A miniature critic: critique wrong answers, then refine once."""

    @hookimpl
    def reasonloop_round_requests(self, ctx):
        reqs = []
        for s in ctx.new_samples:
            problem = next(p for p in ctx.problems if p.id == s.problem_id)
            if s.request.purpose == "sample" and s.verdict == Verdict.WRONG and s.index == 0:
                reqs.append(
                    ctx.request(
                        problem,
                        [Message(role="user", content="critique")],
                        role="critic",
                        plugin="mini",
                        purpose="critique",
                        parent=s,
                    )
                )
            if s.request.purpose == "critique":
                reqs.append(
                    ctx.request(
                        problem,
                        [Message(role="user", content="refine")],
                        plugin="mini",
                        purpose="refine",
                        how="refined",
                        parent=s,
                    )
                )
        return reqs


def make_stage(tmp_path: Path, calls, extra=(), mode="train"):
    class Scripted:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("scripted", lambda model, options: ScriptedBackend(calls, model))

    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "t",
            "roles": {
                "actor": {"backend": "scripted", "model": "actor"},
                "critic": {"backend": "scripted", "model": "critic"},
            },
            "data": {},
            "sampling": {"n": 2},
        }
    )
    pm = make_plugin_manager(extra_plugins=[Scripted(), *extra])
    run = build_run_context(recipe, tmp_path, RunProgress(enabled=False), pm=pm)
    problems = [
        Problem(id=f"p{i}", prompt=f"q{i}", reference=Reference(answer="4")) for i in range(4)
    ]
    stage = IterationContext(run, 0, mode, problems, {"actor": "actor", "critic": "critic"})
    verifier = run.verifiers.get("math")({})
    return stage, RoundScheduler(stage, BackendPool(run), verifier)


class Task:
    total = 0

    def set_total(self, t):
        self.total = t

    def advance(self, n=1, tokens=0):
        pass


def test_follow_ups_are_batched_per_role_and_round(tmp_path):
    calls: list[tuple[str, int]] = []
    _, scheduler = make_stage(tmp_path, calls, [CritiqueThenRefine()])
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    samples = scheduler.run_rounds(log, max_rounds=5, task=Task())
    # round 0: 4 problems in one actor call; round 1: the 2 wrong ones in one
    # critic call; round 2: their refinements in one actor call; then quiet.
    assert calls == [("actor", 4), ("critic", 2), ("actor", 2)]
    purposes = [s.request.purpose for s in samples]
    assert purposes.count("sample") == 8 and purposes.count("critique") == 2
    critiques = [s for s in samples if s.request.purpose == "critique"]
    assert all(c.verdict is None for c in critiques)  # a critique is not an answer
    refine = [s for s in samples if s.request.purpose == "refine"]
    assert {s.request.parent_sample_id for s in refine} == {c.id for c in critiques}
    assert [s.id for s in log] == [s.id for s in samples]  # all on disk, in order


def test_resume_skips_requests_already_on_disk(tmp_path):
    calls: list[tuple[str, int]] = []
    _, scheduler = make_stage(tmp_path, calls, [CritiqueThenRefine()])
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    first = scheduler.run_rounds(log, max_rounds=5, task=Task())
    lines = log.path.read_text().splitlines(keepends=True)
    # Simulate a kill: the refinements never landed and a line was torn.
    kept = [ln for ln in lines if '"purpose":"refine"' not in ln]
    log.path.write_text("".join(kept) + kept[0][:40])
    calls.clear()
    again = scheduler.run_rounds(log, max_rounds=5, task=Task())
    assert calls == [("actor", 2)]  # only the refinements are generated again
    assert [s.id for s in again] == [s.id for s in first]
    assert len({s.id for s in log}) == len(list(log)) == len(first)


def test_eval_mode_hides_reference_and_verdicts(tmp_path):
    seen = {}

    class Peek:
        @hookimpl
        def reasonloop_round_requests(self, ctx):
            seen.setdefault("problems", ctx.problems)
            if ctx.new_samples:
                seen["samples"] = ctx.new_samples
            return None

    _, scheduler = make_stage(tmp_path, [], [Peek()], mode="eval")
    samples = scheduler.run_rounds(JsonlLog(tmp_path / "e.jsonl", Sample), 3, Task())
    assert all(p.reference is None for p in seen["problems"])
    assert all(s.verdict is None for s in seen["samples"])
    assert all(s.verdict is not None for s in samples)  # recorded for scoring


def test_bad_requests_are_named(tmp_path):
    class AskStranger:
        @hookimpl
        def reasonloop_round_requests(self, ctx):
            p = ctx.problems[0]
            return [
                ctx.request(
                    p, [Message(role="user", content="x")], role="oracle", plugin="stranger"
                )
            ]

    _, scheduler = make_stage(tmp_path, [], [AskStranger()])
    with pytest.raises(UsageError, match="plugin 'stranger' asked role 'oracle'"):
        scheduler.run_rounds(JsonlLog(tmp_path / "s.jsonl", Sample), 2, Task())

    class Twice:
        @hookimpl
        def reasonloop_round_requests(self, ctx):
            p = ctx.problems[0]
            r = ctx.request(p, [Message(role="user", content="x")], plugin="twice")
            return [r, r]

    _, scheduler = make_stage(tmp_path, [], [Twice()])
    with pytest.raises(PluginError, match="two requests with id"):
        scheduler.run_rounds(JsonlLog(tmp_path / "t.jsonl", Sample), 2, Task())


def test_bad_backend_options_name_the_recipe_key(tmp_path):
    from reasonloop.core.plugins import build_checked
    from reasonloop.errors import RecipeError

    def factory(model, options):
        raise TypeError("__init__() got an unexpected keyword argument 'batchsize'")

    with pytest.raises(RecipeError, match=r"roles\.actor\.backend_options: .*'batchsize'"):
        build_checked(factory, "roles.actor.backend_options", "m", {"batchsize": 3})


def test_a_plugin_can_default_a_helper_role_to_the_actor(tmp_path):
    class AskTeacher:
        @hookimpl
        def reasonloop_round_requests(self, ctx):
            if ctx.round > 0:
                return None
            p = ctx.problems[0]
            msg = [Message(role="user", content="x")]
            return [ctx.request(p, msg, role="teacher", plugin="teach")]

    calls: list[tuple[str, int]] = []
    stage, scheduler = make_stage(tmp_path, calls, [AskTeacher()])
    with pytest.raises(UsageError, match="role 'teacher' is not defined in the recipe"):
        scheduler.run_rounds(JsonlLog(tmp_path / "a.jsonl", Sample), 2, Task())

    stage.run.default_role("teacher")
    samples = scheduler.run_rounds(JsonlLog(tmp_path / "b.jsonl", Sample), 2, Task())
    teacher = [s for s in samples if s.request.role == "teacher"]
    assert len(teacher) == 1
    # The teacher ran on the actor's backend and model: one backend, shared.
    assert ("actor", 1) in calls
    assert stage.run.role_config("teacher") is stage.run.recipe.roles["actor"]


def test_before_training_only_adapter_serving_backends_stay_up(tmp_path):
    closed: list[str] = []

    class Engine(ScriptedBackend):
        def __init__(self, model):
            super().__init__([], model)
            # The actor's engine can swap LoRA adapters; the critic's cannot.
            self.serves_adapters = model == "actor"

        def close(self):
            closed.append(self.role)

    class Engines:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("engine", lambda model, options: Engine(model))

    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "t",
            "roles": {
                "actor": {"backend": "engine", "model": "actor"},
                "critic": {"backend": "engine", "model": "critic"},
            },
            "data": {},
        }
    )
    pm = make_plugin_manager(extra_plugins=[Engines()])
    pool = BackendPool(build_run_context(recipe, tmp_path, RunProgress(enabled=False), pm=pm))
    actor, critic = pool.get("actor", "actor"), pool.get("critic", "critic")

    assert len(pool.release_for_training(adapter=True)) == 1
    assert closed == ["critic"]
    assert pool.get("actor", "actor") is actor  # kept: not rebuilt
    assert pool.get("critic", "critic") is not critic  # closed: rebuilt

    assert pool.release_for_training(adapter=False) == []  # a full fine-tune
    assert sorted(closed) == ["actor", "critic", "critic"]


def test_requests_sent_after_the_rounds_are_batched_logged_and_counted(tmp_path):
    calls: list[tuple[str, int]] = []
    stage, scheduler = make_stage(tmp_path, calls)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    scheduler.run_rounds(log, max_rounds=1, task=Task())
    from reasonloop.core.accounting import compute_ledger
    from reasonloop.core.context import AFTER_ROUNDS

    requests = [
        stage.request(
            p,
            [Message(role="user", content="which is better?")],
            round=AFTER_ROUNDS,
            role="critic",
            plugin="judging",
            purpose="judge",
            key=str(k),
        )
        for p in stage.problems[:2]
        for k in range(2)
    ]
    calls.clear()
    judged = scheduler.send(requests, log, Task())
    assert calls == [("critic", 4)]  # one batched call for the role
    assert [s.request.id for s in judged] == [r.id for r in requests]
    assert all(s.verdict is None and s.request.round == AFTER_ROUNDS for s in judged)
    rows = {(r["plugin"], r["purpose"]): r for r in compute_ledger(log)}
    assert rows[("judging", "judge")]["requests"] == 4
    assert rows[("judging", "judge")]["prompt_tokens"] == 4 * 10
    # Sent again (a resumed selection), nothing is generated and nothing is added.
    calls.clear()
    again = scheduler.send(requests, log, Task())
    assert calls == [] and [s.id for s in again] == [s.id for s in judged]
    assert len(list(log)) == 8 + 4


def test_a_stage_the_loop_did_not_start_cannot_send(tmp_path):
    stage, _ = make_stage(tmp_path, [])
    with pytest.raises(UsageError, match="cannot send requests"):
        stage.generate([], "nothing")
