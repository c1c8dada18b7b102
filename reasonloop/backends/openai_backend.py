"""Any OpenAI-compatible server: vLLM's ``vllm serve``, SGLang, llama.cpp, hosted APIs.

Requests go out concurrently (at most ``concurrency`` at a time) through the
official ``openai`` client, to one or several endpoints. Each request goes to
the healthy endpoint with the fewest requests in flight; connection errors,
timeouts, 429 and 5xx answers are retried with exponential backoff (with
jitter), on another endpoint when there is one, and an endpoint that failed
rests for the backoff before it is tried again. Other 4xx answers are not
retried: they mean the request itself is wrong. When every try failed the
backend raises :class:`~reasonloop.errors.BackendError` naming the endpoints
and the last error; the samples verified before that are already on disk and
``reasonloop resume`` continues once the server is back.

Greedy requests (temperature 0) are decoded once; ``n > 1`` of them get
free copies. Otherwise ``n`` samples per request are asked natively (one API call with ``n``) or by
fan-out (``n`` calls with seeds ``seed``, ``seed + 1``...), per ``n_mode``.
Token counts come from the server's ``usage`` fields; with native ``n`` the
completion tokens of the call are split over its choices in proportion to
their length (the API reports only the total).

``token_logprobs`` scores given token ids through the completions endpoint
(``echo`` with ``logprobs``, token-id prompts, ``score_batch_size`` sequences
per call, the same concurrency, failover and retries): vLLM's server and
``reasonloop serve`` answer it; a server that returns no prompt logprobs is
named in the error.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.backends.base import ProgressCallback, greedy_copies, prompt_text, with_defaults
from reasonloop.core.protocols import Backend
from reasonloop.core.records import Completion, Request, SamplingParams
from reasonloop.errors import BackendError

__all__ = ["OpenAIBackend", "OpenAIOptions"]


class OpenAIOptions(BaseModel):
    """``backend_options`` of the ``openai`` backend."""

    model_config = ConfigDict(extra="forbid")

    #: One base URL (``http://127.0.0.1:8000/v1``) or several, load-balanced.
    base_url: str | list[str] = "http://127.0.0.1:8000/v1"
    #: The API key; ``None`` reads the variable named by ``api_key_env``.
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    #: ``chat`` (messages; the server applies the chat template) or
    #: ``completions`` (raw text; needs ``tokenizer`` to apply the template here).
    endpoint: Literal["chat", "completions"] = "chat"
    #: Tokenizer (path, hub id or ``pkg:`` GGUF) whose chat template turns
    #: messages into the raw prompt of the completions endpoint.
    tokenizer: str | None = None
    #: Requests in flight at once, over all endpoints.
    concurrency: int = Field(default=16, ge=1)
    #: Seconds one HTTP request may take.
    timeout: float = Field(default=300.0, gt=0)
    #: Tries after the first before giving up on a request.
    max_retries: int = Field(default=5, ge=0)
    #: First backoff in seconds; doubles per try up to ``max_backoff``.
    backoff: float = Field(default=0.5, ge=0)
    max_backoff: float = Field(default=20.0, ge=0)
    #: ``native``: one call with ``n``; ``fanout``: ``n`` calls of one sample.
    n_mode: Literal["native", "fanout"] = "native"
    #: Send each request's seed. vLLM's CPU build fails on per-request seeds
    #: ("CPU Generator does not use offset") and its engine dies: set false there.
    request_seeds: bool = True
    #: Extra JSON fields sent with every request (e.g. ``top_k`` for vLLM).
    extra_body: dict[str, Any] = Field(default_factory=dict)
    #: Token-id sequences per scoring call (``token_logprobs``).
    score_batch_size: int = Field(default=16, ge=1)


@dataclass
class _Endpoint:
    url: str
    client: Any
    in_flight: int = 0
    resting_until: float = 0.0
    failures: int = 0


@dataclass
class _Call:
    """One API call: a request, and which of its ``n`` samples it produces."""

    request: Request
    params: SamplingParams
    n: int
    seed: int | None
    first: int = 0
    completions: list[Completion] = field(default_factory=list)


class OpenAIBackend(Backend):
    """Generation through an OpenAI-compatible HTTP API."""

    #: A LoRA adapter is loaded into the servers beside their base model.
    adapters_on_base = True
    #: A full fine-tune's checkpoint is not something a remote server can load.
    loads_checkpoints = False
    #: A client holds no model: nothing to keep up while training.
    serves_adapters = False
    #: ``backend_options`` are checked against this when a recipe is loaded.
    options_model = OpenAIOptions
    #: ``token_logprobs`` through ``echo`` + ``logprobs`` on the completions
    #: endpoint; whether the server answers it is known only when asked.
    scores_tokens = True

    def __init__(self, model: str, defaults: SamplingParams | None = None, **options: Any):
        self.model = model
        self.defaults = defaults or SamplingParams()
        self.options = OpenAIOptions(**options)
        urls = self.options.base_url
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise BackendError("openai backend: base_url lists no endpoint")
        self.api_key = self.options.api_key or os.environ.get(self.options.api_key_env) or "EMPTY"
        adapter = Path(model).expanduser()
        if (adapter / "adapter_config.json").is_file():
            # A LoRA iteration's adapter: the servers load it beside their base
            # model and serve it under its own name.
            self.model = _load_adapter(self.urls, self.api_key, adapter.resolve())
        self._template = None
        if self.options.endpoint == "completions":
            if not self.options.tokenizer:
                raise BackendError(
                    "openai backend: endpoint 'completions' needs backend_options.tokenizer "
                    "(its chat template builds the raw prompt)"
                )
            from reasonloop.hf.models import load_tokenizer

            self._template = load_tokenizer(self.options.tokenizer)

    # -- the protocol ------------------------------------------------------

    def generate(
        self, requests: Sequence[Request], on_progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        calls: list[_Call] = []
        for r in requests:
            params = with_defaults(r.sampling, self.defaults)
            if params.temperature == 0 or self.options.n_mode == "native" or params.n == 1:
                calls.append(
                    _Call(r, params, 1 if params.temperature == 0 else params.n, params.seed)
                )
            else:
                for i in range(params.n):
                    seed = None if params.seed is None else params.seed + i
                    calls.append(_Call(r, params, 1, seed, first=i))
        if calls:

            async def one(call: _Call, endpoints: list[_Endpoint]) -> None:
                call.completions = await self._call_with_retries(
                    f"request {call.request.id}",
                    lambda client: self._send(client, call),
                    endpoints,
                    hint=_RESUME,
                )
                if on_progress:
                    done = call.completions
                    on_progress(len(done), sum(c.completion_tokens for c in done))

            asyncio.run(self._run_all([_bind(one, c) for c in calls]))
        out: dict[str, list[Completion]] = {r.id: [] for r in requests}
        for c in sorted(calls, key=lambda c: c.first):
            out[c.request.id].extend(c.completions)
        for c in calls:
            if c.params.temperature == 0 and c.params.n > 1:
                out[c.request.id] = greedy_copies(c.completions[0], c.params.n)
        return [out[r.id] for r in requests]

    def token_logprobs(self, sequences: Sequence[Sequence[int]]) -> list[list[float | None]]:
        """Each token's log-probability given those before it, from the server's echo.

        Sequences go out ``score_batch_size`` to a call as token-id prompts
        with ``echo``, ``logprobs: 1`` and one generated token, which is
        dropped.
        """
        todo = [i for i, s in enumerate(sequences) if s]
        out: list[list[float | None]] = [[] for _ in sequences]
        size = self.options.score_batch_size
        batches = [todo[k : k + size] for k in range(0, len(todo), size)]

        async def one(batch: list[int], endpoints: list[_Endpoint]) -> None:
            seqs = [sequences[i] for i in batch]
            scored = await self._call_with_retries(
                f"scoring {len(batch)} sequences",
                lambda client: self._score(client, seqs),
                endpoints,
            )
            for i, logprobs in zip(batch, scored, strict=True):
                out[i] = logprobs

        if batches:
            asyncio.run(self._run_all([_bind(one, b) for b in batches]))
        return out

    def close(self) -> None:
        """Nothing to release: clients live for one ``generate`` call."""

    # -- calls ---------------------------------------------------------------

    async def _run_all(self, jobs: list[Callable[[list[_Endpoint]], Awaitable[None]]]) -> None:
        """Run ``jobs`` concurrently (at most ``concurrency``) over fresh clients."""
        from openai import AsyncOpenAI

        endpoints = [
            _Endpoint(
                url,
                AsyncOpenAI(
                    base_url=url,
                    api_key=self.api_key,
                    max_retries=0,
                    timeout=self.options.timeout,
                ),
            )
            for url in self.urls
        ]
        limit = asyncio.Semaphore(self.options.concurrency)

        async def limited(job: Callable[[list[_Endpoint]], Awaitable[None]]) -> None:
            async with limit:
                await job(endpoints)

        tasks = [asyncio.create_task(limited(job)) for job in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for e in endpoints:
                await e.client.close()

    def _pick(self, endpoints: list[_Endpoint]) -> _Endpoint:
        now = time.monotonic()
        ready = [e for e in endpoints if e.resting_until <= now] or endpoints
        return min(ready, key=lambda e: (e.in_flight, e.resting_until, e.failures))

    async def _call_with_retries(
        self,
        what: str,
        send: Callable[[Any], Awaitable[Any]],
        endpoints: list[_Endpoint],
        hint: str = "",
    ) -> Any:
        """``send(client)`` on the best endpoint, retried and failed over; its result."""
        import openai

        opts = self.options
        last: Exception | None = None
        for attempt in range(opts.max_retries + 1):
            endpoint = self._pick(endpoints)
            wait = endpoint.resting_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            endpoint.in_flight += 1
            try:
                result = await send(endpoint.client)
                endpoint.failures = 0
                return result
            except (openai.APIConnectionError, openai.RateLimitError) as exc:
                last = exc  # APITimeoutError is an APIConnectionError
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    raise BackendError(
                        f"openai backend: {endpoint.url} refused {what} "
                        f"with HTTP {exc.status_code}: {_detail(exc)}"
                    ) from None
                last = exc
            finally:
                endpoint.in_flight -= 1
            endpoint.failures += 1
            delay = min(opts.max_backoff, opts.backoff * 2**attempt)
            delay *= 0.5 + random.random() / 2
            endpoint.resting_until = time.monotonic() + delay
        raise BackendError(
            f"openai backend: {what} failed {opts.max_retries + 1} times "
            f"on {', '.join(self.urls)}; last error: {_describe(last)}.{hint}"
        )

    async def _score(self, client: Any, sequences: list[Sequence[int]]) -> list[list[float | None]]:
        response = await client.completions.create(
            model=self.model,
            prompt=[list(s) for s in sequences],
            max_tokens=1,
            temperature=0.0,
            echo=True,
            # 1, not 0: some servers test ``logprobs`` for truth before they
            # return prompt logprobs; token_logprobs are the prompt's own tokens either way.
            logprobs=1,
            extra_body=self.options.extra_body or None,
        )
        choices = sorted(response.choices, key=lambda c: c.index)
        if len(choices) != len(sequences):
            raise BackendError(
                f"openai backend: asked to score {len(sequences)} sequences, "
                f"the server answered {len(choices)}"
            )
        out = []
        for seq, choice in zip(sequences, choices, strict=True):
            logprobs = getattr(getattr(choice, "logprobs", None), "token_logprobs", None)
            if logprobs is None or len(logprobs) < len(seq):
                raise BackendError(
                    f"openai backend: the server at {', '.join(self.urls)} returned no "
                    "prompt logprobs for an echo request; scoring needs a completions "
                    "endpoint that answers echo with logprobs (vLLM's server, "
                    "reasonloop serve)"
                )
            out.append([None] + [None if v is None else float(v) for v in logprobs[1 : len(seq)]])
        return out

    async def _send(self, client: Any, call: _Call) -> list[Completion]:
        p = call.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "n": call.n,
            "max_tokens": p.max_tokens if p.max_tokens is not None else 256,
            "temperature": p.temperature if p.temperature is not None else 1.0,
        }
        if p.top_p is not None:
            kwargs["top_p"] = p.top_p
        if p.stop:
            kwargs["stop"] = list(p.stop)
        if call.seed is not None and self.options.request_seeds:
            kwargs["seed"] = call.seed
        extra = dict(self.options.extra_body)
        request = call.request
        if self.options.endpoint == "chat":
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            if request.prefill:
                # Continue the pre-filled answer instead of starting a new turn
                # (vLLM and SGLang read these; llama.cpp continues a final
                # assistant message by itself).
                messages.append({"role": "assistant", "content": request.prefill})
                extra.setdefault("continue_final_message", True)
                extra.setdefault("add_generation_prompt", False)
            response = await client.chat.completions.create(
                messages=messages, extra_body=extra or None, **kwargs
            )
            texts = [(c.message.content or "", c.finish_reason) for c in response.choices]
        else:
            response = await client.completions.create(
                prompt=self._raw_prompt(request), extra_body=extra or None, **kwargs
            )
            texts = [(c.text or "", c.finish_reason) for c in response.choices]
        if request.prefill and self.options.endpoint == "chat":
            # Some servers echo the prefill at the start of the content.
            texts = [
                (t[len(request.prefill) :] if t.startswith(request.prefill) else t, f)
                for t, f in texts
            ]
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", 0) or 0
        total = getattr(usage, "completion_tokens", 0) or 0
        lengths = [len(t) + 1 for t, _ in texts]
        shares = _split(total, lengths)
        return [
            Completion(
                text=t,
                prompt_tokens=prompt_tokens,
                cached_tokens=cached,
                completion_tokens=share,
                finish_reason="length" if f == "length" else "stop",
            )
            for (t, f), share in zip(texts, shares, strict=True)
        ]

    def _raw_prompt(self, request: Request) -> str:
        return prompt_text(self._template, request)


#: What a failed generation request adds to its error.
_RESUME = (
    " Samples verified so far are on disk: start the server and run `reasonloop resume RUN_DIR`."
)


def _bind(job: Callable[..., Awaitable[None]], item: Any) -> Callable[[Any], Awaitable[None]]:
    """``job`` with its first argument fixed, awaiting the endpoints."""
    return lambda endpoints: job(item, endpoints)


def _split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``; the parts sum to ``total``."""
    if not weights:
        return []
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    for i in range(total - sum(parts)):
        parts[i % len(parts)] += 1
    return parts


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body
        return str(message)[:300]
    return str(exc)[:300]


def _describe(exc: Exception | None) -> str:
    if exc is None:
        return "none"
    status = getattr(exc, "status_code", None)
    cause = exc.__cause__ or exc.__context__
    text = f"HTTP {status}: {_detail(exc)}" if status else str(exc)
    if cause is not None and not status:
        text += f" ({type(cause).__name__}: {str(cause)[:200]})"
    return text


def _load_adapter(urls: list[str], api_key: str, path: Path) -> str:
    """Load a LoRA adapter into every server at run time; return the name to request.

    Uses vLLM's ``POST /v1/load_lora_adapter`` (the server needs
    ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``) and
    needs ``path`` readable by the servers.
    """
    import hashlib
    import json
    import urllib.error
    import urllib.request

    name = f"{path.name}-{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    body = json.dumps({"lora_name": name, "lora_path": str(path)}).encode()
    for url in urls:
        target = url.rstrip("/") + "/load_lora_adapter"
        request = urllib.request.Request(
            target,
            data=body,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as r:
                status, text = r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            raise BackendError(f"{target}: could not load the LoRA adapter {path}: {exc}") from None
        if status == 200 or "already" in text.lower():
            continue
        hint = ""
        if status in (404, 405):
            hint = (
                " (the server cannot load adapters at run time; with vLLM start it with "
                "--enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)"
            )
        raise BackendError(
            f"{target}: the server refused the LoRA adapter {path}: "
            f"HTTP {status} {text[:300]}{hint}"
        )
    return name
