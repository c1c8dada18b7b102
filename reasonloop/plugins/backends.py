"""Built-in generation backends.

Each is registered as its class (wrapped to take the recipe's options as
keywords), so the loop reads what it can do off the class before building
one: see :class:`reasonloop.core.protocols.Backend`. The heavy engines
(torch, vLLM) are imported only when a backend is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonloop import hookimpl
from reasonloop.backends.base import BackendClass
from reasonloop.backends.openai_backend import OpenAIBackend
from reasonloop.backends.transformers_backend import TransformersBackend
from reasonloop.backends.vllm_backend import VLLMBackend


@hookimpl
def reasonloop_register_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("transformers", BackendClass(TransformersBackend))
    register("openai", BackendClass(OpenAIBackend))
    register("vllm", BackendClass(VLLMBackend))
