"""The protocol every generation backend implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from reasonloop.core.records import Completion, Request, SamplingParams

__all__ = [
    "Backend",
    "BackendFactory",
    "ProgressCallback",
    "greedy_copies",
    "prompt_ids",
    "prompt_text",
    "with_defaults",
]

#: Called by a backend after each finished chunk with the number of
#: completions and completion tokens it just produced.
ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class Backend(Protocol):
    """Turns a batch of requests into completions.

    ``generate`` receives every request of one role in one call and returns,
    for each request in order, a list of ``request.sampling.n`` completions.
    Sampling parameters left as ``None`` in a request take the backend's
    defaults (the role's settings from the recipe). A request with
    ``prefill`` continues that text as the start of the assistant's answer;
    the completion excludes the prefill.
    """

    def generate(
        self,
        requests: Sequence[Request],
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]: ...

    def close(self) -> None:
        """Release the model (memory, GPU, processes). Safe to call twice."""


#: ``factory(model, options)`` builds a backend; ``options`` are the role's
#: ``backend_options`` from the recipe plus its sampling defaults under
#: ``"defaults"``.
BackendFactory = Callable[[str, dict[str, Any]], Backend]


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
