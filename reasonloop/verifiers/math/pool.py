"""Run the symbolic check in subprocesses that are killed when they overrun.

``simplify`` cannot be interrupted inside a thread, and ``signal.alarm`` only
works in the main thread, so the check runs in a persistent worker process
that is killed and replaced when a pair takes longer than the timeout. This
bounds the cost of one bad input from any thread or process. Each caller
takes an idle worker (or starts one), so concurrent callers never queue.

Each worker runs :mod:`~reasonloop.verifiers.math.worker`, which reads one
JSON request per line on stdin and writes one reply per line.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import threading

from reasonloop.core.processes import start_module
from reasonloop.verifiers.math.tree import LimitExceeded

__all__ = ["STARTUP_TIMEOUT", "SymbolicPool", "SymbolicTimeout"]

#: Starting a worker (importing sympy) is not charged to the pair that needs it.
STARTUP_TIMEOUT = 60.0


class SymbolicTimeout(Exception):
    """The symbolic check did not finish within the timeout."""


class SymbolicPool:
    """Worker processes for the symbolic check, each call bounded by ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    def check(self, gold: str, pred: str) -> bool:
        """Return whether the cleaned answers ``pred`` and ``gold`` are symbolically equal.

        Raises :class:`SymbolicTimeout` when the check overruns and
        :class:`LimitExceeded` when the answer is too large to build.
        """
        worker = self._acquire()
        try:
            reply = worker.ask({"gold": gold, "pred": pred}, self.timeout)
        except BaseException:
            worker.kill()
            if not self._closed:
                self._release(_Worker())  # a warm replacement for the next caller
            raise
        self._release(worker)
        if "limit" in reply:
            raise LimitExceeded(reply["limit"])
        if "error" in reply:
            raise RuntimeError(f"symbolic check failed: {reply['error']}")
        return bool(reply["equal"])

    def close(self) -> None:
        """Stop every idle worker; busy ones stop when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            if self._pid != os.getpid():
                # A forked copy: the parent's workers are not ours to use or stop.
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return _Worker()

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed and self._pid == os.getpid():
                self._idle.append(worker)
                return
        worker.kill()


class _Worker:
    """One worker process, with a thread that reads its replies."""

    def __init__(self) -> None:
        self.proc = start_module(
            "reasonloop.verifiers.math.worker",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.replies: queue.Queue[str | None] = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # The reader owns stdout: it closes it at end of file, after a kill too.
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.replies.put(line)
        self.replies.put(None)

    def _reply(self, timeout: float) -> dict:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise SymbolicTimeout(f"no answer within {timeout:g} s") from None
        if line is None:
            raise RuntimeError("the symbolic worker exited")
        return json.loads(line)

    def ask(self, request: dict, timeout: float) -> dict:
        if not self.ready:
            self._reply(STARTUP_TIMEOUT)
            self.ready = True
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # unsent input to a dead process
                self.proc.stdin.close()
