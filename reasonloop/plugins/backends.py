"""Built-in generation backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonloop import hookimpl


def transformers_backend(model: str, options: dict[str, Any]) -> Any:
    """Hugging Face transformers ``generate`` on the CPU (the default)."""
    from reasonloop.backends.transformers_backend import TransformersBackend

    options = dict(options)
    defaults = options.pop("defaults", None)
    return TransformersBackend(model, defaults=defaults, **options)


def openai_backend(model: str, options: dict[str, Any]) -> Any:
    """Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, ``reasonloop serve``, APIs)."""
    from reasonloop.backends.openai_backend import OpenAIBackend

    options = dict(options)
    defaults = options.pop("defaults", None)
    return OpenAIBackend(model, defaults=defaults, **options)


def vllm_backend(model: str, options: dict[str, Any]) -> Any:
    """vLLM in-process: GPUs, or vLLM's CPU build."""
    from reasonloop.backends.vllm_backend import VLLMBackend

    options = dict(options)
    defaults = options.pop("defaults", None)
    return VLLMBackend(model, defaults=defaults, **options)


#: Given a LoRA iteration's adapter, the loop hands these backends the adapter
#: (run on the loaded base model: a LoRARequest in-process, or loaded into the
#: servers at run time) instead of the merged checkpoint.
vllm_backend.adapters_on_base = True  # type: ignore[attr-defined]
openai_backend.adapters_on_base = True  # type: ignore[attr-defined]
#: A full fine-tune's checkpoint is not something a remote server can load.
openai_backend.loads_checkpoints = False  # type: ignore[attr-defined]


@hookimpl
def reasonloop_register_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("transformers", transformers_backend)
    register("openai", openai_backend)
    register("vllm", vllm_backend)
