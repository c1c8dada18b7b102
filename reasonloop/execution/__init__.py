"""Run untrusted programs: a pool of sandboxed workers, jobs, results and traces.

See docs/execution.md for what each host gets (network namespace or seccomp
filter, Landlock, per-job uid), the limits and the verdicts.
"""

from __future__ import annotations

from reasonloop.execution.jobs import ExecutionResult, Job
from reasonloop.execution.limits import ExecutionLimits, SandboxOptions
from reasonloop.execution.pool import CodeExecutionPool, WorkerFailed

__all__ = [
    "CodeExecutionPool",
    "ExecutionLimits",
    "ExecutionResult",
    "Job",
    "SandboxOptions",
    "WorkerFailed",
]
