"""Correct over wrong answers to the same plain question: the loop's built-in preference pairs.

Every training problem's answers to its plain question (the prompt the
actor is asked in round 0, no hint, no pre-filled start) are split by
verdict; correct ones, cleaned as the training examples are
(``selection.clean``), are paired over wrong or unparsable ones by the
recipe's ``preferences.pairing`` rule, at most
``preferences.max_per_problem`` pairs per problem. A problem the model
always or never solves gives no pair. Method plugins add their own pairs
(a correction over the attempt it corrected) through the same hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop import hookimpl
from reasonloop.core.preferences import is_wrong_answer, pair_correct_with_wrong
from reasonloop.core.records import PreferencePair, Sample
from reasonloop.core.selection import clean_solution

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext
    from reasonloop.core.records import Problem

NAME = "pairs"


@hookimpl
def reasonloop_preference_pairs(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[PreferencePair] | None:
    cfg = ctx.recipe.preferences
    plain = ctx.run.problem_messages(problem)
    asked = [
        s
        for s in samples
        if s.request.answers_problem
        and s.role == "actor"
        and s.request.how == "plain"
        and not s.request.prefill
        and s.request.messages == plain
    ]
    gold = problem.reference.answer if problem.reference else None
    clean = ctx.recipe.selection.clean and problem.domain == "math"
    correct = [
        (s, clean_solution(s.text, gold) if clean and gold else s.text.strip())
        for s in asked
        if s.correct
    ]
    wrong = [(s, s.text.strip()) for s in asked if is_wrong_answer(s, problem.domain)]
    seed = (ctx.recipe.seed, problem.id, ctx.iteration)
    chosen = pair_correct_with_wrong(correct, wrong, cfg, seed=seed, gold=gold)
    return [
        ctx.run.preference_pair(problem, good, bad, source=NAME, pairing=cfg.pairing)
        for good, bad in chosen
    ] or None
