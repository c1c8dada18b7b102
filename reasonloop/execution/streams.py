"""Bytes between processes: the pool's framed JSON, and a job's output and markers."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

__all__ = ["MarkerReader", "OutputCapture", "read_frame", "write_frame"]

_MARKER_LIMIT = 4 * 1024 * 1024
_HEADER = struct.Struct(">I")


def write_frame(fd: int, data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd: int) -> dict[str, Any] | None:
    """Read one frame; ``None`` at end of file."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class OutputCapture:
    """Keeps the head and tail of a stream and counts the rest, in bounded memory."""

    def __init__(self, kept: int):
        self.head_limit = kept // 4
        self.tail_limit = kept - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data[-self.tail_limit :]
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {skipped} bytes left out ...]\n".encode() if skipped > 0 else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", "replace")


class MarkerReader:
    """Parses the harness's marker lines; lines without the nonce are counted, not read."""

    def __init__(self, nonce: str):
        self.prefix = nonce.encode() + b" "
        self.buffer = bytearray()
        self.total = 0
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.forged = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > _MARKER_LIMIT:
            return
        self.buffer += data
        *lines, rest = bytes(self.buffer).split(b"\n")
        self.buffer = bytearray(rest)
        for line in lines:
            if not line.startswith(self.prefix):
                self.forged += 1
                continue
            kind, _, payload = line[len(self.prefix) :].partition(b" ")
            try:
                self.records.append((kind.decode(), json.loads(payload)))
            except ValueError:
                self.forged += 1
