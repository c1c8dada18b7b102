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
import json
import os
import select
import shutil
import signal
import struct
import sys
import time
from typing import Any

from reasonloop.execution import sandbox
from reasonloop.execution.limits import ExecutionLimits, SandboxOptions

__all__ = ["main", "read_frame", "write_frame"]

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


class _Capture:
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


class _Markers:
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
            sandbox.kill_uid(self.uid)  # whatever a dead worker that held this uid left
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
        pid = os.fork()
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
                statuses = sandbox.kill_job(pid, self.uid)
            _finish_reading(seen, self.limits.output_limit)
        finally:
            for fd in (out_r, err_r, mark_r):
                os.close(fd)
            _remove_tree(jobdir)
        seen["status"] = statuses.get(pid)
        return _judge(job, seen, time.monotonic() - began)

    def _watch(
        self, pid: int, deadline: float, out_r: int, err_r: int, mark_r: int, nonce: str
    ) -> dict[str, Any]:
        kept = self.limits.output_kept
        sinks: dict[int, Any] = {
            out_r: _Capture(kept),
            err_r: _Capture(kept),
            mark_r: _Markers(nonce),
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


def _describe_status(status: int | None) -> str:
    if status is None:
        return "killed"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"signal {sig} ({signal.Signals(sig).name})"
        except ValueError:
            return f"signal {sig}"
    return f"status {os.WEXITSTATUS(status)}"


def _judge(job: dict[str, Any], seen: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Decide the verdict from what the worker observed, never from what was printed."""
    sinks = list(seen["sinks"].values())
    out, err, markers = sinks
    records = markers.records
    tests = len(job.get("tests") or [])
    passed = sorted({r["test"] for k, r in records if k == "P"})
    failures = [r for k, r in records if k == "F"][:50]
    load = next((r for k, r in records if k == "L"), None)
    setup_error = next((r for k, r in records if k == "X"), None)
    trace = next((r for k, r in records if k == "T"), None)
    ended = any(k == "E" for k, _ in records)
    status = seen.get("status")
    exit_text = _describe_status(status)
    cpu_signal = (
        status is not None and os.WIFSIGNALED(status) and (os.WTERMSIG(status) == signal.SIGXCPU)
    )
    if setup_error is not None:
        verdict, reason = "error", f"sandbox setup failed: {setup_error.get('error', '?')}"
    elif load is not None:
        verdict, reason = "wrong", "the program failed to run"
    elif failures:
        verdict, reason = "wrong", f"test {failures[0]['test']} failed"
    elif ended and passed == list(range(tests)):
        verdict, reason = "correct", f"all {tests} tests passed"
    elif seen["over_output"]:
        verdict, reason = "wrong", "output over the limit"
    elif seen["timed_out"]:
        verdict, reason = "timeout", "wall-clock deadline"
    elif cpu_signal:
        verdict, reason = "timeout", "CPU time limit"
    else:
        verdict, reason = "wrong", f"exited ({exit_text}) before the tests finished"
    return {
        "verdict": verdict,
        "reason": reason,
        "tests": tests,
        "passed": passed,
        "failures": failures,
        "load_error": load,
        "trace": trace,
        "stdout": out.text(),
        "stderr": err.text(),
        "output_bytes": out.total + err.total,
        "seconds": seconds,
        "exit": "killed at the deadline" if seen["timed_out"] else exit_text,
        "forged_markers": markers.forged,
    }


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
