"""What backend authors share: prompts, sampling defaults, greedy copies, registration.

The protocol itself is :class:`reasonloop.core.protocols.Backend`
(re-exported here with its factory and progress types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reasonloop.core.protocols import Backend, BackendFactory, ProgressCallback, capability
from reasonloop.core.records import Completion, Request, SamplingParams

__all__ = [
    "Backend",
    "BackendClass",
    "BackendFactory",
    "ProgressCallback",
    "greedy_copies",
    "prompt_ids",
    "prompt_text",
    "with_defaults",
]


@dataclass(frozen=True)
class BackendClass:
    """Registers a backend class that takes its options as keywords.

    ``register("vllm", BackendClass(VLLMBackend))`` builds
    ``VLLMBackend(model, defaults=..., **backend_options)`` and answers for
    the class's capabilities before any backend is built (the loop reads
    ``adapters_on_base`` and ``loads_checkpoints`` off what was registered).
    A class whose constructor takes ``(model, options)`` needs no wrapper.
    """

    cls: type[Backend]

    def __call__(self, model: str, options: dict[str, Any]) -> Backend:
        options = dict(options)
        defaults = options.pop("defaults", None)
        return self.cls(model, defaults=defaults, **options)  # type: ignore[call-arg]

    @property
    def adapters_on_base(self) -> bool:
        return capability(self.cls, "adapters_on_base")

    @property
    def loads_checkpoints(self) -> bool:
        return capability(self.cls, "loads_checkpoints")

    @property
    def scores_tokens(self) -> bool:
        return capability(self.cls, "scores_tokens")

    @property
    def options_model(self) -> Any:
        """The pydantic model of the class's ``backend_options``, checked at load (or None)."""
        return getattr(self.cls, "options_model", None)


def with_defaults(params: SamplingParams, defaults: SamplingParams) -> SamplingParams:
    """Fill the ``None`` fields of a request's ``params`` from the role's ``defaults``."""
    filled = {k: getattr(defaults, k) if v is None else v for k, v in params.model_dump().items()}
    return SamplingParams(**filled)


def greedy_copies(completion: Completion, n: int) -> list[Completion]:
    """``n`` greedy samples: the one decoded completion, then free copies of it.

    Greedy decoding gives the same text every time, and engines such as vLLM
    refuse ``n > 1`` at temperature 0. The copies carry no tokens, since
    nothing was generated for them.
    """
    copy = completion.model_copy(
        update={"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
    )
    return [completion] + [copy.model_copy() for _ in range(n - 1)]


def prompt_text(tokenizer: Any, request: Request) -> str:
    """The text a model continues for ``request``: chat template, then the prefill.

    A request without messages is a raw text completion of its prefill (the
    completions endpoint). Every backend that applies the template itself
    uses this, so all of them see the same prompt.
    """
    if not request.messages:
        return request.prefill or ""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + (request.prefill or "")


def prompt_ids(tokenizer: Any, request: Request) -> list[int]:
    """The token ids of :func:`prompt_text` (the template adds special tokens itself)."""
    return list(tokenizer(prompt_text(tokenizer, request), add_special_tokens=False)["input_ids"])
