"""Supervised fine-tuning with TRL's ``SFTTrainer``: full or LoRA, on CPU or GPU.

The trainer tokenizes the data file itself (:mod:`reasonloop.hf.tokenize`),
so that one file may mix the two forms ``TrainingExample.to_trl`` writes and
every row gets the same kind of loss mask: the completion of a
prompt/completion row, the assistant turns (or ``train_turns``) of a
``messages`` row.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.protocols import Trainer, TrainProgress, TrainResult
from reasonloop.errors import UsageError
from reasonloop.hf.models import load_causal_lm, load_tokenizer, save_checkpoint
from reasonloop.hf.tokenize import tokenize_row

__all__ = ["TrlSftOptions", "TrlSftTrainer"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "pip install torch==2.13.0 'reasonloop[cpu]'"

#: Learning rates that worked for SmolLM2-135M on CPU (see the measurements).
_DEFAULT_LEARNING_RATE = {"full": 3e-5, "lora": 3e-4}


class TrlSftOptions(BaseModel):
    """The recipe's ``trainer.options`` for ``trl-sft``; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["full", "lora"] = "full"
    #: ``None``: 3e-5 for a full fine-tune, 3e-4 for LoRA.
    learning_rate: float | None = Field(default=None, gt=0)
    epochs: float = Field(default=2, gt=0)
    batch_size: int = Field(default=8, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    lr_scheduler: Literal[
        "linear",
        "cosine",
        "cosine_with_restarts",
        "cosine_with_min_lr",
        "polynomial",
        "constant",
        "constant_with_warmup",
        "inverse_sqrt",
        "warmup_stable_decay",
    ] = "cosine"
    warmup_steps: int = Field(default=0, ge=0)
    #: Longer sequences are cut from the end; rows left with nothing to learn are dropped.
    max_length: int = Field(default=512, ge=2)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    #: ``"all-linear"``: every attention and MLP projection (not the output head).
    lora_target_modules: str | list[str] = "all-linear"
    #: ``False`` keeps the data file's order. When a plugin orders the data
    #: (``plugins.settings.curriculum``) the order is kept whatever this says.
    shuffle: bool = True
    #: Training seed (weight init, data order); ``None``: the recipe's ``seed``,
    #: so each seed of a seed group trains differently.
    seed: int | None = None
    #: ``bfloat16`` autocasts the forward and backward passes; weights and
    #: optimizer state stay float32, since bf16 weights would round away most
    #: updates at these learning rates. ``auto`` picks bfloat16 on CPUs with
    #: native bf16 (avx512_bf16 or AMX), where steps took 0.55-0.7x the time
    #: of float32 for SmolLM2-135M, and on bf16-capable GPUs.
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    gradient_checkpointing: bool = False
    logging_steps: int = Field(default=10, ge=1)
    #: More than 1 trains in that many processes under ``accelerate launch``
    #: (one per GPU; on a machine without GPUs, CPU processes with gloo).
    num_processes: int = Field(default=1, ge=1)
    #: An accelerate config file (DeepSpeed and FSDP set-ups included); when
    #: given, training always runs under ``accelerate launch`` with it.
    accelerate_config: str | None = None
    #: Extra ``accelerate launch`` arguments, e.g. ``["--gpu_ids", "0,1"]``.
    launch_args: list[str] = Field(default_factory=list)
    #: Passed to ``trl.SFTConfig`` last, so it overrides everything above.
    extra_args: dict[str, Any] = Field(default_factory=dict)

    def resolved_learning_rate(self) -> float:
        return self.learning_rate or _DEFAULT_LEARNING_RATE[self.method]


class TrlSftTrainer(Trainer):
    """Fine-tunes a causal LM on a TRL-format JSON-lines file and saves it.

    ``output_dir/model`` receives a full safetensors checkpoint with its
    tokenizer (for LoRA, the merged model; the adapter goes to
    ``output_dir/adapter``), loadable with ``load_causal_lm``.
    """

    changes_model = True
    #: An ordered file is fed as it is, every epoch (``shuffle`` is ignored).
    accepts_order = True
    #: ``seed=`` (the recipe's) seeds training unless ``options.seed`` is set.
    takes_seed = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = TrlSftOptions.model_validate(options or {})

    @property
    def trains_adapter(self) -> bool:
        """A LoRA run: the base weights stay, an adapter is trained."""
        return self.options.method == "lora"

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
        opts = self.options
        if opts.seed is None:
            opts = opts.model_copy(update={"seed": seed if seed is not None else 0})
        if ordered:
            # A plugin fixed the order (a curriculum): feed the file as it is.
            opts = opts.model_copy(update={"shuffle": False})
        if report:
            # The recipe's tracking (report_to, run_name, logging_dir); the
            # user's own extra_args win, and travel to worker processes too.
            opts = opts.model_copy(update={"extra_args": {**report, **opts.extra_args}})
        rows = _read_rows(Path(data_path))
        if not rows:
            return TrainResult(model_path=None, metrics={"skipped": "no training examples"})
        if opts.num_processes > 1 or opts.accelerate_config:
            from reasonloop.trainers.trl_sft_launch import train_in_processes

            if opts.accelerate_config and not Path(opts.accelerate_config).is_file():
                raise UsageError(
                    f"trainer.options.accelerate_config: {opts.accelerate_config} is not a file"
                )
            return train_in_processes(
                opts.model_dump(), Path(data_path), base_model, Path(output_dir), on_progress
            )
        torch, transformers, trl = _import_training_stack(opts.method)
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
        bf16 = _use_bf16(opts.dtype, torch)
        config = _sft_config(opts, output_dir, bf16, torch, trl)  # bad extra_args fail here, early
        # Weights stay float32 even for bf16 training: see TrlSftOptions.dtype.
        with warnings.catch_warnings():
            # peft reads a renamed transformers attribute; nothing a user can act on.
            warnings.filterwarnings(
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            model, peft_config = _start_model(base_model, opts)
            trainer = trl.SFTTrainer(
                model=model,
                args=config,
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=_callbacks(on_progress, transformers),
            )
        # The default printer writes raw dicts to stdout; our callback logs them instead.
        trainer.remove_callback(transformers.PrinterCallback)

        start = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - start
        result = _save_from(trainer, tokenizer, Path(output_dir), opts.method)
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


def _start_model(base_model: str, opts: TrlSftOptions) -> tuple[Any, Any]:
    """The model to train and the LoRA config for a new adapter (or ``None``).

    A LoRA adapter directory as ``base_model`` (the previous iteration's
    adapter, when the generation engine keeps its base model) is trained
    further on its own base, so every iteration's adapter applies to the same
    base weights; a full fine-tune of an adapter trains the merged weights.
    """
    adapter = Path(base_model).expanduser() / "adapter_config.json"
    if not adapter.is_file():
        model = load_causal_lm(base_model, dtype="float32")
        return model, _lora_config(opts) if opts.method == "lora" else None
    base = json.loads(adapter.read_text()).get("base_model_name_or_path")
    if not base:
        raise UsageError(f"{adapter} names no base_model_name_or_path")
    import peft

    model = load_causal_lm(base, dtype="float32")
    trainable = opts.method == "lora"
    model = peft.PeftModel.from_pretrained(model, str(adapter.parent), is_trainable=trainable)
    if not trainable:
        model = model.merge_and_unload()
    return model, None


def _import_training_stack(method: str) -> tuple[Any, Any, Any]:
    try:
        import torch
        import transformers
        import trl

        if method == "lora":
            import peft  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"the trl-sft trainer needs torch, transformers, trl and peft ({exc.name} is missing): "
            + _INSTALL_HINT
        ) from exc
    return torch, transformers, trl


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise UsageError(f"training data {path} does not exist")
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not valid JSON ({exc})") from exc
    return rows


def _use_bf16(dtype: str, torch: Any) -> bool:
    if dtype != "auto":
        return dtype == "bfloat16"
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    # Without native bf16 instructions, autocast to bf16 is slower than float32.
    cpu = torch.cpu
    native = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in native)


def _sft_config(opts: TrlSftOptions, output_dir: Path, bf16: bool, torch: Any, trl: Any) -> Any:
    args: dict[str, Any] = {
        # Nothing is saved there (save_strategy="no"); the checkpoint is written by _save.
        "output_dir": str(Path(output_dir) / "trainer"),
        "learning_rate": opts.resolved_learning_rate(),
        "num_train_epochs": opts.epochs,
        "per_device_train_batch_size": opts.batch_size,
        "gradient_accumulation_steps": opts.gradient_accumulation_steps,
        "lr_scheduler_type": opts.lr_scheduler,
        "warmup_steps": opts.warmup_steps,
        "max_length": opts.max_length,
        "seed": opts.seed,
        "data_seed": opts.seed,
        "train_sampling_strategy": "random" if opts.shuffle else "sequential",
        "shuffle_dataset": False,
        # TRL turns both on by default; on CPU they cost speed for nothing.
        "bf16": bf16,
        "fp16": False,
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": opts.logging_steps,
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "push_to_hub": False,
        "dataloader_pin_memory": False,
        # The rows are tokenized and masked already (see tokenize_row).
        "dataset_kwargs": {"skip_prepare_dataset": True},
        "remove_unused_columns": True,
    }
    # transformers 5.20 renamed gradient_checkpointing (the old name warns
    # there); vLLM's environment pins an older transformers.
    import dataclasses

    fields = {f.name for f in dataclasses.fields(trl.SFTConfig)}
    renamed = "activation_checkpointing" in fields
    args["activation_checkpointing" if renamed else "gradient_checkpointing"] = (
        opts.gradient_checkpointing
    )
    args.update(opts.extra_args)
    if "logging_dir" in args and "logging_dir" not in fields:
        # transformers 5 reads the tensorboard directory from the environment
        # only; worker processes inherit it.
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(args.pop("logging_dir"))
    try:
        return trl.SFTConfig(**args)
    except TypeError as exc:
        raise UsageError(f"trainer.options.extra_args: {exc}") from exc


def _lora_config(opts: TrlSftOptions) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=opts.lora_r,
        lora_alpha=opts.lora_alpha,
        lora_dropout=opts.lora_dropout,
        target_modules=opts.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def _callbacks(on_progress: TrainProgress | None, transformers: Any) -> list[Any]:
    class ProgressReport(transformers.TrainerCallback):
        """Reports steps to the loop and logs TRL's metrics."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if on_progress is not None:
                on_progress(0, state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if on_progress is not None:
                on_progress(state.global_step, state.max_steps)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logger.info("step %d/%d: %s", state.global_step, state.max_steps, logs)

    return [ProgressReport()]


def _save_from(trainer: Any, tokenizer: Any, output_dir: Path, method: str) -> TrainResult:
    """Save the trained model; with several processes, once, from the main one."""
    accelerator = trainer.accelerator
    if accelerator.num_processes == 1:
        return _save(trainer.model, tokenizer, output_dir, method)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        # Sharded weights: every process takes part in gathering them.
        trainer.save_model(str(output_dir / "model"))
        if accelerator.is_main_process:
            tokenizer.save_pretrained(str(output_dir / "model"))
        accelerator.wait_for_everyone()
        return TrainResult(model_path=str(output_dir / "model"))
    result = None
    if accelerator.is_main_process:
        result = _save(accelerator.unwrap_model(trainer.model), tokenizer, output_dir, method)
    accelerator.wait_for_everyone()
    if result is None:
        adapter = str(output_dir / "adapter") if method == "lora" else None
        result = TrainResult(model_path=str(output_dir / "model"), adapter_path=adapter)
    return result


def _save(model: Any, tokenizer: Any, output_dir: Path, method: str) -> TrainResult:
    model.eval()
    adapter_path = None
    if method == "lora":
        adapter_path = str(save_checkpoint(model, tokenizer, output_dir / "adapter"))
        model = model.merge_and_unload()
    # Training switches the cache off; generation from the checkpoint wants it.
    model.config.use_cache = True
    model_path = save_checkpoint(model, tokenizer, output_dir / "model")
    trainer_dir = output_dir / "trainer"
    if trainer_dir.is_dir() and not any(trainer_dir.iterdir()):
        trainer_dir.rmdir()
    return TrainResult(model_path=str(model_path), adapter_path=adapter_path)
