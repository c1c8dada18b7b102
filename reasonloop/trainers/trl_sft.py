"""Supervised fine-tuning with TRL's ``SFTTrainer``: full or LoRA, on CPU or GPU.

The trainer tokenizes the data file itself (:mod:`reasonloop.hf.tokenize`),
so that one file may mix the two forms ``TrainingExample.to_trl`` writes and
every row gets the same kind of loss mask: the completion of a
prompt/completion row, the assistant turns (or ``train_turns``) of a
``messages`` row. What it shares with the preference trainers (options,
launch, saving) is in :mod:`reasonloop.trainers.trl_base`.
"""

from __future__ import annotations

import gc
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

from reasonloop.core.protocols import TrainProgress, TrainResult
from reasonloop.hf.models import load_tokenizer
from reasonloop.hf.tokenize import tokenize_row
from reasonloop.trainers.trl_base import (
    TrlOptions,
    TrlTrainer,
    build_config,
    import_training_stack,
    progress_callbacks,
    read_rows,
    save_from,
    start_model,
    tracking_environment,
    training_args,
    use_bf16,
)

__all__ = ["TrlSftOptions", "TrlSftTrainer"]


class TrlSftOptions(TrlOptions):
    """The recipe's ``trainer.options`` for ``trl-sft``; unknown keys are errors.

    ``learning_rate`` ``None``: 3e-5 for a full fine-tune, 3e-4 for LoRA
    (what worked for SmolLM2-135M on CPU, see the measurements).
    """

    default_learning_rate: ClassVar[dict[str, float]] = {"full": 3e-5, "lora": 3e-4}


class TrlSftTrainer(TrlTrainer):
    """Fine-tunes a causal LM on a TRL-format JSON-lines file and saves it.

    ``output_dir/model`` receives a full safetensors checkpoint with its
    tokenizer (for LoRA, the merged model; the adapter goes to
    ``output_dir/adapter``), loadable with ``load_causal_lm``.
    """

    name = "trl-sft"
    options_model = TrlSftOptions
    #: An ordered file is fed as it is, every epoch (``shuffle`` is ignored).
    accepts_order = True
    #: ``train`` takes ``report=`` and logs its loss to the recipe's tracking.
    accepts_report = True

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
    ) -> TrainResult:
        opts = self.prepared(ordered, report, seed)
        # The trackers' callbacks read their settings from the environment
        # (worker processes inherit it); it is restored afterwards.
        with tracking_environment(report):
            return self._train(opts, Path(data_path), base_model, Path(output_dir), on_progress)

    def _train(
        self,
        opts: TrlSftOptions,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None,
    ) -> TrainResult:
        rows = read_rows(Path(data_path))
        if not rows:
            return TrainResult(model_path=None, metrics={"skipped": "no training examples"})
        if opts.multi_process:
            return self.launch(opts, Path(data_path), base_model, Path(output_dir), on_progress)
        torch, transformers, trl = import_training_stack(self.name, opts.method)
        transformers.set_seed(opts.seed)  # before the LoRA weights are initialised

        tokenizer = load_tokenizer(base_model)
        examples = [ex for row in rows if (ex := tokenize_row(row, tokenizer, opts.max_length))]
        if not examples:
            return TrainResult(
                model_path=None,
                metrics={"skipped": f"no trainable tokens within max_length={opts.max_length}"},
            )
        from datasets import Dataset

        dataset = Dataset.from_list(
            [{"input_ids": ex["input_ids"], "labels": ex["labels"]} for ex in examples]
        )
        bf16 = use_bf16(opts.dtype, torch)
        args = training_args(opts, Path(output_dir), bf16, torch)
        args.update(
            shuffle_dataset=False,
            # The rows are tokenized and masked already (see tokenize_row).
            dataset_kwargs={"skip_prepare_dataset": True},
            remove_unused_columns=True,
        )
        config = build_config(trl.SFTConfig, args, opts)  # bad extra_args fail here, early
        # Weights stay float32 even for bf16 training: see ModelOptions.dtype.
        with warnings.catch_warnings():
            # peft reads a renamed transformers attribute; nothing a user can act on.
            warnings.filterwarnings(
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            model, peft_config = start_model(base_model, opts)
            trainer = trl.SFTTrainer(
                model=model,
                args=config,
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=progress_callbacks(on_progress, transformers),
            )
        # The default printer writes raw dicts to stdout; our callback logs them instead.
        trainer.remove_callback(transformers.PrinterCallback)

        start = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - start
        result = save_from(trainer, tokenizer, Path(output_dir), opts.method)
        result.metrics.update(
            train_loss=round(float(output.training_loss), 6),
            steps=int(output.global_step),
            examples=len(examples),
            epochs=opts.epochs,
            shuffled=opts.shuffle,
            tokens=int(sum(len(ex["input_ids"]) for ex in examples) * opts.epochs),
            loss_tokens=int(sum(ex["loss_tokens"] for ex in examples) * opts.epochs),
            seconds=round(seconds, 2),
            method=opts.method,
            dtype="bfloat16" if bf16 else "float32",
            learning_rate=opts.resolved_learning_rate(),
            processes=int(trainer.accelerator.num_processes),
        )
        # The trained object is not reused: generating with it is slower than
        # with a fresh load, and it holds optimizer state worth gigabytes.
        del trainer, model, output
        gc.collect()
        return result
