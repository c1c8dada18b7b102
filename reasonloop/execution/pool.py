"""The code execution pool: long-lived workers that run untrusted programs safely.

>>> with CodeExecutionPool(workers=1) as pool:
...     pool.run(Job("def f(x):\\n    return x + 1", tests=["assert f(1) == 2"])).verdict
<Verdict.CORRECT: 'correct'>

Each worker runs one job at a time in a fresh sandboxed child (see
:mod:`reasonloop.execution.worker` and :mod:`reasonloop.execution.sandbox`).
A worker that dies or stops answering is killed and replaced, its job is
reported as ``error``, and the pool goes on serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reasonloop.core.processes import start_module
from reasonloop.core.records import Verdict
from reasonloop.execution.jobs import ExecutionResult, Job
from reasonloop.execution.limits import ExecutionLimits, SandboxOptions
from reasonloop.execution.streams import read_frame, write_frame

__all__ = ["CodeExecutionPool", "WorkerFailed", "describe_isolation"]

log = logging.getLogger("reasonloop")

#: Seconds a worker may take beyond a job's deadline to clean up and answer.
GRACE = 10.0
#: Seconds a new worker may take to start and report its isolation.
STARTUP = 30.0


def describe_isolation(isolation: dict[str, Any]) -> str:
    """One line on what the jobs get on this host (for logs and the command line)."""
    text = (
        f"network: {isolation.get('network')}, filesystem: {isolation.get('filesystem')}, "
        f"uid: {isolation.get('uid')}"
    )
    notes = isolation.get("notes") or []
    return text + (f" ({'; '.join(notes)})" if notes else "")


class WorkerFailed(RuntimeError):
    """A worker died, or did not answer in time."""


class CodeExecutionPool:
    """Run :class:`Job` s in ``workers`` sandboxed worker processes (default: one per core).

    Safe to use from several threads: each call takes an idle worker.
    :attr:`isolation` says what this host gave the jobs (network namespace or
    seccomp filter, Landlock, uid). Close it (or use it as a context manager)
    to stop the workers.
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: ExecutionLimits | None = None,
        sandbox: SandboxOptions | None = None,
    ):
        self.size = workers or os.cpu_count() or 1
        self.limits = limits or ExecutionLimits()
        self.sandbox = sandbox or SandboxOptions()
        self._idle: queue.Queue[_WorkerProcess] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._all: list[_WorkerProcess] = []
        self.replaced = 0
        starting = [_WorkerProcess(slot, self._config(slot)) for slot in range(self.size)]
        try:
            for w in starting:
                w.wait_ready()
        except BaseException:
            for w in starting:
                w.kill()
            raise
        for w in starting:
            self._all.append(w)
            self._idle.put(w)
        self.isolation: dict[str, Any] = {
            k: v for k, v in starting[0].isolation.items() if k not in ("base_dir", "worker_pid")
        }
        log.info("execution pool: %d workers; %s", self.size, describe_isolation(self.isolation))

    def _config(self, slot: int) -> dict[str, Any]:
        return {
            "slot": slot,
            "limits": self.limits.model_dump(),
            "sandbox": self.sandbox.model_dump(),
        }

    # -- running ---------------------------------------------------------------

    def run(self, job: Job) -> ExecutionResult:
        """Run one job and return the worker's account of it."""
        return self._run_wire(job, job.to_wire())

    def _run_wire(self, job: Job, wire: dict[str, Any]) -> ExecutionResult:
        timeout = job.timeout or self.limits.timeout
        worker = self._acquire()
        began = time.monotonic()
        try:
            reply = worker.ask(wire, timeout + GRACE)
        except WorkerFailed as exc:
            self._replace(worker)
            return ExecutionResult(
                verdict=Verdict.ERROR,
                reason=f"worker failed: {exc}; replaced",
                tests=len(job.tests),
                seconds=time.monotonic() - began,
            )
        self._release(worker)
        return ExecutionResult.from_wire(reply)

    def run_many(self, jobs: Sequence[Job]) -> list[ExecutionResult]:
        """Run jobs in parallel on every worker; results in the order of ``jobs``."""
        if len(jobs) <= 1:
            return [self.run(j) for j in jobs]
        wires = [j.to_wire() for j in jobs]
        with ThreadPoolExecutor(max_workers=min(self.size, len(jobs))) as ex:
            return list(ex.map(self._run_wire, jobs, wires))

    # -- workers ---------------------------------------------------------------

    def _acquire(self) -> _WorkerProcess:
        if self._closed:
            raise RuntimeError("the execution pool is closed")
        return self._idle.get()

    def _release(self, worker: _WorkerProcess) -> None:
        if self._closed:
            worker.stop()
        else:
            self._idle.put(worker)

    def _replace(self, worker: _WorkerProcess) -> None:
        worker.kill()
        with self._lock:
            self.replaced += 1
            if worker in self._all:
                self._all.remove(worker)
        if self._closed:
            return
        fresh = _WorkerProcess(worker.slot, self._config(worker.slot))
        try:
            fresh.wait_ready()
        except WorkerFailed:
            fresh.kill()
            fresh = _WorkerProcess(worker.slot, self._config(worker.slot))
            fresh.wait_ready()
        with self._lock:
            self._all.append(fresh)
        self._idle.put(fresh)

    @property
    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._all]

    @property
    def job_uids(self) -> list[int]:
        """The uid each worker's jobs run under (empty when jobs keep the caller's)."""
        with self._lock:
            return [w.isolation["job_uid"] for w in self._all if w.isolation.get("job_uid")]

    def close(self) -> None:
        """Stop every worker; idle ones now, busy ones when their job returns."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                break

    def __enter__(self) -> CodeExecutionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _WorkerProcess:
    """The pool's handle on one worker process and its framed pipes."""

    def __init__(self, slot: int, config: dict[str, Any]):
        self.slot = slot
        self.proc = start_module(
            "reasonloop.execution.worker",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        self.isolation: dict[str, Any] = {}
        write_frame(self._in, config)

    def wait_ready(self) -> None:
        reply = self._receive(STARTUP)
        if not reply.get("ready"):
            raise WorkerFailed(f"worker did not start: {reply.get('error', reply)}")
        self.isolation = reply["isolation"]

    def ask(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            write_frame(self._in, job)
        except OSError as exc:
            raise WorkerFailed(f"cannot send the job: {exc}") from None
        return self._receive(timeout)

    def _receive(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            raise WorkerFailed(f"no answer within {timeout:g} s")
        try:
            reply = read_frame(self._out)
        except (OSError, ValueError) as exc:
            raise WorkerFailed(f"broken answer: {exc}") from None
        if reply is None:
            code = self.proc.poll()
            raise WorkerFailed(f"the worker exited ({code})")
        return reply

    def stop(self) -> None:
        """Close its stdin (it exits after cleaning up) and wait a little, then kill."""
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        finally:
            self.proc.stdout.close()  # type: ignore[union-attr]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
