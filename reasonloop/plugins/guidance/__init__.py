"""Socratic-guided self-improvement (GSI): hints for the problems the model keeps failing.

Plain self-improvement keeps sampling the problems the model already solves
and loses the hard ones (tail narrowing). After the plain round 0, a training
problem with fewer than t correct samples is *deficient*; every later round
gives each deficient problem one guided sample, for up to G attempts, until it
has t. Strategies, one or several in turn:

- ``answer``: the reference final answer as a hint;
- ``rationale``: the reference solution as a worked example to learn from;
- ``state_reset``: the start of the reference solution pre-filled as the start
  of the answer (k lines, k growing over attempts, or a share of its words;
  never the last line nor the step that reaches the answer), which the model
  continues;
- ``interactive``: a ``teacher`` role names the wrong step of the latest wrong
  answer (one round), then the actor revises (the next round);
- ``brute_force``: the baseline, plain resampling of deficient problems, so
  that guidance is compared with it at equal tokens.

Training examples are the plain question and the guided solution (for state
reset: prefix plus continuation); hints, references and feedback are left
out, and a correct guided solution that only copies the hint is dropped
(:func:`reasonloop.verifiers.shortcut.shortcut_reason`). For preference
training, guided solutions are paired over the wrong answers they make up
for (:func:`preference_pairs`). The plugin is on
when the recipe has ``plugins.settings.guidance``; it acts in training only.
Everything it decides follows from the samples, so resume is exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reasonloop import hookimpl
from reasonloop.core.lineage import SampleTree
from reasonloop.core.preferences import is_wrong_answer, pair_correct_with_wrong
from reasonloop.core.records import PreferencePair, Sample, TrainingExample
from reasonloop.plugins.guidance.requests import (
    hint_messages,
    revise_messages,
    state_reset_prefix,
    teacher_messages,
)
from reasonloop.plugins.guidance.samples import (
    FEEDBACK,
    HOW,
    PURPOSES,
    correct_count,
    is_answer,
    shortcut_of,
    solution_text,
    strategy_of,
)
from reasonloop.plugins.guidance.settings import (
    NAME,
    GuidanceSettings,
    Step,
    check_rounds,
    schedule,
)

if TYPE_CHECKING:
    import typer

    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import Problem, Request

__all__ = [
    "NAME",
    "PURPOSES",
    "Guidance",
    "correct_count",
    "shortcut_of",
    "solution_text",
    "strategy_of",
]


# -- hooks -----------------------------------------------------------------------


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, GuidanceSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    settings: GuidanceSettings | None = run.settings_for(NAME)
    if settings is None:
        return
    check_rounds(settings, run.recipe)
    if "interactive" in settings.strategies:
        run.default_role("teacher")
    run.register_plugin(Guidance(settings), NAME)


class Guidance:
    """Guidance for one run: its settings and the hooks that act on them."""

    def __init__(self, settings: GuidanceSettings):
        self.settings = settings
        self.steps = schedule(settings)

    @hookimpl
    def reasonloop_round_requests(self, ctx: RoundContext) -> list[Request] | None:
        if ctx.mode != "train" or ctx.round == 0 or ctx.round > len(self.steps):
            return None
        step = self.steps[ctx.round - 1]
        if step.phase == "revise":
            return _revisions(ctx, self.settings, step)
        return _guided(ctx, self.settings, step)

    @hookimpl
    def reasonloop_training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        return training_examples(problem, samples, ctx, self.settings)

    @hookimpl
    def reasonloop_preference_pairs(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[PreferencePair] | None:
        return preference_pairs(problem, samples, ctx, self.settings) or None

    @hookimpl
    def reasonloop_iteration_end(self, ctx: IterationContext, summary: dict[str, Any]) -> None:
        if ctx.iteration is not None:
            iteration_metrics(ctx, self.settings)

    @hookimpl
    def reasonloop_report_sections(self, run: RunContext) -> list[str] | None:
        from reasonloop.plugins.guidance.report import report_sections

        return report_sections(run, self.settings)


def _guided(ctx: RoundContext, settings: GuidanceSettings, step: Step) -> list[Request]:
    t = settings.threshold_for(ctx.recipe.sampling.n)
    counts = {
        p.id: correct_count(p, ctx.samples_for(p.id), settings, ctx.recipe)
        for p in ctx.problems
        if p.reference is not None and p.reference.answer
    }
    deficient = [p for p in ctx.problems if p.id in counts and counts[p.id] < t]
    # Fewest correct first, so a token budget serves the hardest problems.
    deficient.sort(key=lambda p: counts[p.id])
    requests = [r for p in deficient if (r := _ask(ctx, settings, step, p)) is not None]
    return _within_budget(ctx, settings, requests)


def _ask(ctx: RoundContext, settings: GuidanceSettings, step: Step, p: Problem) -> Request | None:
    strategy = step.strategy
    meta: dict[str, Any] = {"strategy": strategy, "attempt": step.attempt}
    common: dict[str, Any] = {"plugin": NAME, "key": f"{strategy}-{step.attempt}", "meta": meta}
    if strategy == "interactive":
        answers = [s for s in ctx.samples_for(p.id) if is_answer(s)]
        wrong = [s for s in answers if not s.correct] or answers
        if not wrong:
            return None
        limit = settings.teacher_max_tokens
        params = {} if limit is None else {"max_tokens": limit}
        return ctx.request(
            p,
            teacher_messages(ctx.run, p, wrong[-1].text, settings.templates),
            role="teacher",
            purpose=FEEDBACK,
            how=HOW[strategy],
            parent=wrong[-1],
            answers_problem=False,
            **common,
            **params,
        )
    prefill = None
    if strategy == "state_reset":
        index = len({s.request.id for s in ctx.samples_for(p.id) if strategy_of(s) == strategy})
        prefill = state_reset_prefix(p, index, settings)
        if prefill is None:
            return None
        meta["prefix_chars"] = len(prefill)
    return ctx.request(
        p,
        hint_messages(ctx.run, p, strategy, settings.templates),
        purpose=PURPOSES[strategy],
        how=HOW[strategy],
        prefill=prefill,
        n=settings.samples_per_attempt,
        **common,
    )


def _revisions(ctx: RoundContext, settings: GuidanceSettings, step: Step) -> list[Request]:
    problems = {p.id: p for p in ctx.problems}
    requests = []
    for fb in ctx.new_samples:
        if fb.request.plugin != NAME or fb.request.purpose != FEEDBACK:
            continue
        p = problems[fb.problem_id]
        wrong = SampleTree(ctx.samples_for(p.id)).parent(fb)
        if wrong is None:
            continue
        requests.append(
            ctx.request(
                p,
                revise_messages(ctx.run, p, wrong.text, fb.text, settings.templates),
                plugin=NAME,
                purpose=PURPOSES["interactive"],
                how=HOW["interactive"],
                parent=fb,
                key=f"interactive-{step.attempt}",
                n=settings.samples_per_attempt,
                meta={"strategy": "interactive", "attempt": step.attempt},
            )
        )
    return requests


def _within_budget(
    ctx: RoundContext, settings: GuidanceSettings, requests: list[Request]
) -> list[Request]:
    """The first requests whose estimated cost fits in what is left of the token budget.

    A request's prompt tokens are estimated from its characters at the
    tokens-per-character rate of the stage's requests so far (the chat
    template's overhead makes this err on the high side for long prompts),
    its completion tokens as the mean of its role's samples so far. A
    teacher request also reserves the actor's revision that follows it.
    """
    if settings.token_budget is None or not requests:
        return requests
    spent = sum(
        s.prompt_tokens + s.completion_tokens for s in ctx.samples if s.request.plugin == NAME
    )
    left = settings.token_budget - spent
    first = {s.request.id: s for s in ctx.samples}.values()
    chars = sum(_chars(s.request) for s in first)
    rate = sum(s.prompt_tokens for s in first) / chars if chars else 0.25
    completion: dict[str, list[int]] = {}
    for s in ctx.samples:
        completion.setdefault(s.role, []).append(s.completion_tokens)
    actor = completion.get("actor") or [0]

    def mean(role: str) -> float:
        values = completion.get(role) or actor
        return sum(values) / len(values)

    kept = []
    for r in requests:
        cost = r.sampling.n * (rate * _chars(r) + mean(r.role))
        if r.role == "teacher":
            cost += settings.samples_per_attempt * (rate * _chars(r) + mean("actor"))
        if cost > left:
            break
        kept.append(r)
        left -= cost
    return kept


def _chars(r: Request) -> int:
    return sum(len(m.content) for m in r.messages) + len(r.prefill or "")


def training_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext, settings: GuidanceSettings
) -> list[TrainingExample]:
    """The plain question and each correct, worked guided solution of ``problem``."""
    examples = []
    for s in samples:
        if s.request.plugin != NAME or not is_answer(s) or not s.correct:
            continue
        if shortcut_of(s, problem, settings, ctx.recipe):
            continue
        strategy = strategy_of(s)
        text = solution_text(s, problem, ctx.recipe)
        metadata = {
            "difficulty": problem.difficulty,
            "source": problem.source,
            "strategy": strategy,
            "attempt": s.request.meta.get("attempt"),
        }
        # Only interactive guidance has a wrong attempt and feedback to learn from.
        form = settings.trajectories if strategy == "interactive" else "plain"
        examples += ctx.run.refinement_examples(
            problem,
            s,
            text,
            trajectory=s.request.messages,
            form=form,
            plugin=NAME,
            metadata={**metadata, "teacher_sample_id": s.request.parent_sample_id},
        )
    return examples


def preference_pairs(
    problem: Problem, samples: list[Sample], ctx: IterationContext, settings: GuidanceSettings
) -> list[PreferencePair]:
    """Correct guided solutions (hint left out) over the wrong answers they make up for.

    An interactive revision is paired with the wrong answer the teacher's
    feedback was about (``correction``); a solution guided by a hint, a
    rationale or a pre-filled start with the problem's unguided wrong
    answers (plain or brute-force samples), by ``preferences.pairing`` and
    its cap (``guided-<pairing>``).
    """
    tree = SampleTree(samples)
    pairs: list[PreferencePair] = []
    guided: list[tuple[Sample, str]] = []
    for s in samples:
        if s.request.plugin != NAME or not is_answer(s) or not s.correct:
            continue
        strategy = strategy_of(s)
        if strategy == "brute_force" or shortcut_of(s, problem, settings, ctx.recipe):
            continue
        text = solution_text(s, problem, ctx.recipe)
        if strategy != "interactive":
            guided.append((s, text))
            continue
        feedback = tree.parent(s)
        wrong = tree.parent(feedback) if feedback is not None else None
        if feedback is None or wrong is None or not is_wrong_answer(wrong):
            continue
        pairs.append(
            ctx.run.preference_pair(
                problem,
                (s, text),
                (wrong, wrong.text.strip()),
                source=NAME,
                pairing="correction",
                metadata={"strategy": strategy, "teacher_sample_id": feedback.id},
            )
        )
    unguided = [
        (s, s.text.strip())
        for s in samples
        if is_wrong_answer(s) and strategy_of(s) in ("plain", "brute_force")
    ]
    cfg = ctx.recipe.preferences
    gold = problem.reference.answer if problem.reference else None
    seed = (ctx.recipe.seed, problem.id, ctx.iteration, NAME)
    for good, bad in pair_correct_with_wrong(guided, unguided, cfg, seed=seed, gold=gold):
        pairs.append(
            ctx.run.preference_pair(
                problem,
                good,
                bad,
                source=NAME,
                pairing=f"guided-{cfg.pairing}",
                metadata={"strategy": strategy_of(good[0])},
            )
        )
    return pairs


def iteration_metrics(ctx: IterationContext, settings: GuidanceSettings) -> None:
    """Write the iteration's ``guidance.json`` and say its coverage."""
    assert ctx.iteration is not None
    from reasonloop.core.rundir import atomic_write_json
    from reasonloop.plugins.guidance.metrics import run_metrics

    rows = run_metrics(ctx.run.run_dir, settings, ctx.recipe, only=ctx.iteration)
    if not rows:
        return
    row = rows[0]
    atomic_write_json(ctx.run.run_dir.stage_dir(ctx.iteration) / "guidance.json", row)
    hardest = row["hardest"]
    b = row["buckets"].get(hardest, {}) if hardest is not None else {}
    shortcuts = sum(s["shortcuts"] for s in row["strategies"])
    ctx.run.progress.event(
        f"iteration {ctx.iteration}: guidance coverage {row['coverage']:.0%} "
        f"(plain samples only {row['plain_coverage']:.0%}); difficulty {hardest}: "
        f"{b.get('coverage', 0):.0%} (plain {b.get('plain_coverage', 0):.0%}); "
        f"{shortcuts} guided shortcuts filtered"
    )


@hookimpl
def reasonloop_register_commands(cli: typer.Typer) -> None:
    from reasonloop.plugins.guidance.commands import register

    register(cli)
