"""The curriculum plugin's recipe settings and the checks it makes at run start.

Settings live under ``plugins.settings.curriculum``; a typo or a bad value is
an error naming ``plugins.settings.curriculum.KEY``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.protocols import capability
from reasonloop.errors import RecipeError

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["KEY", "NAME", "CurriculumSettings", "check_trainer"]

NAME = "curriculum"
KEY = f"plugins.settings.{NAME}"


class CurriculumSettings(BaseModel):
    """``plugins.settings.curriculum``: score by perplexity difference, order by preference."""

    model_config = ConfigDict(extra="forbid")

    #: The weak model of PD (a path or ``pkg:`` spec); ``None``: the recipe's
    #: base actor model (``roles.actor.model``).
    weak_model: str | None = None
    #: The strong model of PD; ``None``: the iteration's current actor model
    #: (the base model in iteration 0, then the latest trained checkpoint).
    strong_model: str | None = None
    #: How the share of high-PD examples grows along the training order.
    preference: Literal["linear", "sigmoid"] = "linear"
    #: ``sigmoid``: the logistic curve's steepness k (larger: a sharper switch
    #: from low- to high-PD data around the middle of training).
    steepness: float = Field(default=10.0, gt=0)
    #: The share of examples, those with the highest PD, that form the high-PD pool.
    high_share: float = Field(default=0.5, gt=0, lt=1)
    #: When the weak and strong models are the same (iteration 0 with the
    #: defaults), PD is 0 everywhere: ``perplexity`` orders by the model's own
    #: perplexity instead (the same schedule, high perplexity as the hard
    #: pool); ``keep`` leaves the selection's order and the trainer's shuffling.
    same_model: Literal["perplexity", "keep"] = "perplexity"
    #: Rows per forward pass when scoring perplexity.
    batch_size: int = Field(default=8, ge=1)
    #: Longer rows are cut to this many tokens when scoring.
    max_length: int = Field(default=1024, ge=2)


def check_trainer(run: RunContext) -> None:
    """Fail at run start when the recipe's trainer would not keep the order."""
    trainer = run.recipe.trainer
    if trainer.options.get("shuffle") is True:
        raise RecipeError(
            f"trainer.options.shuffle: true contradicts {KEY}, which orders the "
            "training data; remove trainer.options.shuffle (an ordered file is "
            "never shuffled) or set it to false"
        )
    built = run.trainers.get(trainer.name)(dict(trainer.options))
    if not capability(built, "accepts_order"):
        raise RecipeError(
            f"trainer.name: trainer {trainer.name!r} cannot be told to keep the data "
            f"order that {KEY} sets (it does not declare accepts_order = True)"
        )
