"""After a job: kill its process group and everything it started, and reap them."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from reasonloop.execution.jobuid import kill_uid

__all__ = ["kill_job"]


def kill_job(pid: int, uid: int | None) -> dict[int, int]:
    """Kill the job's process and everything it started; return exit statuses by pid."""
    statuses: dict[int, int] = {}
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):  # already gone (or the group never formed)
            target()
    for attempt in range(2000):
        if _reap(statuses):
            return statuses
        if uid is not None:
            kill_uid(uid)
        else:
            for child in _children(os.getpid()):
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
        if attempt:
            time.sleep(min(0.0002 * attempt, 0.01))
    raise RuntimeError("processes of a job survived 2000 rounds of SIGKILL")


def _reap(statuses: dict[int, int]) -> bool:
    """Collect exited children; True when the worker has no children left at all."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False
        statuses[pid] = status


def _children(ppid: int) -> list[int]:
    """Pids whose parent is ``ppid``, from /proc (used when jobs share our uid)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            found.append(int(entry))
    return found
