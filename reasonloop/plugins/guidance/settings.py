"""The guidance plugin's recipe settings and its round schedule.

Settings live under ``plugins.settings.guidance``; a typo or a bad value is
an error naming ``plugins.settings.guidance.KEY``. The schedule maps each
sampling round after the plain round 0 to a guided attempt and its strategy:
most strategies take one round per attempt, ``interactive`` takes two (the
teacher's feedback, then the actor's revision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reasonloop.core.context import TrajectoryForm
from reasonloop.errors import RecipeError

if TYPE_CHECKING:
    from reasonloop.core.recipe import Recipe

__all__ = [
    "KEY",
    "STRATEGIES",
    "GuidanceSettings",
    "GuidanceTemplates",
    "Step",
    "check_rounds",
    "schedule",
]

NAME = "guidance"
KEY = f"plugins.settings.{NAME}"

Strategy = Literal["answer", "rationale", "state_reset", "interactive", "brute_force"]
STRATEGIES: tuple[str, ...] = ("answer", "rationale", "state_reset", "interactive", "brute_force")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GuidanceTemplates(_Strict):
    """Prompt templates; ``{name}`` placeholders are filled per problem.

    Placeholders: ``{problem}`` (the problem as the actor normally sees it,
    through ``prompt.template``), ``{question}`` (the bare problem text),
    ``{answer}`` (the reference final answer), ``{rationale}`` (the reference
    solution), ``{attempt}`` (the actor's latest wrong answer) and
    ``{feedback}`` (the teacher's reply).
    """

    #: ``answer``: the actor's user turn with the final answer as a hint.
    answer: str = (
        "{problem}\n\nHint: the correct final answer is {answer}. "
        "Work it out step by step from the numbers in the problem."
    )
    #: ``rationale``: the actor's user turn with a worked solution to learn from.
    rationale: str = (
        "{problem}\n\nHere is a worked solution you may learn from:\n{rationale}\n\n"
        "Now write your own solution, step by step, in your own words."
    )
    #: ``interactive``: the teacher's system message.
    teacher_system: str = (
        "You are a patient math teacher. You help a student find their own mistake "
        "instead of giving the answer away."
    )
    #: ``interactive``: the teacher's user turn.
    teacher: str = (
        "Problem:\n{question}\n\nThe student's answer, which is wrong:\n{attempt}\n\n"
        "A correct solution:\n{rationale}\n\n"
        "Name the first wrong step in the student's answer and say in one or two "
        "sentences why it is wrong. Do not state the final answer."
    )
    #: ``interactive``: the user turn after the actor's wrong attempt.
    revise: str = (
        "A teacher read your answer and says:\n{feedback}\n\n"
        "Solve the problem again from the start, fixing that step."
    )


class GuidanceSettings(_Strict):
    """``plugins.settings.guidance``: when and how deficient problems get hints."""

    #: One strategy, or a list used in turn over the guided attempts.
    strategy: list[Strategy] = Field(default_factory=lambda: ["rationale"])
    #: t: a problem with fewer correct samples is deficient (default: half of
    #: ``sampling.n``, rounded up; the GSI paper uses 4 of 8).
    threshold: int | None = Field(default=None, ge=1)
    #: G: the most guided attempts a deficient problem gets per iteration.
    attempts: int = Field(default=4, ge=1)
    #: Samples per deficient problem and attempt.
    samples_per_attempt: int = Field(default=1, ge=1)
    #: ``state_reset``: pre-fill whole reference lines (k growing) or a share
    #: of its words (``shares``).
    state_reset_unit: Literal["lines", "shares"] = "lines"
    #: ``state_reset``: never the line stating the final answer (``final_line``,
    #: the GSI paper's rule), or nothing from where the answer first appears
    #: (``answer``: the model must still do the step that reaches it).
    state_reset_stop: Literal["final_line", "answer"] = "final_line"
    #: ``state_reset`` with ``shares``: the shares of the reference used in turn.
    state_reset_shares: list[float] = Field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    #: The most tokens (prompt and completion, every role) guided requests
    #: may spend per iteration; ``None``: no limit but ``attempts``.
    token_budget: int | None = Field(default=None, ge=1)
    #: Drop correct guided samples that copy the hint without working.
    filter_shortcuts: bool = True
    #: A guided solution is a shortcut when it works with fewer numbers than
    #: this share of the reference's (see ``reasonloop.verifiers.shortcut``).
    shortcut_ratio: float = Field(default=0.5, gt=0, le=1)
    #: ``interactive``: train on the plain question and the revision
    #: (``plain``), on the whole chain with the wrong attempt masked
    #: (``chain``), or both.
    trajectories: TrajectoryForm = "plain"
    #: ``interactive``: the teacher's token limit (default: the role's).
    teacher_max_tokens: int | None = Field(default=None, ge=1)
    templates: GuidanceTemplates = Field(default_factory=GuidanceTemplates)

    @field_validator("strategy", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        v = [v] if isinstance(v, str) else v
        if isinstance(v, list) and not v:
            raise ValueError("give at least one strategy")
        return v

    @field_validator("state_reset_shares")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 < x < 1 for x in v):
            raise ValueError("give one or more shares between 0 and 1, e.g. [0.2, 0.4, 0.6, 0.8]")
        return v

    @property
    def strategies(self) -> list[str]:
        return list(self.strategy)

    def threshold_for(self, n: int) -> int:
        """t for a recipe drawing ``n`` plain samples per problem."""
        return self.threshold if self.threshold is not None else max(1, (n + 1) // 2)


@dataclass(frozen=True)
class Step:
    """What one sampling round after round 0 does."""

    attempt: int
    strategy: str
    #: ``ask``: a guided request (or the teacher's, for interactive);
    #: ``revise``: the actor's revision after the teacher's feedback.
    phase: Literal["ask", "revise"] = "ask"


def schedule(settings: GuidanceSettings) -> list[Step]:
    """The steps of rounds 1, 2, ...: attempt by attempt, strategies in turn."""
    steps = []
    strategies = settings.strategies
    for attempt in range(settings.attempts):
        strategy = strategies[attempt % len(strategies)]
        steps.append(Step(attempt, strategy))
        if strategy == "interactive":
            steps.append(Step(attempt, strategy, "revise"))
    return steps


def check_rounds(settings: GuidanceSettings, recipe: Recipe) -> None:
    """Fail early when ``sampling.max_rounds`` cuts the guided attempts short."""
    needed = 1 + len(schedule(settings))
    have = recipe.sampling.max_rounds
    if have < needed:
        interactive = sum(1 for s in schedule(settings) if s.phase == "revise")
        detail = (
            f" ({interactive} interactive attempts take two rounds each)" if interactive else ""
        )
        raise RecipeError(
            f"sampling.max_rounds: {have} rounds are too few for {KEY}: round 0 and "
            f"{settings.attempts} guided attempts need {needed}{detail}; "
            f"set sampling.max_rounds to at least {needed} or lower {KEY}.attempts"
        )
