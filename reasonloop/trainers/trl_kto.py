"""KTO with TRL's ``KTOTrainer``: learns from answers labelled desirable or not, unpaired.

KTO needs no pairs, so it can use every verdict: with ``data: unpaired``
(the default) it reads the iteration's ``unpaired.jsonl``, where the
selected correct answers are desirable and wrong answers undesirable, also
those of problems with no correct answer, which pairs cannot use. With
``data: pairs`` it reads ``preferences.jsonl`` and splits each pair into a
desirable and an undesirable row. ``desirable_weight`` and
``undesirable_weight`` balance unequal counts. TRL's KTO reads rows in
file order (its KL estimate pairs neighbours in a batch), so ``shuffle``
shuffles the rows once, with ``seed``. The rest is as for
``trl-dpo``; see docs/trainers.md.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from reasonloop.trainers.trl_preference import PreferenceOptions, PreferenceTrainer

__all__ = ["TrlKtoOptions", "TrlKtoTrainer"]


class TrlKtoOptions(PreferenceOptions):
    """The recipe's ``trainer.options`` for ``trl-kto``; unknown keys are errors."""

    #: ``unpaired``: ``unpaired.jsonl``; ``pairs``: both sides of ``preferences.jsonl``.
    data: Literal["unpaired", "pairs"] = "unpaired"
    #: TRL's ``loss_type``: ``kto`` or ``apo_zero_unpaired``.
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    #: Weights of the desirable and undesirable losses (TRL's defaults); with
    #: D desirable and U undesirable rows, keep desirable_weight * D /
    #: (undesirable_weight * U) within 1 to 4/3.
    desirable_weight: float = Field(default=1.0, gt=0)
    undesirable_weight: float = Field(default=1.0, gt=0)


class TrlKtoTrainer(PreferenceTrainer):
    """KTO on ``unpaired.jsonl`` (or split pairs); saves like ``trl-sft``."""

    name = "trl-kto"
    options_model = TrlKtoOptions

    @property
    def data_file(self) -> str:
        """The iteration file it reads: ``unpaired.jsonl`` or ``preferences.jsonl``."""
        return "unpaired.jsonl" if self.options.data == "unpaired" else "preferences.jsonl"

    def trl_classes(self, trl: Any) -> tuple[Any, Any]:
        return trl.KTOTrainer, trl.KTOConfig

    def config_args(self) -> dict[str, Any]:
        o = self.options
        return {
            "beta": o.beta,
            "loss_type": o.loss_type,
            "desirable_weight": o.desirable_weight,
            "undesirable_weight": o.undesirable_weight,
            # KTO's KL term pairs each row with its neighbour in a fixed-order
            # batch; TRL refuses random sampling, so rows() shuffles once.
            "train_sampling_strategy": "sequential",
        }

    def source(self, data_path: Path, preferences: Path | None, unpaired: Path | None) -> Path:
        chosen = unpaired if self.options.data == "unpaired" else preferences
        return chosen or data_path

    def rows(self, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in raw:
            if "label" in r:
                found = [(r["completion"], r["label"])]
            else:  # a preference pair: one desirable and one undesirable row
                found = [(r["chosen"], True), (r["rejected"], False)]
            for completion, label in found:
                row = {"prompt": r["prompt"], "completion": completion, "label": bool(label)}
                # A chosen answer in several pairs is one desirable row.
                out.setdefault(json.dumps(row, sort_keys=True), row)
        rows = list(out.values())
        if self.options.shuffle:
            random.Random(self.options.seed).shuffle(rows)
        return rows
