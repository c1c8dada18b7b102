"""What the TRL trainers share: options, the model they start from, launching, saving.

``trl-sft``, ``trl-dpo`` and ``trl-kto`` take the same option keys for what
they have in common (full or LoRA, learning rate, epochs, batch size,
dtype, the multi-process launch...), build their TRL config from the same
arguments, start from a checkpoint or a LoRA adapter the same way and save
a loadable checkpoint the same way. Each adds only its own objective.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.protocols import Trainer, TrainProgress, TrainResult
from reasonloop.errors import UsageError
from reasonloop.hf.models import load_causal_lm, save_checkpoint

__all__ = [
    "ModelOptions",
    "TrlOptions",
    "TrlTrainer",
    "build_config",
    "import_training_stack",
    "lora_config",
    "progress_callbacks",
    "read_rows",
    "save_from",
    "save_model",
    "start_model",
    "tracking_environment",
    "training_args",
    "use_bf16",
]

logger = logging.getLogger("reasonloop.trainers")

INSTALL_HINT = "pip install torch==2.13.0 'reasonloop[cpu]'"


class ModelOptions(BaseModel):
    """How the model is trained, for every TRL trainer: full or LoRA, learning rate, dtype."""

    model_config = ConfigDict(extra="forbid")

    #: ``full`` trains every weight; ``lora`` trains an adapter (merged into ``model/`` too).
    method: Literal["full", "lora"] = "full"
    #: ``None``: the trainer's default for the method.
    learning_rate: float | None = Field(default=None, gt=0)
    #: LoRA rank.
    lora_r: int = Field(default=16, ge=1)
    #: LoRA scaling.
    lora_alpha: int = Field(default=32, ge=1)
    #: LoRA dropout.
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    #: ``"all-linear"``: every attention and MLP projection (not the output head).
    lora_target_modules: str | list[str] = "all-linear"
    #: ``bfloat16`` autocasts the forward and backward passes; weights and
    #: optimizer state stay float32, since bf16 weights would round away most
    #: updates at these learning rates. ``auto`` picks bfloat16 on CPUs with
    #: native bf16 (avx512_bf16 or AMX), where steps took 0.55-0.7x the time
    #: of float32 for SmolLM2-135M, and on bf16-capable GPUs.
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    #: Trade compute for memory.
    gradient_checkpointing: bool = False

    #: The learning rate when ``learning_rate`` is not set, per method.
    default_learning_rate: ClassVar[dict[str, float]] = {"full": 3e-5, "lora": 3e-4}

    def resolved_learning_rate(self) -> float:
        return self.learning_rate or self.default_learning_rate[self.method]


class TrlOptions(ModelOptions):
    """The ``trainer.options`` of the trainers that learn from files (SFT, DPO, KTO)."""

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
    #: ``False`` keeps the data file's order. When a plugin orders the data
    #: (``plugins.settings.curriculum``) the order is kept whatever this says.
    shuffle: bool = True
    #: Training seed (weight init, data order); ``None``: the recipe's ``seed``
    #: (0 when the trainer is called outside a run), so each seed of a seed
    #: group trains differently.
    seed: int | None = None
    logging_steps: int = Field(default=10, ge=1)
    #: More than 1 trains in that many processes under ``accelerate launch``
    #: (one per GPU; on a machine without GPUs, CPU processes with gloo).
    num_processes: int = Field(default=1, ge=1)
    #: An accelerate config file (DeepSpeed and FSDP set-ups included); when
    #: given, training always runs under ``accelerate launch`` with it.
    accelerate_config: str | None = None
    #: Extra ``accelerate launch`` arguments, e.g. ``["--gpu_ids", "0,1"]``.
    launch_args: list[str] = Field(default_factory=list)
    #: Passed to the TRL config last, so it overrides everything above.
    extra_args: dict[str, Any] = Field(default_factory=dict)

    @property
    def multi_process(self) -> bool:
        return self.num_processes > 1 or self.accelerate_config is not None


class TrlTrainer(Trainer):
    """The part of a TRL trainer that does not depend on its objective.

    A subclass names itself (``name``, as registered) and its options model;
    :meth:`prepared` applies the loop's ``ordered`` and ``report`` arguments
    and :meth:`launch` runs the training in several processes.
    """

    name: ClassVar[str]
    options_model: ClassVar[type[TrlOptions]] = TrlOptions
    changes_model = True
    #: ``seed=`` (the recipe's) seeds training unless ``options.seed`` is set.
    takes_seed = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = self.options_model.model_validate(options or {})

    @property
    def trains_adapter(self) -> bool:
        """A LoRA run: the base weights stay, an adapter is trained."""
        return self.options.method == "lora"

    def prepared(
        self, ordered: bool, report: dict[str, Any] | None, seed: int | None = None
    ) -> Any:
        """The options with the loop's ``ordered``, tracking (``report``) and ``seed`` applied.

        The seed is resolved on ``self.options`` too, for the parts of a
        trainer that read its options directly.
        """
        if self.options.seed is None:
            resolved = seed if seed is not None else 0
            self.options = self.options.model_copy(update={"seed": resolved})
        opts = self.options
        if ordered:
            # A plugin fixed the order (a curriculum): feed the file as it is.
            opts = opts.model_copy(update={"shuffle": False})
        if report:
            # The recipe's tracking (report_to, run_name, logging_dir); the
            # user's own extra_args win, and travel to worker processes too.
            # Its environment is set by tracking_environment, not passed on.
            args = {k: v for k, v in report.items() if k != "env"}
            opts = opts.model_copy(update={"extra_args": {**args, **opts.extra_args}})
        return opts

    def launch(
        self,
        opts: TrlOptions,
        data: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None,
    ) -> TrainResult:
        """Train under ``accelerate launch``, one process per device, and return the result."""
        from reasonloop.trainers.trl_sft_launch import train_in_processes

        if opts.accelerate_config and not Path(opts.accelerate_config).is_file():
            raise UsageError(
                f"trainer.options.accelerate_config: {opts.accelerate_config} is not a file"
            )
        return train_in_processes(
            opts.model_dump(), Path(data), base_model, Path(output_dir), on_progress, self.name
        )


@contextlib.contextmanager
def tracking_environment(report: dict[str, Any] | None) -> Iterator[None]:
    """Set the tracking's ``env`` (from ``report``) in ``os.environ`` for the block, then
    put the old values back."""
    env: dict[str, str] = dict((report or {}).get("env") or {})
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def import_training_stack(trainer: str, method: str) -> tuple[Any, Any, Any]:
    """torch, transformers and trl (and peft for LoRA), or an error saying what to install."""
    try:
        import torch
        import transformers
        import trl

        if method == "lora":
            import peft  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"the {trainer} trainer needs torch, transformers, trl and peft "
            f"({exc.name} is missing): " + INSTALL_HINT
        ) from exc
    return torch, transformers, trl


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a bad line is an error naming it."""
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


def use_bf16(dtype: str, torch: Any) -> bool:
    """Whether to autocast to bfloat16 for the ``dtype`` option on this machine."""
    if dtype != "auto":
        return dtype == "bfloat16"
    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    # Without native bf16 instructions, autocast to bf16 is slower than float32.
    cpu = torch.cpu
    native = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in native)


def training_args(opts: TrlOptions, output_dir: Path, bf16: bool, torch: Any) -> dict[str, Any]:
    """The TRL config arguments every trainer sets the same way."""
    return {
        # Nothing is saved there (save_strategy="no"); the checkpoint is written by save_from.
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
    }


def build_config(config_cls: Any, args: dict[str, Any], opts: TrlOptions) -> Any:
    """``config_cls(**args)`` with the options' checkpointing and ``extra_args`` applied.

    A bad ``extra_args`` key is a UsageError naming the option, raised
    before the model is loaded.
    """
    # transformers 5.20 renamed gradient_checkpointing (the old name warns
    # there); vLLM's environment pins an older transformers.
    fields = {f.name for f in dataclasses.fields(config_cls)}
    renamed = "activation_checkpointing" in fields
    args = dict(args)
    args["activation_checkpointing" if renamed else "gradient_checkpointing"] = (
        opts.gradient_checkpointing
    )
    args.update(opts.extra_args)
    if "project" in args and "project" not in fields:
        del args["project"]  # trackio's project, an argument of newer transformers only
    if "logging_dir" in args and "logging_dir" not in fields:
        # transformers 5 reads the tensorboard directory from the environment
        # only; worker processes inherit it.
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(args.pop("logging_dir"))
    try:
        return config_cls(**args)
    except TypeError as exc:
        raise UsageError(f"trainer.options.extra_args: {exc}") from exc


def start_model(base_model: str, opts: ModelOptions) -> tuple[Any, Any]:
    """The model to train and the LoRA config for a new adapter (or ``None``).

    A LoRA adapter directory as ``base_model`` (the previous iteration's
    adapter, when the generation engine keeps its base model) is trained
    further on its own base, so every iteration's adapter applies to the same
    base weights; a full fine-tune of an adapter trains the merged weights.
    """
    adapter = Path(base_model).expanduser() / "adapter_config.json"
    if not adapter.is_file():
        model = load_causal_lm(base_model, dtype="float32")
        return model, lora_config(opts) if opts.method == "lora" else None
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


def lora_config(opts: ModelOptions) -> Any:
    """peft's LoraConfig from the ``lora_*`` options."""
    from peft import LoraConfig

    return LoraConfig(
        r=opts.lora_r,
        lora_alpha=opts.lora_alpha,
        lora_dropout=opts.lora_dropout,
        target_modules=opts.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def progress_callbacks(on_progress: TrainProgress | None, transformers: Any) -> list[Any]:
    """A callback that reports steps to the loop and logs TRL's metrics."""

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


def save_from(trainer: Any, tokenizer: Any, output_dir: Path, method: str) -> TrainResult:
    """Save the trained model; with several processes, once, from the main one."""
    accelerator = trainer.accelerator
    if accelerator.num_processes == 1:
        return save_model(trainer.model, tokenizer, output_dir, method)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        # Sharded weights: every process takes part in gathering them.
        trainer.save_model(str(output_dir / "model"))
        if accelerator.is_main_process:
            tokenizer.save_pretrained(str(output_dir / "model"))
        accelerator.wait_for_everyone()
        return TrainResult(model_path=str(output_dir / "model"))
    result = None
    if accelerator.is_main_process:
        result = save_model(accelerator.unwrap_model(trainer.model), tokenizer, output_dir, method)
    accelerator.wait_for_everyone()
    if result is None:
        adapter = str(output_dir / "adapter") if method == "lora" else None
        result = TrainResult(model_path=str(output_dir / "model"), adapter_path=adapter)
    return result


def save_model(model: Any, tokenizer: Any, output_dir: Path, method: str) -> TrainResult:
    """Save ``model`` (and a LoRA run's adapter) under ``output_dir``; one process."""
    model.eval()
    adapter_path = None
    if method == "lora":
        # Only the trained adapter: DPO and KTO keep a frozen copy as the reference.
        for name in [n for n in model.peft_config if n != "default"]:
            model.delete_adapter(name)
        adapter_path = str(save_checkpoint(model, tokenizer, output_dir / "adapter"))
        model = model.merge_and_unload()
    # Training switches the cache off; generation from the checkpoint wants it.
    model.config.use_cache = True
    model_path = save_checkpoint(model, tokenizer, output_dir / "model")
    trainer_dir = output_dir / "trainer"
    if trainer_dir.is_dir() and not any(trainer_dir.iterdir()):
        trainer_dir.rmdir()
    return TrainResult(model_path=str(model_path), adapter_path=adapter_path)
