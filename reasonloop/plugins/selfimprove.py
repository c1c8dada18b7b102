"""Plain self-improvement: sample, keep what is verified correct, train on it.

This built-in plugin asks for round 0 (``n`` plain samples per training
problem, the greedy answer per evaluation problem), turns correct plain
samples into training examples, and provides the default selection
(deduplicate, cap per problem) and the default final answer. Method plugins
add their own rounds, examples, selection or answer choice on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop import hookimpl
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.selection import correct_examples, deduplicate

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RoundContext
    from reasonloop.core.records import Problem, Request

NAME = "selfimprove"


@hookimpl
def reasonloop_round_requests(ctx: RoundContext) -> list[Request] | None:
    if ctx.round != 0:
        return None
    if ctx.mode == "train":
        n = ctx.recipe.sampling.n
        params: dict[str, object] = {"n": n}
    else:
        ev = ctx.recipe.eval
        params = {"n": ev.n, "temperature": ev.temperature}
        if ev.max_tokens is not None:
            params["max_tokens"] = ev.max_tokens
    purpose = "sample" if ctx.mode == "train" else "eval"
    return [
        ctx.request(p, ctx.run.problem_messages(p), plugin=NAME, purpose=purpose, **params)
        for p in ctx.problems
    ]


@hookimpl
def reasonloop_training_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[TrainingExample] | None:
    return correct_examples(problem, samples, ctx, NAME)


@hookimpl(trylast=True)
def reasonloop_select_examples(
    examples: list[TrainingExample], ctx: IterationContext
) -> list[TrainingExample]:
    return deduplicate(examples, ctx.recipe.selection)


@hookimpl(trylast=True)
def reasonloop_final_answer(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> Sample | None:
    answers = [s for s in samples if s.request.answers_problem]
    if not answers:
        return None
    deepest = max(s.request.round for s in answers)
    return [s for s in answers if s.request.round == deepest][-1]
