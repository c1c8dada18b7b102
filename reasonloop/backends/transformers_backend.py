"""The CPU default backend: a transformers causal LM with batched, refilled decoding.

Chat messages go through the tokenizer's chat template; a request's
``prefill`` is appended after the generation prompt and continued by the
model. Prompts are sorted by length, finished sequences leave the batch at
once and free rows are refilled from the queue (see
:mod:`reasonloop.hf.decoding.batch`). Every sample draws from its own
seeded generator, so repeating a seeded request repeats its samples. The
random draws never depend on the rest of the batch; the logits do, in the
last bits, with the batch's shape and shared prefix: in float32 samples were
identical across batch compositions, in bfloat16 they may drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasonloop.backends.base import ProgressCallback, prompt_ids, with_defaults
from reasonloop.core.protocols import Backend
from reasonloop.core.records import Completion, Request, SamplingParams
from reasonloop.errors import UsageError
from reasonloop.hf.decoding.attention import ATTENTION_NAME, use_decode_attention
from reasonloop.hf.decoding.batch import BatchDecoder, DecodeJob
from reasonloop.hf.decoding.sampling import TokenChooser, sample_seed
from reasonloop.hf.models import import_torch, load_causal_lm, load_tokenizer
from reasonloop.hf.perplexity import token_logprobs

__all__ = ["TransformersBackend", "cpu_supports_bf16", "resolve_dtype"]

#: Used when neither the request nor the backend's defaults set a token limit.
DEFAULT_MAX_TOKENS = 256


def cpu_supports_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Return whether the CPU has native bfloat16 matrix instructions.

    Without avx512_bf16 or AMX, bfloat16 is emulated and was measured much
    slower than float32, so only these flags count.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_dtype(dtype: str) -> str:
    """Turn ``"auto"`` into ``"bfloat16"`` or ``"float32"`` for this CPU."""
    if dtype == "auto":
        return "bfloat16" if cpu_supports_bf16() else "float32"
    if dtype not in {"float32", "bfloat16", "float16"}:
        raise UsageError(f"dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    return dtype


class TransformersBackend(Backend):
    """Generates completions with a transformers model on CPU.

    ``model`` is a model spec (see :func:`reasonloop.hf.models.resolve_model`)
    or a PEFT adapter directory (its base model is loaded and the adapter
    merged); ``adapter`` a PEFT adapter directory merged into the weights at
    load time;
    ``batch_size`` the number of sequences decoded together; ``threads`` the
    torch intra-op thread count (default: torch's choice); ``seed`` the base
    of the per-sample seeds of requests that carry none; ``device`` where the
    weights go (``cpu``, or ``cuda`` / ``cuda:N`` for a quick check on a GPU,
    where the ``vllm`` backend is the one to use for real work).
    """

    #: An adapter is merged at load time, so the loop hands over the merged
    #: checkpoint, which loads as fast.
    adapters_on_base = False
    loads_checkpoints = True
    #: The weights change with every iteration: closed before training.
    serves_adapters = False
    #: ``token_logprobs``: batched forward passes on the loaded model.
    scores_tokens = True

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        batch_size: int = 64,
        defaults: SamplingParams | None = None,
        adapter: str | None = None,
        threads: int | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        torch = import_torch()
        if threads:
            torch.set_num_threads(threads)
        config = Path(model).expanduser() / "adapter_config.json"
        if adapter is None and config.is_file():
            base = json.loads(config.read_text()).get("base_model_name_or_path")
            if not base:
                raise UsageError(f"{config} names no base_model_name_or_path")
            adapter, model = str(config.parent), base
        self.model_spec = model
        self.requested_dtype = dtype
        self.dtype = resolve_dtype(dtype)
        self.batch_size = batch_size
        self.defaults = defaults or SamplingParams()
        self.adapter = adapter
        self.seed = seed
        self.tokenizer = load_tokenizer(model)
        self.model: Any = load_causal_lm(model, self.dtype)
        if adapter:
            self.model = _merge_adapter(self.model, adapter)
        self.device = device
        if device != "cpu":
            self.model = self.model.to(device)
        self.eos_ids = _eos_ids(self.tokenizer, self.model)
        self.attention = (
            ATTENTION_NAME
            if use_decode_attention(self.model)
            else self.model.config._attn_implementation
        )
        self._decoder: BatchDecoder | None = BatchDecoder(
            self.model, self._decode, self.eos_ids, batch_size=batch_size
        )

    def __repr__(self) -> str:
        return (
            f"TransformersBackend({self.model_spec!r}, dtype={self.dtype!r}, "
            f"batch_size={self.batch_size}, adapter={self.adapter!r}, device={self.device!r})"
        )

    def describe(self) -> str:
        """Return one line naming the engine, dtype and batch settings in use."""
        torch = import_torch()
        why = "auto: " + ("CPU has bf16" if cpu_supports_bf16() else "no bf16 on CPU")
        return (
            f"continuous batching (slab KV cache, {self.attention} attention), "
            f"{self.dtype} ({why if self.requested_dtype == 'auto' else 'as requested'}), "
            f"batch {self.batch_size}, {torch.get_num_threads()} threads"
            + (f", adapter {self.adapter}" if self.adapter else "")
        )

    def generate(
        self,
        requests: Sequence[Request],
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """Return ``request.sampling.n`` completions per request, in request order."""
        if self._decoder is None:
            raise UsageError("this TransformersBackend was closed")
        jobs = [self._job(r) for r in requests]
        decoded = self._decoder.run(jobs, on_progress)
        return [
            [
                Completion(
                    text=s.text,
                    prompt_tokens=len(job.prompt_ids),
                    completion_tokens=len(s.token_ids),
                    finish_reason=s.finish_reason,
                )
                for s in samples
            ]
            for job, samples in zip(jobs, decoded, strict=True)
        ]

    def token_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float | None]]:
        """Each token's log-probability given those before it, ``batch_size`` rows a pass."""
        if self.model is None:
            raise UsageError("this TransformersBackend was closed")
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id or 0
        return token_logprobs(
            self.model, sequences, pad_id=pad, batch_size=self.batch_size, device=self.device
        )

    def close(self) -> None:
        """Drop the model so its memory can be freed. Safe to call twice."""
        self._decoder = None
        self.model = None

    def prompt_ids(self, request: Request) -> list[int]:
        """Return the token ids the model sees for ``request`` (template plus prefill)."""
        return prompt_ids(self.tokenizer, request)

    def _job(self, request: Request) -> DecodeJob:
        params = with_defaults(request.sampling, self.defaults)
        temperature = params.temperature or 0.0
        top_p = params.top_p if params.top_p is not None else 1.0
        if params.seed is not None:
            # Same request seed, same samples: the id is deliberately left out.
            seeds = [sample_seed(params.seed, i) for i in range(params.n)]
        else:
            seeds = [sample_seed(self.seed, request.id, i) for i in range(params.n)]
        return DecodeJob(
            prompt_ids=self.prompt_ids(request),
            choosers=[TokenChooser(temperature, top_p, s) for s in seeds],
            max_new_tokens=max(
                1, DEFAULT_MAX_TOKENS if params.max_tokens is None else params.max_tokens
            ),
            stop=tuple(s for s in params.stop or () if s),
        )

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(int(i) for i in source)
    return ids


def _merge_adapter(model: Any, adapter: str) -> Any:
    """Load a PEFT adapter onto ``model`` and fold it into the weights.

    Merged weights decode as fast as the base model; an unmerged LoRA adds
    two small matmuls per projection per step.
    """
    if not os.path.isdir(adapter):
        raise UsageError(f"adapter {adapter!r}: no such directory")
    try:
        from peft import PeftModel
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise UsageError("LoRA adapters need peft: pip install 'reasonloop[cpu]'") from exc
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.eval()
    return merged
