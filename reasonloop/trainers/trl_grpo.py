"""Online RL with TRL's ``GRPOTrainer``: the run's verifier is the reward.

``trl-grpo`` is an online trainer (``online = True``): the loop skips the
sampling and selection stages and hands it ``prompts.jsonl``, the iteration's
problems as the actor sees them. For each prompt the trainer generates
``num_generations`` completions (with transformers ``generate``, or TRL's vLLM
integration with ``generation: vllm``), scores them with the run's verifier
and the shaping rewards named in ``rewards`` (:mod:`reasonloop.trainers.rewards`),
and updates the policy on the group-relative advantages. Every completion is
appended to the iteration's ``samples.jsonl``, so the compute ledger counts
GRPO's generated tokens and generation time.

TRL checkpoints go to ``output_dir/grpo/checkpoint-N`` every ``save_steps``;
a killed run, resumed, continues from the last one (the samples of the steps
it redoes are dropped from ``samples.jsonl`` first, so nothing is counted
twice). The finished model is saved as ``trl-sft`` saves it (``model/``, and
``adapter/`` for LoRA) and the checkpoints are removed.
"""

from __future__ import annotations

import gc
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from reasonloop.core.protocols import Trainer, TrainProgress, TrainResult, Verifier
from reasonloop.core.records import Sample, SamplingParams
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import UsageError
from reasonloop.hf.models import load_tokenizer
from reasonloop.trainers.rewards import PLUGIN, GenerationClock, RewardFunction, RolloutScorer
from reasonloop.trainers.trl_base import (
    ModelOptions,
    import_training_stack,
    progress_callbacks,
    read_rows,
    save_model,
    start_model,
    use_bf16,
)

__all__ = ["TrlGrpoOptions", "TrlGrpoTrainer"]

#: Where TRL writes its checkpoints, under the trainer's output directory.
CHECKPOINTS = "grpo"


class TrlGrpoOptions(ModelOptions):
    """The recipe's ``trainer.options`` for ``trl-grpo``; unknown keys are errors.

    ``method``, ``learning_rate`` (``None``: 1e-6 for a full fine-tune, 1e-5
    for LoRA), the ``lora_*`` keys, ``dtype`` and ``gradient_checkpointing``
    are as for ``trl-sft``.
    """

    #: GRPO takes smaller steps than SFT: its gradients come from the model's own samples.
    default_learning_rate: ClassVar[dict[str, float]] = {"full": 1e-6, "lora": 1e-5}

    #: Passes over the prompts; ``max_steps`` (when set) wins.
    epochs: float = Field(default=1, gt=0)
    #: Optimizer steps; when set, it overrides ``epochs``.
    max_steps: int | None = Field(default=None, ge=1)
    #: Completions per device step (a multiple of ``num_generations``).
    batch_size: int = Field(default=8, ge=1)
    #: Steps accumulated before each update (one generation per update).
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    #: Completions per prompt: the group whose mean reward is the baseline.
    num_generations: int = Field(default=4, ge=2)
    #: Tokens per generated completion, at most (the ``length`` reward's scale).
    max_completion_length: int = Field(default=128, ge=1)
    #: Sampling temperature of the generations.
    temperature: float = Field(default=1.0, gt=0)
    #: Nucleus sampling of the generations.
    top_p: float = Field(default=1.0, gt=0, le=1)
    #: KL coefficient against the starting model (0: no reference model is kept).
    beta: float = Field(default=0.0, ge=0)
    #: The clipping range of the policy ratio.
    epsilon: float = Field(default=0.2, gt=0)
    #: Policy updates per generated batch (TRL's ``num_iterations``).
    updates_per_batch: int = Field(default=1, ge=1)
    #: TRL's loss normalisation (``dapo``: by the batch's completion tokens).
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = "dapo"
    #: Divide advantages by the reward's standard deviation in the ``group``, the ``batch``, or not.
    scale_rewards: Literal["group", "batch", "none"] = "group"
    #: Reward name -> weight. ``verifier``: 1 for a verified-correct answer,
    #: else 0. Shaping: ``format`` (the answer stated in a readable form),
    #: ``length`` (shorter correct answers earn more), ``critic`` (the critic
    #: role accepts the answer; the critic plugin) and any a plugin registers.
    rewards: dict[str, float] = Field(default_factory=lambda: {"verifier": 1.0})
    #: ``vllm``: TRL's vLLM integration (needs vllm and a GPU); ``transformers``: ``generate``.
    generation: Literal["transformers", "vllm"] = "transformers"
    #: vLLM in the training process (``colocate``) or a ``trl vllm-serve`` server.
    vllm_mode: Literal["colocate", "server"] = "colocate"
    #: The ``trl vllm-serve`` server of ``vllm_mode: server``, e.g. ``http://localhost:8000``.
    vllm_server_base_url: str | None = None
    #: The GPU memory share a colocated vLLM engine takes.
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)
    #: The learning-rate schedule (``lr_scheduler_type``).
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "constant"
    #: Learning-rate warm-up steps.
    warmup_steps: int = Field(default=0, ge=0)
    #: Shuffle the prompts (``False`` keeps the file's order).
    shuffle: bool = True
    #: Training seed (weight init, prompt order, sampling).
    seed: int = 42
    #: Log rewards and loss to ``run.log`` every this many steps.
    logging_steps: int = Field(default=1, ge=1)
    #: A TRL checkpoint every this many steps, so a killed run resumes there.
    save_steps: int = Field(default=10, ge=1)
    #: Keep ``output_dir/grpo`` after a finished run (normally removed).
    keep_checkpoints: bool = False
    #: Passed to ``trl.GRPOConfig`` last, so it overrides everything above.
    extra_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("rewards")
    @classmethod
    def _some_reward(cls, value: dict[str, float]) -> dict[str, float]:
        # The names are checked against the registered rewards with the recipe.
        if not any(value.values()):
            raise ValueError("every reward has weight 0: nothing to learn from")
        return value


class TrlGrpoTrainer(Trainer):
    """Trains the actor online on its own verified samples (GRPO) and saves it."""

    changes_model = True
    online = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = TrlGrpoOptions.model_validate(options or {})
        if self.options.batch_size % self.options.num_generations:
            raise UsageError(
                f"trainer.options.batch_size: {self.options.batch_size} is not a multiple of "
                f"num_generations ({self.options.num_generations}); every step scores whole groups"
            )

    @property
    def shaping_rewards(self) -> list[str]:
        """The rewards with a weight: the loop passes them, built, to ``train``."""
        return [k for k, v in self.options.rewards.items() if v]

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
        verifier: Verifier | None = None,
        report: dict[str, Any] | None = None,
        rewards: dict[str, RewardFunction] | None = None,
    ) -> TrainResult:
        """Train on ``data_path``'s prompts; ``rewards``: the reward functions by name.

        Without ``rewards`` (the trainer used on its own) the built-in ones
        (``verifier``, ``format``, ``length``) are used.
        """
        opts = self.options
        if verifier is None:
            raise UsageError(
                "trl-grpo scores completions with a verifier: pass train(verifier=...)"
            )
        rows = read_rows(Path(data_path))
        if not rows:
            return TrainResult(model_path=None, metrics={"skipped": "no prompts"})
        if "problem" not in rows[0] or "prompt" not in rows[0]:
            raise UsageError(f"{data_path}: trl-grpo needs rows with 'prompt' and 'problem'")
        torch, transformers, trl = import_training_stack("trl-grpo", opts.method)
        if opts.generation == "vllm":
            _require_vllm()
        transformers.set_seed(opts.seed)
        output_dir = Path(output_dir)
        checkpoints = output_dir / CHECKPOINTS
        resume = _last_checkpoint(checkpoints)
        log = JsonlLog(output_dir / "samples.jsonl", Sample)
        _forget_redone_rollouts(log, resume)

        tokenizer = load_tokenizer(base_model)
        tokenizer.padding_side = "left"  # generation appends on the right
        from datasets import Dataset

        dataset = Dataset.from_list(
            [{k: r[k] for k in ("prompt", "problem", "iteration") if k in r} for r in rows]
        )
        bf16 = use_bf16(opts.dtype, torch)
        config = _grpo_config(opts, checkpoints, bf16, torch, trl, report or {})
        clock = GenerationClock()
        scorer = RolloutScorer(
            verifier,
            {k: v for k, v in opts.rewards.items() if v},
            max_tokens=opts.max_completion_length,
            sampling=SamplingParams(
                n=opts.num_generations,
                temperature=opts.temperature,
                top_p=opts.top_p,
                max_tokens=opts.max_completion_length,
            ),
            log=log,
            clock=clock,
            shaping=rewards,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="`is_gradient_checkpointing` is deprecated",
                category=FutureWarning,
            )
            model, peft_config = start_model(base_model, opts)
            trainer = _timed_trainer_class(trl.GRPOTrainer)(
                clock=clock,
                model=model,
                reward_funcs=[scorer],
                args=config,
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=peft_config,
                callbacks=progress_callbacks(on_progress, transformers),
            )
        trainer.remove_callback(transformers.PrinterCallback)

        start = time.perf_counter()
        output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.perf_counter() - start
        result = save_model(trainer.model, tokenizer, output_dir, opts.method)
        if not opts.keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
        generated = scorer.completion_tokens
        result.metrics.update(
            train_loss=round(float(output.training_loss), 6),
            steps=int(output.global_step),
            resumed_from=resume.name if resume else None,
            prompts=len(rows),
            completions=scorer.completions,
            completion_tokens=generated,
            prompt_tokens=scorer.prompt_tokens,
            generation_seconds=round(scorer.generation_seconds, 2),
            generated_tokens_per_second=round(generated / scorer.generation_seconds, 2)
            if scorer.generation_seconds
            else None,
            mean_reward=round(sum(scorer.rewards) / len(scorer.rewards), 4)
            if scorer.rewards
            else None,
            correct_fraction=round(scorer.correct / scorer.completions, 4)
            if scorer.completions
            else None,
            shaping_samples=scorer.shaping_samples,
            shaping_tokens=scorer.shaping_tokens,
            seconds=round(seconds, 2),
            method=opts.method,
            generation=opts.generation,
            dtype="bfloat16" if bf16 else "float32",
            learning_rate=opts.resolved_learning_rate(),
        )
        del trainer, model, output
        gc.collect()
        return result


def _timed_trainer_class(base: type) -> type:
    """``GRPOTrainer`` that times each generation call and counts its prompt tokens."""

    class TimedGRPOTrainer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, clock: GenerationClock, **kwargs: Any) -> None:
            self._reasonloop_clock = clock
            super().__init__(*args, **kwargs)

        def _generate(self, prompts: list[Any]) -> Any:
            # TRL 1.16's one generation entry point (transformers, vLLM and custom
            # rollouts alike); it returns the prompt token ids first.
            began = time.perf_counter()
            out = super()._generate(prompts)
            prompt_ids = out[0] if isinstance(out, tuple) and out else []
            self._reasonloop_clock.record(
                time.perf_counter() - began, [len(ids) for ids in prompt_ids]
            )
            return out

    return TimedGRPOTrainer


def _grpo_config(
    opts: TrlGrpoOptions,
    checkpoints: Path,
    bf16: bool,
    torch: Any,
    trl: Any,
    report: dict[str, Any],
) -> Any:
    args: dict[str, Any] = {
        "output_dir": str(checkpoints),
        "learning_rate": opts.resolved_learning_rate(),
        "num_train_epochs": opts.epochs,
        "max_steps": opts.max_steps or -1,
        "per_device_train_batch_size": opts.batch_size,
        "gradient_accumulation_steps": opts.gradient_accumulation_steps,
        "num_generations": opts.num_generations,
        "max_completion_length": opts.max_completion_length,
        "temperature": opts.temperature,
        "top_p": opts.top_p,
        "beta": opts.beta,
        "epsilon": opts.epsilon,
        "num_iterations": opts.updates_per_batch,
        "loss_type": opts.loss_type,
        "scale_rewards": opts.scale_rewards,
        "lr_scheduler_type": opts.lr_scheduler,
        "warmup_steps": opts.warmup_steps,
        "seed": opts.seed,
        "data_seed": opts.seed,
        "shuffle_dataset": opts.shuffle,
        "bf16": bf16,
        "fp16": False,
        "use_cpu": not torch.cuda.is_available(),
        "logging_steps": opts.logging_steps,
        "save_strategy": "steps",
        "save_steps": opts.save_steps,
        "save_total_limit": 1,
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "push_to_hub": False,
        "dataloader_pin_memory": False,
        # The reward function reads the 'problem' and 'iteration' columns.
        "remove_unused_columns": False,
        "log_completions": False,
        "use_vllm": opts.generation == "vllm",
    }
    if opts.generation == "vllm":
        args["vllm_mode"] = opts.vllm_mode
        args["vllm_gpu_memory_utilization"] = opts.vllm_gpu_memory_utilization
        if opts.vllm_server_base_url:
            args["vllm_server_base_url"] = opts.vllm_server_base_url
    import dataclasses

    fields = {f.name for f in dataclasses.fields(trl.GRPOConfig)}
    renamed = "activation_checkpointing" in fields
    args["activation_checkpointing" if renamed else "gradient_checkpointing"] = (
        opts.gradient_checkpointing
    )
    args.update(report)
    args.update(opts.extra_args)
    if "logging_dir" in args and "logging_dir" not in fields:
        import os

        os.environ["TENSORBOARD_LOGGING_DIR"] = str(args.pop("logging_dir"))
    try:
        return trl.GRPOConfig(**args)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"trainer.options: {exc}") from exc


def _last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete TRL checkpoint (one with its trainer state), or ``None``."""
    found = []
    for path in checkpoints.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(step), path))
    return max(found)[1] if found else None


def _forget_redone_rollouts(log: JsonlLog[Sample], resume: Path | None) -> None:
    """Drop the rollouts of steps the run is about to redo (all of them on a fresh start)."""
    log.repair()
    if not log.path.exists():
        return
    done = 0
    if resume is not None:
        done = int(json.loads((resume / "trainer_state.json").read_text())["global_step"])
    kept = [
        s
        for s in log
        if (s.request.plugin != PLUGIN and "shaping" not in s.evidence)
        or int(s.evidence.get("step", 0)) < done
    ]
    log.rewrite(kept)


def _require_vllm() -> None:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise UsageError(
            "trainer.options.generation: 'vllm' needs the vllm package (a GPU machine): "
            "pip install 'reasonloop[vllm]', or use generation: transformers"
        )
