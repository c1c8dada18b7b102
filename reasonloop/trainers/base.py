"""The protocol every trainer implements."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrainProgress", "TrainResult", "Trainer", "TrainerFactory"]

#: Called as training advances with (steps done, total steps).
TrainProgress = Callable[[int, int], None]


class TrainResult(BaseModel):
    """What a trainer produced."""

    model_config = ConfigDict(extra="forbid")

    #: A checkpoint the backends can load (``None``: the model did not change).
    model_path: str | None
    #: A LoRA adapter directory, when the trainer trained one.
    adapter_path: str | None = None
    #: Loss, steps, examples, seconds... whatever the trainer measured.
    metrics: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Trainer(Protocol):
    """Fine-tunes a model on training examples.

    ``data_path`` is a JSON-lines file in TRL's formats (one object per line
    with ``prompt``/``completion`` chat lists, or ``messages``). The trainer
    writes its checkpoint under ``output_dir`` and returns where it is.

    A trainer may also have a ``trains_adapter`` attribute: when true (a LoRA
    run), generation engines that serve adapters stay up during training; and
    ``changes_model = False`` when it never changes the model (``none``).

    ``ordered=True`` says a plugin put the rows in the order they must be
    learnt (a curriculum, :func:`reasonloop_order_examples`): the trainer
    then feeds them in file order, whatever its shuffling option says, and
    every epoch repeats that order. The loop passes ``ordered`` only when it
    is true, so a trainer that never receives ordered data may omit it.
    """

    def train(
        self,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None = None,
        *,
        ordered: bool = False,
    ) -> TrainResult: ...


#: ``factory(options)`` builds a trainer from the recipe's ``trainer.options``.
TrainerFactory = Callable[[dict[str, Any]], Trainer]
