"""Self-debugging for code: the model tests its own programs and revises them.

Active only when the recipe has ``plugins.settings.selfdebug``. In round 0
the model writes ``tests`` asserts for each code problem from its
description alone. In each later round every newest program of a problem is
run on those self-generated tests in the execution pool:

- ``mode: post`` (post-execution): a program that fails gets a debugging
  turn whose feedback names one failed test (``feedback_tests: one``) or
  all of them (``label``), or also shows expected and actual output or the
  exception (``feedback: detail``);
- ``mode: in`` (in-execution, see :mod:`.inexecution`): every program
  (``trace: all``) or every failing one (``trace: failing``) runs on one
  self-written test's input under the block tracer; the model sees only the
  trace (no expected output, no pass/fail verdict) and judges each block; a
  reply judging every block correct keeps the program, any other gets the
  turn that asks for the fix.

Up to ``rounds`` revisions per program. The real tests are never used for
debugging: in evaluation they are not even visible (plugins get problems
without their reference). At training time the revised programs that pass
the real tests become training examples (with ``trajectories: chain``, the
whole debugging exchange, with the loss masked on the failed attempt), and
preference pairs put each such revision over the program it fixed. Every
request is accounted to this plugin (purposes ``tests`` and ``debug``), and
``eval.json`` and the report compare it with plain resampling at equal tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reasonloop import hookimpl
from reasonloop.core.lineage import SampleTree
from reasonloop.core.preferences import is_wrong_answer
from reasonloop.core.records import Message, PreferencePair, Sample, TrainingExample
from reasonloop.errors import RecipeError
from reasonloop.plugins.selfdebug.inexecution import (
    CheckedProgram,
    revision_requests,
    trace_requests,
)
from reasonloop.plugins.selfdebug.prompts import (
    debug_post_message,
    entry_point_of,
    write_tests_prompt,
)
from reasonloop.plugins.selfdebug.state import (
    NAME,
    SelfDebugSettings,
    SelfDebugState,
    rounds_needed,
)

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import Problem, Request

__all__ = ["NAME", "SelfDebug", "SelfDebugSettings", "SelfDebugState"]


class SelfDebug(SelfDebugState):
    """Self-debugging for one run: the state of :class:`SelfDebugState` and the per-run hooks."""

    @hookimpl
    def reasonloop_round_requests(self, ctx: RoundContext) -> list[Request] | None:
        if ctx.mode not in self.settings.stages:
            return None
        code_problems = [p for p in ctx.problems if p.domain == "code"]
        if ctx.round == 0:
            return _test_requests(ctx, self, code_problems)
        return _debug_requests(ctx, self, code_problems)

    @hookimpl
    def reasonloop_training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        return training_examples(problem, samples, ctx, self.settings)

    @hookimpl
    def reasonloop_preference_pairs(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[PreferencePair] | None:
        return preference_pairs(problem, samples, ctx) or None

    @hookimpl
    def reasonloop_eval_metrics(
        self, problems: list[Problem], samples: list[Sample], ctx: IterationContext
    ) -> dict[str, Any] | None:
        from reasonloop.plugins.selfdebug.report import stage_metrics

        return stage_metrics(self, problems, samples, ctx)

    @hookimpl
    def reasonloop_report_sections(self, run: RunContext) -> list[str] | None:
        from reasonloop.plugins.selfdebug.report import report_section

        section = report_section(run)
        return [section] if section else None


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, SelfDebugSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    settings: SelfDebugSettings | None = run.settings_for(NAME)
    if settings is None:
        return
    needed = rounds_needed(settings)
    limits = {"train": ("sampling", run.recipe.sampling), "eval": ("eval", run.recipe.eval)}
    for stage in settings.stages:
        key, section = limits[stage]
        if section.max_rounds < needed:
            turns = "a verdict turn and a fix turn" if settings.mode == "in" else "one turn"
            raise RecipeError(
                f"plugins.settings.{NAME}.rounds: {settings.rounds} revisions ({turns} each) "
                f"need {key}.max_rounds >= {needed} (it is {section.max_rounds})"
            )
    plugin = SelfDebug(settings)
    run.register_plugin(plugin, NAME)
    run.on_close(plugin.close)


def _test_requests(ctx: RoundContext, st: SelfDebugState, problems: list[Problem]) -> list[Request]:
    requests = []
    for p in problems:
        entry = entry_point_of(p.prompt, p.metadata)
        if entry is None:
            continue
        text = write_tests_prompt(p.prompt, entry, st.settings.tests)
        requests.append(
            ctx.request(
                p,
                ctx.run.problem_messages(p, text=text),
                plugin=NAME,
                purpose="tests",
                how="test-gen",
                answers_problem=False,
                **st.params(ctx, st.settings.tests_max_tokens),
            )
        )
    return requests


def _debug_requests(
    ctx: RoundContext, st: SelfDebugState, problems: list[Problem]
) -> list[Request]:
    """Run the newest programs on their self-written tests; ask for the next debugging turns."""
    from reasonloop.execution import Job
    from reasonloop.verifiers.code import build_program

    cfg = st.settings
    pending: list[tuple[Problem, Sample, list[str], str]] = []
    for p in problems:
        tests = st.tests_for(p, ctx.samples_for(p.id))
        entry = entry_point_of(p.prompt, p.metadata)
        if not tests or entry is None:
            continue
        for s in ctx.new_samples:
            if s.problem_id != p.id or not s.request.answers_problem or s.role != "actor":
                continue
            if s.request.meta.get("debug_round", 0) >= cfg.rounds:
                continue
            program = build_program(s.text, p.prompt, entry)
            pending.append((p, s, tests, program))
    results = st.run_jobs(
        [Job(program, tests=tests, all_tests=True) for *_, tests, program in pending]
    )
    todo = [CheckedProgram(*item, res) for item, res in zip(pending, results, strict=True)]
    if cfg.mode == "in":
        return revision_requests(ctx, st, problems) + trace_requests(ctx, st, todo)
    requests = []
    for c in todo:
        if c.result.correct:
            continue
        feedback = debug_post_message(
            c.tests, c.result, cfg.feedback, cfg.feedback_tests, key=c.sample.id
        )
        requests.append(
            ctx.request(
                c.problem,
                [
                    *ctx.run.problem_messages(c.problem),
                    Message(role="assistant", content=c.sample.text),
                    Message(role="user", content=feedback),
                ],
                plugin=NAME,
                purpose="debug",
                how="debug-post",
                parent=c.sample,
                meta={
                    "debug_round": c.sample.request.meta.get("debug_round", 0) + 1,
                    "self_tests_passed": f"{len(c.result.passed)}/{len(c.tests)}",
                    "feedback": feedback,
                },
                **st.params(ctx, cfg.debug_max_tokens),
            )
        )
    return requests


def training_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext, settings: SelfDebugSettings
) -> list[TrainingExample]:
    """The revised programs of ``problem`` that pass the real tests, as training examples."""
    from reasonloop.verifiers.code import extract_code

    entry = entry_point_of(problem.prompt, problem.metadata)
    examples = []
    for s in samples:
        if s.request.plugin != NAME or s.request.purpose != "debug" or not s.correct:
            continue
        code = extract_code(s.text, entry).strip()
        # Plain: the clean program alone; chain: the debugging exchange as it
        # happened (test results or traces as feedback), then the revision.
        examples += ctx.run.refinement_examples(
            problem,
            s,
            f"```python\n{code}\n```",
            trajectory=s.request.messages,
            form=settings.trajectories,
            plugin=NAME,
            chain_text=s.text,
            metadata={"debug_round": s.request.meta.get("debug_round")},
        )
    return examples


def preference_pairs(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[PreferencePair]:
    """Each revised program that passes the real tests over the failing program it revised.

    Both sides are the clean program alone, as in the plain training
    example, so the pair differs only in the code; the debugging feedback
    stays out of the prompt.
    """
    from reasonloop.verifiers.code import extract_code

    entry = entry_point_of(problem.prompt, problem.metadata)
    tree = SampleTree(samples)
    pairs = []
    for s in samples:
        if s.request.plugin != NAME or s.request.purpose != "debug" or not s.correct:
            continue
        attempt = tree.parent(s)
        if attempt is None or not is_wrong_answer(attempt, problem.domain):
            continue  # passed the real tests already; only its self-tests failed
        fixed = f"```python\n{extract_code(s.text, entry).strip()}\n```"
        broken = f"```python\n{extract_code(attempt.text, entry).strip()}\n```"
        pairs.append(
            ctx.run.preference_pair(
                problem,
                (s, fixed),
                (attempt, broken),
                source=NAME,
                pairing="correction",
                metadata={"debug_round": s.request.meta.get("debug_round")},
            )
        )
    return pairs
