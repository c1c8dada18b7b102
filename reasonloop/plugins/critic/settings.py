"""The recipe's ``plugins.settings.critic``: every knob of the critic plugin."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reasonloop.core.context import TrajectoryForm
from reasonloop.plugins.critic.critique import (
    CRITIQUE_FIELDS,
    CRITIQUE_SOLUTION_FIELDS,
    DEFAULT_ANNOTATOR_HINT,
    DEFAULT_CRITIQUE_TEMPLATE,
    DEFAULT_REFINE_TEMPLATE,
    REFINE_FIELDS,
    CritiqueFormat,
)
from reasonloop.plugins.critic.mathcritique import MATHCRITIQUE_TEMPLATE

__all__ = ["NAME", "SETTINGS_KEY", "CriticSettings"]

NAME = "critic"
SETTINGS_KEY = f"plugins.settings.{NAME}"


class CriticSettings(BaseModel):
    """What the critic plugin does at training and at test time."""

    model_config = ConfigDict(extra="forbid")

    # -- training time: critique-in-the-loop ----------------------------------
    #: Wrong plain samples critiqued per training problem (distinct texts,
    #: in sampling order); bounds the critic's cost. 0 turns critiques off;
    #: ``all``: every distinct wrong sample, as the authors do.
    critiques_per_problem: Annotated[int, Field(ge=0)] | Literal["all"] = 2
    #: Refinements the actor writes per critique (m).
    refinements: int = Field(default=2, ge=1)
    #: Training examples from a revision: ``plain`` (question -> revision),
    #: ``chain`` (question, wrong answer, critique -> revision, no loss on the
    #: wrong answer) or ``both``.
    trajectories: TrajectoryForm = "plain"
    #: A refinement that works with fewer numbers than this share of the
    #: leanest reference solution (the wrong attempt, the gold rationale) is a
    #: shortcut and not kept (see reasonloop.verifiers.shortcut).
    shortcut_ratio: float = Field(default=0.5, ge=0, le=1)
    #: Refine after a critique that could not be parsed (its raw text is shown).
    refine_unparsable: bool = False
    #: Extra plain samples per hard training problem (no correct plain
    #: sample), drawn in the critique round: the plain-resampling baseline
    #: the report compares critiques with. Never training data. 0: off.
    baseline_samples: int = Field(default=0, ge=0)

    # -- test time -------------------------------------------------------------
    #: ``refine``: critique, then revise, up to ``refine_rounds`` times;
    #: ``select``: critique each of ``eval.n`` answers and vote over the
    #: accepted ones; ``off``: no critic in evaluation.
    test_time: Literal["refine", "select", "off"] = "refine"
    #: The most critique-then-revise rounds per answer (R).
    refine_rounds: int = Field(default=2, ge=1)
    #: Stop refining an answer once the critic accepts it; ``false``: refine
    #: every answer ``refine_rounds`` times, as the authors do.
    stop_when_accepted: bool = True
    #: Also report the oracle upper bound in ``eval.json``: each answer
    #: refined only while the verifier finds it wrong (the authors'
    #: known-answer setting). Reported apart as ``oracle``, never as the
    #: method's accuracy or final answer; needs ``stop_when_accepted: false``.
    oracle: bool = False

    # -- the critic's prompt and sampling --------------------------------------
    #: How critiques are read: ``auto`` by the look of each text,
    #: ``reasonloop`` (``Step N: correct|wrong`` lines) or ``mathcritique``
    #: (the authors' ``Step sentence`` / ``Correctness of the step`` blocks).
    critique_format: CritiqueFormat = "auto"
    #: The built-in critic prompt: ``reasonloop`` (a worked example of a
    #: review, numbered steps and the ``Step 1:`` prefill: what keeps an
    #: untrained small critic in the line format) or ``mathcritique`` (the
    #: authors' instruction with the solution one step per line and no
    #: prefill: for a critic trained on their data, which then stays in its
    #: own format). ``critique_template`` and ``critique_prefill``, when set,
    #: take precedence.
    critique_prompt: Literal["reasonloop", "mathcritique"] = "reasonloop"
    #: The critic's user message; ``{question}`` and ``{steps}`` (the
    #: numbered steps) or ``{solution}`` (the steps one per line) are
    #: replaced. Default: the ``critique_prompt``'s.
    critique_template: str = DEFAULT_CRITIQUE_TEMPLATE
    #: The actor's follow-up message after its answer; ``{critique}`` is replaced.
    refine_template: str = DEFAULT_REFINE_TEMPLATE
    #: Text the critic's answer starts with, so it starts in the format;
    #: default: ``"Step 1:"`` with the ``reasonloop`` prompt, none with ``mathcritique``.
    critique_prefill: str | None = "Step 1:"
    #: Token limit and temperature of critiques; ``None``: the critic role's
    #: defaults in training, ``eval.max_tokens`` / ``eval.temperature`` in evaluation.
    critique_max_tokens: int | None = Field(default=None, ge=1)
    critique_temperature: float | None = Field(default=None, ge=0)

    # -- critique data for training a critic ------------------------------------
    #: Training-time critiques are written by the role ``annotator`` (any
    #: backend, e.g. a stronger model; default: the actor's configuration)
    #: instead of ``critic``: the critiques ``reasonloop critic-data
    #: --format critiques`` filters and exports to train the critic role.
    annotator: bool = False
    #: Appended to the annotator's prompt (the critic's, otherwise the same)
    #: in training, where the reference is known; ``{answer}`` is the gold
    #: answer. Never part of the critic's training prompt. Null or empty: none.
    annotator_hint: str | None = DEFAULT_ANNOTATOR_HINT
    #: Correct plain samples per training problem also critiqued (purpose
    #: ``critique-correct``, never revised): a critique that accepts one is
    #: critic training data too. 0: none.
    annotate_correct: int = Field(default=0, ge=0)

    # -- Monte-Carlo step labels (critic training data) -------------------------
    #: Rollouts continued from each step prefix of a labelled solution (k);
    #: 0 turns step labelling off.
    rollouts: int = Field(default=0, ge=0)
    #: Wrong plain samples per training problem whose steps are labelled.
    rollout_samples: int = Field(default=1, ge=1)
    #: Solutions with more steps than this are not labelled (cost grows with steps).
    rollout_max_steps: int = Field(default=8, ge=2)
    #: A step is labelled wrong when at most this share of its rollouts reach
    #: the reference answer (0: none of them).
    rollout_threshold: float = Field(default=0.0, ge=0, lt=1)

    @field_validator("critique_template")
    @classmethod
    def _critique_fields(cls, value: str) -> str:
        _require(value, CRITIQUE_FIELDS)
        if not any(f in value for f in CRITIQUE_SOLUTION_FIELDS):
            raise ValueError("the template must contain {steps} or {solution}")
        return value

    @model_validator(mode="after")
    def _prompt_preset(self) -> CriticSettings:
        if self.critique_prompt == "mathcritique":
            given = self.model_fields_set
            if "critique_template" not in given:
                self.critique_template = MATHCRITIQUE_TEMPLATE
            if "critique_prefill" not in given:
                self.critique_prefill = None
        return self

    @field_validator("refine_template")
    @classmethod
    def _refine_fields(cls, value: str) -> str:
        return _require(value, REFINE_FIELDS)


def _require(template: str, fields: tuple[str, ...]) -> str:
    missing = [f for f in fields if f not in template]
    if missing:
        raise ValueError(f"the template must contain {', '.join(missing)}")
    return template
