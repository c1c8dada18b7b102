"""Pools shared by the execution tests, and a check that jobs leave no process behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reasonloop.execution import CodeExecutionPool, ExecutionLimits, SandboxOptions

LIMITS = ExecutionLimits(timeout=1.0, memory_mb=256, processes=16, output_limit=8 * 1024 * 1024)


def processes_of_uids(uids: set[int]) -> list[int]:
    """Live (non-zombie) processes whose real uid is in ``uids``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "-1").split()[0])
        if uid in uids and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(entry))
    return found


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` in the process tree."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields and fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture
def descendants():
    """``descendants(pid)``: every live process below ``pid``."""
    return _descendants


@pytest.fixture(scope="session")
def pool():
    with CodeExecutionPool(workers=2, limits=LIMITS) as p:
        yield p


@pytest.fixture
def clean_pool(pool):
    """The shared pool; after the test, no job process may be alive."""
    yield pool
    if pool.job_uids:
        assert processes_of_uids(set(pool.job_uids)) == []
    for worker in pool.worker_pids:
        assert _descendants(worker) == [], "a job left processes behind"


@pytest.fixture
def killable_pool():
    """A pool whose jobs keep the caller's uid and no Landlock: a job can kill its worker."""
    sandbox = SandboxOptions(uid_base=None, filesystem="none")
    with CodeExecutionPool(workers=1, limits=LIMITS, sandbox=sandbox) as p:
        yield p
