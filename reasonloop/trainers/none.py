"""The trainer that trains nothing: the loop only writes its training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from reasonloop.core.protocols import Trainer, TrainProgress, TrainResult

__all__ = ["NoneTrainer", "NoneTrainerOptions"]


class NoneTrainerOptions(BaseModel):
    """``none`` takes no options; any key is an error."""

    model_config = ConfigDict(extra="forbid")


class NoneTrainer(Trainer):
    """Leaves the model as it is, so a run produces data for training elsewhere."""

    #: The actor keeps its model: any backend can follow this "training".
    changes_model = False
    trains_adapter = False
    #: ``train.jsonl`` is left in the order the plugin gave it.
    accepts_order = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = NoneTrainerOptions.model_validate(options or {})

    def train(
        self,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None = None,
        *,
        ordered: bool = False,
    ) -> TrainResult:
        path = Path(data_path)
        examples = 0
        if path.exists():
            with path.open(encoding="utf-8") as f:
                examples = sum(1 for line in f if line.strip())
        if on_progress is not None:
            on_progress(0, 0)
        return TrainResult(
            model_path=None,
            metrics={"skipped": "trainer 'none' writes data only", "examples": examples},
        )
