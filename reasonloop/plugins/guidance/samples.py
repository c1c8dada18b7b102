"""What a guided sample is: its strategy, the solution it teaches, whether it is a shortcut.

Shared by the hooks (which problems are still deficient, which samples
become training examples) and the metrics (coverage, shortcuts filtered), so
both count a sample the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop.core.selection import clean_solution
from reasonloop.plugins.guidance.requests import reference_solution
from reasonloop.plugins.guidance.settings import NAME
from reasonloop.verifiers.shortcut import shortcut_reason

if TYPE_CHECKING:
    from reasonloop.core.recipe import Recipe
    from reasonloop.core.records import Problem, Sample
    from reasonloop.plugins.guidance.settings import GuidanceSettings

__all__ = [
    "FEEDBACK",
    "HOW",
    "PURPOSES",
    "correct_count",
    "is_answer",
    "shortcut_of",
    "solution_text",
    "strategy_of",
]

#: The accounting purpose of each strategy's samples (the teacher's: ``feedback``).
PURPOSES = {
    "answer": "guided-answer",
    "rationale": "guided-rationale",
    "state_reset": "state-reset",
    "interactive": "interactive",
    "brute_force": "resample",
}
#: The lineage label (``sample.request.how``) of each strategy's answers.
HOW = {**PURPOSES, "brute_force": "plain"}
FEEDBACK = "feedback"


def strategy_of(sample: Sample) -> str:
    """The strategy that produced a sample: a guidance strategy, ``plain`` or a plugin name."""
    r = sample.request
    if r.plugin == NAME:
        return str(r.meta.get("strategy", "?"))
    return "plain" if r.plugin == "selfimprove" else r.plugin


def solution_text(sample: Sample, problem: Problem, recipe: Recipe) -> str:
    """What a correct answer teaches: its text, cleaned as ``selection.clean`` says."""
    text = sample.text
    ref = problem.reference
    if recipe.selection.clean and problem.domain == "math" and ref and ref.answer:
        return clean_solution(text, ref.answer)
    return text.strip()


def shortcut_of(
    sample: Sample, problem: Problem, settings: GuidanceSettings, recipe: Recipe
) -> str | None:
    """Why a guided sample only copies its hint, or ``None`` (brute force never does)."""
    if not settings.filter_shortcuts or strategy_of(sample) == "brute_force":
        return None
    return shortcut_reason(
        solution_text(sample, problem, recipe),
        problem=problem.prompt,
        references=[reference_solution(problem)],
        ratio=settings.shortcut_ratio,
    )


def is_answer(s: Sample) -> bool:
    """An actor's answer to the problem (not a teacher's feedback)."""
    return s.request.answers_problem and s.role == "actor"


def correct_count(
    problem: Problem, samples: list[Sample], settings: GuidanceSettings, recipe: Recipe
) -> int:
    """Correct answers that count towards t: guided shortcuts do not."""
    return sum(
        1
        for s in samples
        if is_answer(s)
        and s.correct
        and not (s.request.plugin == NAME and shortcut_of(s, problem, settings, recipe))
    )
