"""What ``trl-dpo`` and ``trl-kto`` share: SFT first if asked, the reference model, the fit.

Both train on the preference data the loop writes next to ``train.jsonl``
(``preferences.jsonl``, ``unpaired.jsonl``; see
:mod:`reasonloop.core.preferences`). The reference model is the model the
step starts from: this iteration's model (the previous iteration's
checkpoint or adapter, or the base), or, with ``sft``, the model the SFT
step just made, the usual anchor of SFT-then-DPO. For LoRA, TRL uses the
starting weights with the new adapter off (or a frozen copy of a
continued adapter); for a full fine-tune, a frozen copy of the starting
checkpoint.
"""

from __future__ import annotations

import gc
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from reasonloop.core.protocols import TrainProgress, TrainResult
from reasonloop.errors import UsageError
from reasonloop.hf.models import load_tokenizer
from reasonloop.trainers.trl_base import (
    TrlOptions,
    TrlTrainer,
    build_config,
    import_training_stack,
    progress_callbacks,
    read_rows,
    save_from,
    start_model,
    training_args,
    use_bf16,
)
from reasonloop.trainers.trl_sft import TrlSftOptions, TrlSftTrainer

__all__ = ["PreferenceOptions", "PreferenceTrainer"]


class PreferenceOptions(TrlOptions):
    """Options of both preference trainers, on top of the shared TRL ones.

    ``learning_rate`` ``None``: TRL's default for DPO and KTO (1e-6) for a
    full fine-tune, ten times that for LoRA.
    """

    #: The strength of the pull towards the reference model (TRL's default).
    beta: float = Field(default=0.1, gt=0)
    #: Compute the reference model's log-probabilities once, before
    #: training, and free it (less memory, same result).
    precompute_ref_log_probs: bool = False
    #: SFT on the iteration's ``train.jsonl`` first (``trl-sft``'s options;
    #: ``{}`` for its defaults), then the preference step from that model, in
    #: one iteration. ``None``: preference training only.
    sft: TrlSftOptions | None = None

    default_learning_rate: ClassVar[dict[str, float]] = {"full": 1e-6, "lora": 1e-5}


class PreferenceTrainer(TrlTrainer):
    """A TRL preference trainer: reads its rows, runs SFT first if asked, fits and saves.

    A subclass says which TRL classes it uses, which file it reads and how
    a row of it becomes a training row (:meth:`rows`).
    """

    options_model: ClassVar[type[TrlOptions]] = PreferenceOptions
    uses_preferences = True
    options: Any

    # -- what a subclass says ------------------------------------------------------

    def trl_classes(self, trl: Any) -> tuple[Any, Any]:
        """The TRL trainer class and its config class."""
        raise NotImplementedError

    def config_args(self) -> dict[str, Any]:
        """The objective's own config arguments (beta, loss type, weights...)."""
        return {"beta": self.options.beta}

    def rows(self, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The training rows (only the columns TRL reads) from the file's rows."""
        raise NotImplementedError

    def source(self, data_path: Path, preferences: Path | None, unpaired: Path | None) -> Path:
        """The file this trainer reads; ``data_path`` itself when the loop passed none."""
        raise NotImplementedError

    # -- the training ---------------------------------------------------------------

    def train(
        self,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None = None,
        *,
        ordered: bool = False,
        report: dict[str, Any] | None = None,
        seed: int | None = None,
        preferences: Path | None = None,
        unpaired: Path | None = None,
    ) -> TrainResult:
        """Train on the preference rows (after SFT on ``data_path`` when ``sft`` is set).

        Called by the loop with ``data_path`` = ``train.jsonl`` and the
        preference files; called directly with only ``data_path``, that is
        the preference file (and ``sft`` is refused: there is no SFT data).
        """
        opts = self.prepared(False, report, seed)  # ordering applies to train.jsonl only
        output_dir = Path(output_dir)
        source = self.source(Path(data_path), preferences, unpaired)
        start, sft, offset = base_model, None, 0
        if opts.sft is not None:
            if source == Path(data_path):
                raise UsageError(
                    "trainer.options.sft: SFT first needs the SFT data and the preference "
                    "data apart (the loop passes both)"
                )
            sft = TrlSftTrainer(opts.sft.model_dump()).train(
                Path(data_path), base_model, output_dir / "sft", on_progress,
                ordered=ordered, report=report, seed=opts.seed,
            )  # fmt: skip
            if sft.model_path:
                lora = sft.adapter_path and opts.method == "lora"
                start = str(sft.adapter_path if lora else sft.model_path)
                offset = int(sft.metrics.get("steps", 0))
        rows = self.rows(read_rows(source))
        if not rows:
            if sft is not None and sft.model_path:
                return sft.model_copy(update={"metrics": {"sft": sft.metrics}})
            return TrainResult(model_path=None, metrics={"skipped": f"no rows in {source.name}"})
        progress = _shifted(on_progress, offset)
        if opts.multi_process:
            inner = opts.model_copy(update={"sft": None})
            result = self.launch(inner, source, start, output_dir, progress)
        else:
            result = self.fit(opts, rows, start, output_dir, progress)
        if sft is not None:
            result.metrics["sft"] = sft.metrics
        return result

    def fit(
        self,
        opts: Any,
        rows: list[dict[str, Any]],
        start: str,
        output_dir: Path,
        on_progress: TrainProgress | None,
    ) -> TrainResult:
        """One preference step on ``rows`` from ``start``, in this process; save the result."""
        torch, transformers, trl = import_training_stack(self.name, opts.method)
        transformers.set_seed(opts.seed)  # before the LoRA weights are initialised
        trainer_cls, config_cls = self.trl_classes(trl)
        from datasets import Dataset

        tokenizer = load_tokenizer(start)
        bf16 = use_bf16(opts.dtype, torch)
        args = training_args(opts, output_dir, bf16, torch)
        args.update(self.config_args(), precompute_ref_log_probs=opts.precompute_ref_log_probs)
        config = build_config(config_cls, args, opts)  # bad extra_args fail here, early
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            model, peft_config = start_model(start, opts)
            # The reference is the starting model; LoRA gets it by switching the adapter off.
            ref = None
            if opts.method == "full":
                ref, _ = start_model(start, opts)
                ref.eval()
            trainer = trainer_cls(
                model=model,
                ref_model=ref,
                args=config,
                train_dataset=Dataset.from_list(rows),
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=progress_callbacks(on_progress, transformers),
            )
        trainer.remove_callback(transformers.PrinterCallback)
        began = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - began
        tokens = _tokens(trainer.train_dataset) * opts.epochs
        result = save_from(trainer, tokenizer, output_dir, opts.method)
        result.metrics.update(
            train_loss=round(float(output.training_loss), 6),
            steps=int(output.global_step),
            rows=len(rows),
            epochs=opts.epochs,
            tokens=int(tokens),
            seconds=round(seconds, 2),
            method=opts.method,
            dtype="bfloat16" if bf16 else "float32",
            learning_rate=opts.resolved_learning_rate(),
            beta=opts.beta,
            processes=int(trainer.accelerator.num_processes),
        )
        del trainer, model, ref, output
        gc.collect()
        return result


def _tokens(dataset: Any) -> int:
    """Tokens in a tokenized TRL dataset (every ``*_ids`` column), 0 when it has none."""
    columns = [c for c in getattr(dataset, "column_names", []) if c.endswith("_ids")]
    return sum(len(ids) for c in columns for ids in dataset[c])


def _shifted(on_progress: TrainProgress | None, offset: int) -> TrainProgress | None:
    """Progress that continues the SFT step's count, so the loop's bar only moves forward."""
    if on_progress is None or offset == 0:
        return on_progress

    def report(step: int, total: int) -> None:
        on_progress(offset + step, offset + total)

    return report
