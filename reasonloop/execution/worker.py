"""A long-lived worker: runs one job at a time, each in a fresh sandboxed child.

Started by :class:`~reasonloop.execution.pool.CodeExecutionPool` as
``python -m reasonloop.execution.worker``; it reads length-prefixed JSON
frames on stdin (first its configuration, then one job per frame) and
answers each with one frame on stdout. It exits when stdin closes.

Per job it forks a child that enters the sandbox (:mod:`.sandbox`) and runs
the harness; the worker watches the child's stdout, stderr and marker pipe
until the child exits or the deadline passes, then kills the child's process
group and every process the job left (by uid when it has one, else every
descendant: the worker is a child subreaper, so daemons that double-fork
stay its descendants), removes the job's directory, and reports what it saw.
"""

from __future__ import annotations

import errno
import gc
import os
import select
import shutil
import signal
import sys
import time
from typing import Any

from reasonloop.execution import sandbox
from reasonloop.execution.jobuid import kill_uid
from reasonloop.execution.limits import ExecutionLimits, SandboxOptions
from reasonloop.execution.reaping import kill_job
from reasonloop.execution.streams import MarkerReader, OutputCapture, read_frame, write_frame
from reasonloop.execution.verdicts import judge

__all__ = ["Worker", "main"]

#: Modules imported once in the worker so that every job's child has them for free.
PRELOAD = (
    "bisect",
    "collections",
    "copy",
    "dataclasses",
    "decimal",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "typing",
)


class Worker:
    """One worker's state: its slot, limits, isolation and job directory."""

    def __init__(self, config: dict[str, Any]):
        self.slot = int(config["slot"])
        self.limits = ExecutionLimits(**config.get("limits", {}))
        self.options = SandboxOptions(**config.get("sandbox", {}))
        self.isolation = sandbox.prepare_worker(self.options, self.slot)
        self.uid = self.isolation.get("job_uid")
        self.base = self.isolation["base_dir"]
        self.jobs = 0
        if self.uid is not None:
            kill_uid(self.uid)  # whatever a dead worker that held this uid left
        for name in PRELOAD:
            __import__(name)
        # A job's process starts from a copy of the worker; keep that copy cheap:
        # a minimal environment (fewer variables to replace per job) and every
        # object moved out of the collector's reach, so that a collection in
        # the job does not touch (and copy) the worker's pages.
        os.environ.clear()
        os.environ.update(sandbox.BASE_ENVIRONMENT)
        gc.collect()
        gc.freeze()

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        began = time.monotonic()
        self.jobs += 1
        timeout = float(job.get("timeout") or self.limits.timeout)
        jobdir = os.path.join(self.base, f"job-{self.jobs}")
        os.mkdir(jobdir, 0o700)
        if self.uid is not None:
            os.chown(jobdir, self.uid, self.uid)
        nonce = os.urandom(16).hex()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mark_r, mark_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            for fd in (out_r, out_w, err_r, err_w, mark_r, mark_w):
                os.close(fd)
            _remove_tree(jobdir)
            raise
        if pid == 0:  # the job's process: never returns
            sandbox.enter_job(
                job, nonce, (out_w, err_w, mark_w), jobdir, self.limits, self.isolation, timeout
            )
        for fd in (out_w, err_w, mark_w):
            os.close(fd)
        try:
            try:
                seen = self._watch(pid, began + timeout, out_r, err_r, mark_r, nonce)
            finally:
                statuses = kill_job(pid, self.uid)
            _finish_reading(seen, self.limits.output_limit)
        finally:
            for fd in (out_r, err_r, mark_r):
                os.close(fd)
            _remove_tree(jobdir)
        seen["status"] = statuses.get(pid)
        return judge(job, seen, time.monotonic() - began)

    def _watch(
        self, pid: int, deadline: float, out_r: int, err_r: int, mark_r: int, nonce: str
    ) -> dict[str, Any]:
        kept = self.limits.output_kept
        sinks: dict[int, Any] = {
            out_r: OutputCapture(kept),
            err_r: OutputCapture(kept),
            mark_r: MarkerReader(nonce),
        }
        poller = select.poll()
        for fd in sinks:
            poller.register(fd, select.POLLIN)
        try:
            pidfd = os.pidfd_open(pid)
            poller.register(pidfd, select.POLLIN)
        except (AttributeError, OSError):
            pidfd = None  # no pidfd: poll in short slices and ask waitpid
        seen: dict[str, Any] = {"timed_out": False, "over_output": False}
        open_fds = set(sinks)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen["timed_out"] = True
                    break
                wait = remaining if pidfd is not None else min(remaining, 0.005)
                events = poller.poll(max(1, int(wait * 1000)))
                exited = False
                for fd, _ in events:
                    if fd == pidfd:
                        exited = True
                    elif fd in open_fds and not _drain_once(fd, sinks[fd]):
                        poller.unregister(fd)
                        open_fds.discard(fd)
                if pidfd is None and not events:
                    exited = _has_exited(pid)
                output = sinks[out_r].total + sinks[err_r].total
                if output > self.limits.output_limit:
                    seen["over_output"] = True
                    break
                if exited:
                    break
        finally:
            if pidfd is not None:
                os.close(pidfd)
        seen["sinks"] = sinks
        seen["open"] = open_fds
        return seen


def _drain_once(fd: int, sink: Any) -> bool:
    try:
        data = os.read(fd, 65536)
    except OSError as exc:
        return exc.errno == errno.EAGAIN
    if not data:
        return False
    sink.feed(data)
    return True


def _has_exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _finish_reading(seen: dict[str, Any], limit: int) -> None:
    """After every writer is dead: read what is left in the pipes, up to ``limit`` bytes."""
    sinks = seen["sinks"]
    for fd in list(seen["open"]):
        read = 0
        os.set_blocking(fd, False)
        while read < limit:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            read += len(data)
            sinks[fd].feed(data)


def _remove_tree(path: str) -> None:
    def unlock(func: Any, target: str, _exc: Any) -> None:
        # The job may have made its own directories unwritable (or removed them).
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=unlock)


def main() -> None:
    """Serve jobs on stdin/stdout until stdin closes."""
    # Keep the protocol on private descriptors; 0 and 1 become /dev/null so
    # nothing the worker or a job inherits can write into the protocol.
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the pool's process
    config = read_frame(proto_in)
    if config is None:
        return
    try:
        worker = Worker(config)
    except Exception as exc:
        write_frame(proto_out, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    write_frame(proto_out, {"ready": True, "isolation": worker.isolation, "pid": os.getpid()})
    try:
        while True:
            job = read_frame(proto_in)
            if job is None:
                break
            try:
                reply = worker.run(job)
            except Exception as exc:
                reply = {"verdict": "error", "reason": f"worker: {type(exc).__name__}: {exc}"}
            write_frame(proto_out, reply)
    finally:
        _remove_tree(worker.base)


if __name__ == "__main__":
    sys.exit(main())
