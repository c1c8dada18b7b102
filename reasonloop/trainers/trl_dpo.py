"""Direct preference optimisation with TRL's ``DPOTrainer`` on the loop's verified pairs.

It trains on the iteration's ``preferences.jsonl``: correct over wrong
answers to the same question, and corrections over the attempts they
corrected (critic, guidance, selfdebug). With ``sft`` it first fine-tunes
on ``train.jsonl`` (as ``trl-sft``) and then runs DPO from that model, in
the same iteration. Options, LoRA, the multi-process launch and the saved
checkpoint are as for ``trl-sft``; see docs/trainers.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from reasonloop.trainers.trl_preference import PreferenceOptions, PreferenceTrainer

__all__ = ["TrlDpoOptions", "TrlDpoTrainer"]


class TrlDpoOptions(PreferenceOptions):
    """The recipe's ``trainer.options`` for ``trl-dpo``; unknown keys are errors."""

    #: TRL's ``loss_type``: ``sigmoid`` (DPO), ``ipo``, ``hinge``, ... or a
    #: list to combine (with ``extra_args.loss_weights``); ``["sigmoid",
    #: "sft"]`` adds the chosen answers' NLL (RPO).
    loss_type: str | list[str] = "sigmoid"
    #: Label smoothing of the sigmoid loss (conservative DPO); TRL's default.
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)


class TrlDpoTrainer(PreferenceTrainer):
    """DPO on ``preferences.jsonl``; saves ``output_dir/model`` (and ``adapter`` for LoRA)."""

    name = "trl-dpo"
    options_model = TrlDpoOptions
    data_file = "preferences.jsonl"

    def trl_classes(self, trl: Any) -> tuple[Any, Any]:
        return trl.DPOTrainer, trl.DPOConfig

    def config_args(self) -> dict[str, Any]:
        loss = self.options.loss_type
        return {
            "beta": self.options.beta,
            "loss_type": [loss] if isinstance(loss, str) else list(loss),
            "label_smoothing": self.options.label_smoothing,
        }

    def source(self, data_path: Path, preferences: Path | None, unpaired: Path | None) -> Path:
        return preferences or data_path

    def rows(self, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in raw]
