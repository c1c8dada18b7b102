"""``reasonloop serve``: any backend behind an OpenAI-compatible HTTP API.

One model process can then serve several runs, notebooks or machines, and
the ``openai`` backend talks to it like to any other server. Concurrent HTTP
requests are collected for a short window into one batched
``backend.generate`` call, so the CPU default keeps its batching when
clients send one request at a time.

Endpoints: ``POST /v1/chat/completions`` (messages; a final assistant message
with ``continue_final_message`` is continued, as vLLM does),
``POST /v1/completions`` (raw text prompt), ``GET /v1/models``,
``GET /health``, and vLLM's ``POST /v1/load_lora_adapter`` (``lora_name``,
``lora_path``): a LoRA adapter of the served model is loaded beside it and
answers requests for its name, so a run whose actor trains LoRA adapters
keeps using the server. A request naming a model the server does not serve
gets 404. More than ``max_pending`` waiting requests get
``429 Too Many Requests`` with ``Retry-After``, so clients back off instead
of queueing without bound.

Scoring: a ``/v1/completions`` request with ``echo`` and ``logprobs`` whose
``prompt`` is token ids (one list, or a list of lists) gets each prompt
token's log-probability in ``choices[i].logprobs.token_logprobs`` (``None``
for the first), computed in one batched call of the backend's
``token_logprobs`` (backends with ``scores_tokens``); ``max_tokens`` must be
0 or 1 and nothing is generated. This is what the ``openai`` backend's
``token_logprobs`` sends, as it does to vLLM's server.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from reasonloop.core.protocols import capability
from reasonloop.core.records import Completion, Message, Request, SamplingParams

__all__ = ["ModelServer", "parse_openai_request"]


class BadRequest(ValueError):
    """The client's JSON does not make a valid request (HTTP 400)."""


def parse_score_request(body: dict[str, Any]) -> list[list[int]]:
    """The token-id prompts of an ``echo`` + ``logprobs`` completions request."""
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and all(_is_token(t) for t in prompt):
        sequences = [prompt]
    elif (
        isinstance(prompt, list)
        and prompt
        and all(isinstance(p, list) and p and all(_is_token(t) for t in p) for p in prompt)
    ):
        sequences = prompt
    else:
        raise BadRequest(
            "echo with logprobs scores token ids here: send prompt as a list of token "
            "ids or a list of such lists"
        )
    max_tokens = body.get("max_tokens", 16)
    if max_tokens not in (0, 1):
        raise BadRequest(
            "echo with logprobs scores the prompt only on this server: set max_tokens to 0 or 1"
        )
    return [list(s) for s in sequences]


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_openai_request(body: Any, chat: bool) -> Request:
    """Turn an OpenAI chat or completions request body into a :class:`Request`."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    try:
        sampling = SamplingParams(
            n=body.get("n") or 1,
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            max_tokens=max_tokens,
            stop=stop,
            seed=body.get("seed"),
        )
        if sampling.n < 1:
            raise BadRequest("n must be at least 1")
        prefill = None
        if chat:
            raw = body.get("messages")
            if not isinstance(raw, list) or not raw:
                raise BadRequest("messages must be a non-empty list")
            messages = [
                Message(role=m.get("role"), content=_content(m.get("content")))
                for m in raw
                if isinstance(m, dict)
            ]
            if len(messages) != len(raw):
                raise BadRequest("every message must be an object with role and content")
            if messages[-1].role == "assistant" and (
                body.get("continue_final_message") or body.get("add_generation_prompt") is False
            ):
                prefill = messages.pop().content
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str):
                raise BadRequest("prompt must be a string")
            messages, prefill = [], prompt
        return Request(
            id=uuid.uuid4().hex,
            problem_id="serve",
            messages=messages,
            prefill=prefill,
            sampling=sampling,
            plugin="serve",
            purpose="serve",
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"{where}: {first['msg']}") from None


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise BadRequest("message content must be a string or a list of text parts")


class ModelServer:
    """A backend served over HTTP; requests arriving together are batched."""

    def __init__(
        self,
        backend: Any,
        model_name: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_batch: int = 64,
        window: float = 0.02,
        max_pending: int = 1024,
        loader: Callable[[str], Any] | None = None,
    ):
        self.backend = backend
        self.model_name = model_name
        self.max_batch = max_batch
        self.window = window
        self.max_pending = max_pending
        #: Builds a backend for a LoRA adapter directory (None: adapters refused).
        self.loader = loader
        self.backends: dict[str, Any] = {model_name: backend}
        self._loading = threading.Lock()
        #: One model call at a time: the batcher's generation, or a scoring request.
        self._busy = threading.Lock()
        self._queue: queue.Queue[tuple[Request, Future[list[Completion]]]] = queue.Queue()
        self._stopping = threading.Event()
        self._batcher = threading.Thread(target=self._batch_loop, name="batcher", daemon=True)
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def serve_forever(self) -> None:
        self._batcher.start()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self._stopping.set()
        self.httpd.server_close()
        for name, backend in list(self.backends.items()):
            if name != self.model_name:
                backend.close()

    def load_adapter(self, name: str, path: str) -> bool:
        """Serve the adapter at ``path`` as ``name``; False if it was loaded already."""
        if self.loader is None:
            raise BadRequest("this server does not load LoRA adapters")
        with self._loading:
            if name in self.backends:
                return False
            self.backends[name] = self.loader(path)
            return True

    def submit(self, request: Request, model: str | None = None) -> Future[list[Completion]]:
        """Queue a request for ``model`` (default: the served model)."""
        request.meta["model"] = model or self.model_name
        future: Future[list[Completion]] = Future()
        self._queue.put((request, future))
        return future

    def score(self, sequences: list[list[int]], model: str | None = None) -> list[list[Any]]:
        """Each token's log-probability given those before it, under ``model``."""
        backend = self.backends[model or self.model_name]
        if not capability(backend, "scores_tokens"):
            raise BadRequest(f"the {type(backend).__name__} behind this server cannot score tokens")
        with self._busy:
            return backend.token_logprobs(sequences)

    def _batch_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    batch.append(
                        self._queue.get(timeout=max(left, 0))
                        if left > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            by_model: dict[str, list[tuple[Request, Future[list[Completion]]]]] = {}
            for item in batch:
                by_model.setdefault(item[0].meta["model"], []).append(item)
            for model, group in by_model.items():
                try:
                    with self._busy:
                        results = self.backends[model].generate([r for r, _ in group])
                except Exception as exc:  # the client gets a 500 naming it
                    for _, future in group:
                        future.set_exception(exc)
                    continue
                for (_, future), completions in zip(group, results, strict=True):
                    future.set_result(completions)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: dict[str, Any], headers=()) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: HTTPStatus, message: str, headers=()) -> None:
                kind = "invalid_request_error" if status < 500 else "server_error"
                self._send(status, {"error": {"message": message, "type": kind}}, headers)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in {"/health", "/v1/health"}:
                    self._send(HTTPStatus.OK, {"status": "ok"})
                elif self.path.rstrip("/") == "/v1/models":
                    models = [
                        {"id": name, "object": "model", "owned_by": "reasonloop"}
                        for name in server.backends
                    ]
                    self._send(HTTPStatus.OK, {"object": "list", "data": models})
                else:
                    self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")

            def _load_adapter(self, body: Any) -> None:
                name = body.get("lora_name") if isinstance(body, dict) else None
                path = body.get("lora_path") if isinstance(body, dict) else None
                if not isinstance(name, str) or not isinstance(path, str) or not name:
                    self._error(HTTPStatus.BAD_REQUEST, "lora_name and lora_path are required")
                    return
                if server.loader is None:
                    self._error(HTTPStatus.NOT_FOUND, "this server does not load LoRA adapters")
                    return
                try:
                    fresh = server.load_adapter(name, path)
                except Exception as exc:
                    self._error(HTTPStatus.BAD_REQUEST, f"cannot load adapter {path}: {exc}")
                    return
                message = f"adapter {name} loaded" if fresh else f"adapter {name} already loaded"
                self._send(HTTPStatus.OK, {"status": "ok", "message": message})

            def do_POST(self) -> None:
                path = self.path.rstrip("/")
                routes = {"/v1/chat/completions", "/v1/completions", "/v1/load_lora_adapter"}
                if path not in routes:
                    self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"null")
                except (ValueError, json.JSONDecodeError) as exc:
                    self._error(HTTPStatus.BAD_REQUEST, str(exc))
                    return
                if path == "/v1/load_lora_adapter":
                    self._load_adapter(body)
                    return
                chat = path.endswith("chat/completions")
                model = body.get("model") if isinstance(body, dict) else None
                if model is not None and model not in server.backends:
                    self._error(
                        HTTPStatus.NOT_FOUND,
                        f"the model {model!r} is not served here "
                        f"(serving: {', '.join(server.backends)})",
                    )
                    return
                scoring = isinstance(body, dict) and body.get("echo") and not chat
                if scoring and body.get("logprobs") is not None:
                    self._score(body, model)
                    return
                try:
                    request = parse_openai_request(body, chat)
                except ValueError as exc:
                    self._error(HTTPStatus.BAD_REQUEST, str(exc))
                    return
                if server._queue.qsize() >= server.max_pending:
                    self._error(
                        HTTPStatus.TOO_MANY_REQUESTS,
                        f"{server.max_pending} requests are already waiting",
                        headers=[("Retry-After", "1")],
                    )
                    return
                try:
                    completions = server.submit(request, model).result()
                except Exception as exc:
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"generation failed: {exc}")
                    return
                served = model or server.model_name
                self._send(HTTPStatus.OK, _response(served, request, completions, chat))

            def _score(self, body: dict[str, Any], model: str | None) -> None:
                try:
                    sequences = parse_score_request(body)
                    scored = server.score(sequences, model)
                except BadRequest as exc:
                    self._error(HTTPStatus.BAD_REQUEST, str(exc))
                    return
                except Exception as exc:
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"scoring failed: {exc}")
                    return
                self._send(HTTPStatus.OK, _score_response(model or server.model_name, scored))

        return Handler


def _score_response(model: str, scored: list[list[Any]]) -> dict:
    choices = [
        {
            "index": i,
            "text": "",
            "finish_reason": "length",
            "logprobs": {
                "tokens": None,
                "token_logprobs": logprobs,
                "top_logprobs": None,
                "text_offset": None,
            },
        }
        for i, logprobs in enumerate(scored)
    ]
    prompt_tokens = sum(len(lp) for lp in scored)
    return {
        "id": f"cmpl-score-{uuid.uuid4().hex[:12]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 0,
            "total_tokens": prompt_tokens,
        },
    }


def _response(model: str, request: Request, completions: list[Completion], chat: bool) -> dict:
    choices = []
    for i, c in enumerate(completions):
        choice: dict[str, Any] = {"index": i, "finish_reason": c.finish_reason or "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": c.text}
        else:
            choice["text"] = c.text
        choices.append(choice)
    prompt_tokens = completions[0].prompt_tokens if completions else 0
    completion_tokens = sum(c.completion_tokens for c in completions)
    return {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{request.id}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": completions[0].cached_tokens if completions else 0
            },
        },
    }
