"""Record a program's intermediate states per block, for in-execution debugging.

Under ``sys.settrace``, executed lines of the program's own functions are
grouped into blocks: a block is a run of consecutive source lines in one
frame, and it ends where control jumps (a loop going round, a branch skipping
lines, a call returning). After each block the frame's variables are
recorded, their values shortened. A long trace keeps its first and last
blocks and says how many were left out between them.
"""

from __future__ import annotations

import collections
import reprlib
import sys
import types
from typing import Any

__all__ = ["BlockTracer", "format_trace"]


class BlockTracer:
    """Trace calls into code compiled from ``filename`` and group lines into blocks."""

    def __init__(
        self,
        filename: str,
        source: str,
        *,
        keep_blocks: int = 6,
        max_lines: int = 20_000,
        value_chars: int = 60,
        max_variables: int = 12,
    ):
        self.filename = filename
        self.lines = source.splitlines()
        self.keep = keep_blocks
        self.max_lines = max_lines
        self.max_variables = max_variables
        short = reprlib.Repr()
        short.maxstring = short.maxother = value_chars
        short.maxlist = short.maxtuple = short.maxset = short.maxdict = 8
        short.maxlevel = 3
        self._repr = short.repr
        self.value_chars = value_chars
        self.first: list[dict[str, Any]] = []
        self.last: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_blocks)
        self.blocks = 0
        self.lines_seen = 0
        self.truncated = False
        self._open: dict[int, list[int]] = {}

    # -- tracing ---------------------------------------------------------------

    def run(self, code: types.CodeType, namespace: dict[str, Any]) -> Any:
        """Evaluate ``code`` in ``namespace`` under the tracer; return its value."""
        sys.settrace(self._global)
        try:
            return eval(code, namespace)
        finally:
            sys.settrace(None)
            for frame_id in list(self._open):
                self._close(frame_id, None, "unfinished")

    def _global(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename == self.filename:
            return self._local
        return None

    def _local(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        key = id(frame)
        if event == "line":
            self.lines_seen += 1
            if self.lines_seen > self.max_lines:
                self.truncated = True
                sys.settrace(None)
                frame.f_trace = None
                return None
            lineno = frame.f_lineno
            current = self._open.get(key)
            if current and lineno != current[-1] + 1:
                self._close(key, frame, "")
                current = None
            if current is None:
                self._open[key] = [lineno]
            else:
                current.append(lineno)
        elif event == "return":
            if key in self._open:
                self._close(key, frame, "return", returned=arg)
        elif event == "exception" and key in self._open:
            self._close(key, frame, "exception", exception=arg[0].__name__)
        return self._local

    def _close(self, key: int, frame: types.FrameType | None, how: str, **extra: Any) -> None:
        lines = self._open.pop(key, None)
        if not lines:
            return
        self.blocks += 1
        block: dict[str, Any] = {
            "index": self.blocks - 1,
            "function": frame.f_code.co_name if frame is not None else "?",
            "lines": [lines[0], lines[-1]],
            "code": [self._source(n) for n in range(lines[0], lines[-1] + 1)],
            "state": self._state(frame) if frame is not None else {},
        }
        if how:
            block["end"] = how
        if "returned" in extra:
            block["returned"] = self._safe(extra["returned"])
        if "exception" in extra:
            block["exception"] = extra["exception"]
        if len(self.first) < self.keep:
            self.first.append(block)
        else:
            self.last.append(block)

    def _source(self, lineno: int) -> str:
        return self.lines[lineno - 1].rstrip() if 0 < lineno <= len(self.lines) else ""

    def _state(self, frame: types.FrameType) -> dict[str, str]:
        state = {}
        for name, value in list(frame.f_locals.items())[: self.max_variables]:
            if name.startswith("__") or isinstance(value, (types.ModuleType, types.FunctionType)):
                continue
            state[name] = self._safe(value)
        return state

    def _safe(self, value: Any) -> str:
        try:
            text = self._repr(value)
        except BaseException:
            text = f"<{type(value).__name__}>"
        return text if len(text) <= self.value_chars else text[: self.value_chars - 3] + "..."

    # -- result ----------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The recorded blocks: the first ones, the last ones, and how many were left out."""
        kept = len(self.first) + len(self.last)
        return {
            "blocks": self.first + list(self.last),
            "omitted": self.blocks - kept,
            "first": len(self.first),
            "total_blocks": self.blocks,
            "lines_executed": self.lines_seen,
            "truncated": self.truncated,
        }


def format_trace(trace: dict[str, Any], call: str) -> str:
    """Render a trace for a prompt: each block's code and the variables after it."""
    out = [f"Execution trace of `{call}`:"]
    blocks = trace.get("blocks", [])
    for n, block in enumerate(blocks):
        if trace.get("omitted") and n == trace.get("first"):
            out.append(f"... {trace['omitted']} blocks omitted ...")
        code = "\n".join(f"    {line}" for line in block["code"])
        state = ", ".join(f"{k} = {v}" for k, v in block["state"].items()) or "(no variables)"
        start, end = block["lines"]
        out.append(
            f"[Block {block['index']}] in {block['function']}, lines {start}-{end}:\n{code}\n"
            f"  variables after: {state}"
        )
        if "returned" in block:
            out.append(f"  returns: {block['returned']}")
        if "exception" in block:
            out.append(f"  raises: {block['exception']}")
    if trace.get("truncated"):
        out.append("(the trace was cut: the program ran too many lines)")
    return "\n".join(out)
