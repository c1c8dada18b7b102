"""The recipe's ``plugins.settings.raters``: how many examples to keep, and by whom."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

__all__ = ["DEFAULT_JUDGE_TEMPLATE", "KEY", "NAME", "JudgeSettings", "RatersSettings"]

NAME = "raters"
KEY = f"plugins.settings.{NAME}"


#: The judge's prompt: ``{problem}``, then the two solutions in the order shown.
DEFAULT_JUDGE_TEMPLATE = """\
Two solutions to the same problem follow. Decide which one is the better \
worked solution to learn from: correct reasoning and final answer first, then \
clear, complete and concise steps. Their order says nothing about quality.

Problem:
{problem}

Solution A:
{first}

Solution B:
{second}

Explain briefly, then end with one line: "Verdict: A", "Verdict: B" or "Verdict: tie"."""

JUDGE_FIELDS = ("problem", "first", "second")


class JudgeSettings(BaseModel):
    """How the ``judge`` role compares candidates (``plugins.settings.raters.judge``)."""

    model_config = ConfigDict(extra="forbid")

    #: Pairs of candidates (of the same problem) the judge compares per
    #: iteration, drawn at random (seeded) from the pool; each is asked in both
    #: orders, so the judge answers twice as many requests.
    pairs: int = Field(default=64, ge=1)
    #: The judge's sampling temperature (this and ``max_tokens`` take the
    #: place of ``roles.judge.sampling``'s).
    temperature: float = Field(default=0.0, ge=0)
    #: Tokens per judgement at most.
    max_tokens: int = Field(default=512, ge=1)
    #: The prompt, with ``{problem}``, ``{first}`` and ``{second}``.
    template: str = DEFAULT_JUDGE_TEMPLATE
    #: Text the judge's answer starts with (e.g. ``"Verdict:"`` for a small
    #: judge that does not keep to the format); ``None``: none.
    prefill: str | None = None
    #: Reliability is ``max(0, 2 * agreement - 1)``: a rater at chance level
    #: or worse gets no weight. ``false``: the agreement itself, as FIRE does.
    chance_corrected: bool = True

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        for name in JUDGE_FIELDS:
            if "{" + name + "}" not in value:
                raise ValueError(f"the template needs {{{name}}}")
        return value


class RatersSettings(BaseModel):
    """Rater-based selection of training examples."""

    model_config = ConfigDict(extra="forbid")

    #: How many of the candidates (after the built-in dedupe and per-problem
    #: cap) to keep: a share in (0, 1] such as ``0.5``, or a count such as
    #: ``200`` (an integer; write ``1.0`` to keep them all).
    keep: StrictInt | float = 0.5
    #: The raters to use, by registered name; ``None``: every registered rater.
    raters: list[str] | None = None
    #: Fixed weight per rater instead of weights estimated from reliability
    #: and independence; a rater left out gets weight 0.
    weights: dict[str, float] | None = None
    #: Progressive selection steps: keep a top share, re-estimate the weights
    #: on what was kept, repeat, ``rounds`` times in all (1: one shot).
    rounds: int = Field(default=2, ge=1)
    #: ``random``: keep the same number of examples chosen uniformly at
    #: random (seeded by the recipe's ``seed`` and the iteration), without
    #: running any rater: the plain-selection baseline at the same data size.
    control: Literal["random"] | None = None
    #: Keep at least ``quota_min`` examples of every ``problem`` (or every
    #: ``difficulty`` bucket) that has candidates, swapping out the lowest-ranked
    #: examples of groups above their quota; ``None``: global selection (FIRE).
    quota: Literal["problem", "difficulty"] | None = None
    #: The examples each group keeps under ``quota`` (fewer if it has fewer).
    quota_min: int = Field(default=1, ge=1)
    #: Where each rater's reliability comes from: ``judge``, its agreement
    #: with the ``judge`` role's pairwise preferences (FIRE; needs
    #: ``roles.judge``); ``consensus``, its agreement with the other raters.
    #: ``None``: ``judge`` when the recipe has ``roles.judge``, else ``consensus``.
    reliability: Literal["judge", "consensus"] | None = None
    #: The judge's pairs, prompt and sampling.
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    #: Options per rater, e.g. ``{perplexity: {batch_size: 8}}``.
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("keep")
    @classmethod
    def _keep(cls, value: int | float) -> int | float:
        if isinstance(value, int):
            if value < 1:
                raise ValueError("a count must be at least 1")
        elif not 0 < value <= 1:
            raise ValueError("a share must be in (0, 1]; an absolute count is an integer")
        return value

    @field_validator("raters")
    @classmethod
    def _raters(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("name at least one rater, or leave the key out for all")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a rater is named twice")
        return value

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            if any(w < 0 for w in value.values()):
                raise ValueError("weights must be >= 0")
            if not any(w > 0 for w in value.values()):
                raise ValueError("at least one weight must be > 0")
        return value

    def count(self, n: int) -> int:
        """How many of ``n`` candidates to keep."""
        if isinstance(self.keep, int):
            return min(self.keep, n)
        return min(n, max(1, round(self.keep * n))) if n else 0
