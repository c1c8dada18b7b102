"""The curriculum plugin's recipe settings and the checks it makes at run start.

Settings live under ``plugins.settings.curriculum``; a typo or a bad value is
an error naming ``plugins.settings.curriculum.KEY``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reasonloop.core.plugins import build_checked
from reasonloop.core.protocols import capability
from reasonloop.errors import RecipeError

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["CURRENT", "KEY", "NAME", "CurriculumSettings", "check_scoring", "check_trainer"]

NAME = "curriculum"
KEY = f"plugins.settings.{NAME}"
#: ``strong_model: current``: the iteration's current actor checkpoint.
CURRENT = "current"


class CurriculumSettings(BaseModel):
    """``plugins.settings.curriculum``: score by perplexity difference, order by preference."""

    model_config = ConfigDict(extra="forbid")

    #: The weak reference model of PD (a path, hub id or ``pkg:`` spec);
    #: ``None``: the recipe's base actor model (``roles.actor.model``).
    weak_model: str | None = None
    #: The strong reference model of PD, fixed for the whole run: a model
    #: stronger than the weak one (a larger model of the same family, a
    #: previous run's final model). ``current``: the iteration's current actor
    #: checkpoint, which sampled the data (reasonloop's departure from PDPC).
    #: Required: there is no silent default.
    strong_model: str | None = Field(default=None, validate_default=True)
    #: How the share of high-PD examples grows along the training order.
    preference: Literal["linear", "sigmoid"] = "linear"
    #: ``sigmoid``: the logistic curve's steepness k (larger: a sharper switch
    #: from low- to high-PD data around the middle of training).
    steepness: float = Field(default=10.0, gt=0)
    #: The share of examples, those with the highest PD, that form the high-PD pool.
    high_share: float = Field(default=0.5, gt=0, lt=1)
    #: ``rising``: the high-PD share grows along training (PDPC). ``falling``:
    #: the same schedule mirrored in time, high-PD data first (an ablation).
    direction: Literal["rising", "falling"] = "rising"
    #: When the weak and strong models are the same (iteration 0 with
    #: ``strong_model: current``), PD is 0 everywhere: ``perplexity`` orders by
    #: the model's own perplexity instead (the same schedule, high perplexity
    #: as the hard pool); ``keep`` leaves the selection's order and the
    #: trainer's shuffling.
    same_model: Literal["perplexity", "keep"] = "perplexity"
    #: The backend that scores perplexity: ``transformers`` (the CPU default),
    #: ``vllm`` (prompt logprobs), ``openai`` (a server's echo logprobs), or
    #: any registered backend that declares ``scores_tokens``.
    backend: str = "transformers"
    #: Options for that backend, as a role's ``backend_options``; both models
    #: are scored with them (``openai``: both must be served at ``base_url``).
    backend_options: dict[str, Any] = Field(default_factory=dict)
    #: Rows per forward pass when scoring with ``transformers`` (its
    #: ``batch_size``); token-id sequences per HTTP call with ``openai``
    #: (its ``score_batch_size``). vLLM schedules its own batches.
    batch_size: int = Field(default=8, ge=1)
    #: Longer rows are cut to this many tokens when scoring.
    max_length: int = Field(default=1024, ge=2)

    @field_validator("strong_model")
    @classmethod
    def _strong_named(cls, value: str | None) -> str:
        if value is None or not value.strip():
            raise ValueError(
                "name the strong reference model of PD: a model stronger than the weak "
                "one, fixed for the run (a larger model of the same family, a previous "
                "run's final model; a path, hub id or pkg: spec), as PDPC does; or "
                "'current' for the iteration's current actor checkpoint, the model that "
                "sampled the data (then PD also measures how much the sampler prefers "
                "its own samples; see docs/curriculum.md)"
            )
        return value

    @property
    def strong_is_current(self) -> bool:
        return self.strong_model == CURRENT

    def backend_options_for(self) -> dict[str, Any]:
        """The scoring backend's options: the recipe's, over this plugin's defaults."""
        defaults: dict[str, Any] = {}
        if self.backend == "transformers":
            # Scores in float32, ``batch_size`` rows a pass, as the trainer sees them.
            defaults = {"dtype": "float32", "batch_size": self.batch_size}
        elif self.backend == "openai":
            defaults = {"score_batch_size": self.batch_size}
        return {**defaults, **self.backend_options}


def check_scoring(run: RunContext) -> None:
    """Fail at run start when the scoring backend is unknown, misconfigured or cannot score."""
    settings: CurriculumSettings = run.settings_for(NAME)
    source = run.recipe.source
    where = f"{source}: " if source else ""
    if settings.backend not in run.backends.entries:
        known = ", ".join(run.backends.names())
        raise RecipeError(
            f"{where}{KEY}.backend: unknown backend {settings.backend!r} (known: {known})"
        )
    factory = run.backends.get(settings.backend)
    if not capability(factory, "scores_tokens"):
        raise RecipeError(
            f"{where}{KEY}.backend: backend {settings.backend!r} cannot score tokens "
            "(it does not declare scores_tokens = True); use transformers, vllm or openai"
        )
    model = getattr(factory, "options_model", None)
    if model is not None:
        build_checked(
            model.model_validate,
            f"{KEY}.backend_options",
            settings.backend_options_for(),
            source=source,
        )


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
