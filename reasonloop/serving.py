"""``reasonloop serve``: any backend behind an OpenAI-compatible HTTP API.

One model process can then serve several runs, notebooks or machines, and
the ``openai`` backend talks to it like to any other server. Concurrent HTTP
requests are collected for a short window into one batched
``backend.generate`` call, so the CPU default keeps its batching when
clients send one request at a time.

Endpoints: ``POST /v1/chat/completions`` (messages; a final assistant message
with ``continue_final_message`` is continued, as vLLM does),
``POST /v1/completions`` (raw text prompt), ``GET /v1/models``,
``GET /health``. More than ``max_pending`` waiting requests get
``429 Too Many Requests`` with ``Retry-After``, so clients back off instead
of queueing without bound.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from reasonloop.core.records import Completion, Message, Request, SamplingParams

__all__ = ["ModelServer", "parse_openai_request"]


class BadRequest(ValueError):
    """The client's JSON does not make a valid request (HTTP 400)."""


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
    ):
        self.backend = backend
        self.model_name = model_name
        self.max_batch = max_batch
        self.window = window
        self.max_pending = max_pending
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

    def submit(self, request: Request) -> Future[list[Completion]]:
        future: Future[list[Completion]] = Future()
        self._queue.put((request, future))
        return future

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
            try:
                results = self.backend.generate([r for r, _ in batch])
            except Exception as exc:  # the client gets a 500 naming it
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), completions in zip(batch, results, strict=True):
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
                    model = {"id": server.model_name, "object": "model", "owned_by": "reasonloop"}
                    self._send(HTTPStatus.OK, {"object": "list", "data": [model]})
                else:
                    self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")

            def do_POST(self) -> None:
                path = self.path.rstrip("/")
                if path not in {"/v1/chat/completions", "/v1/completions"}:
                    self._error(HTTPStatus.NOT_FOUND, f"no route {self.path}")
                    return
                chat = path.endswith("chat/completions")
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length) or b"null")
                    request = parse_openai_request(body, chat)
                except (ValueError, json.JSONDecodeError) as exc:
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
                    completions = server.submit(request).result()
                except Exception as exc:
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"generation failed: {exc}")
                    return
                self._send(HTTPStatus.OK, _response(server.model_name, request, completions, chat))

        return Handler


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
