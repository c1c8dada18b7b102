"""The verdict on a job, from what the worker observed (never from what was printed)."""

from __future__ import annotations

import os
import signal
from typing import Any

__all__ = ["judge"]


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


def judge(job: dict[str, Any], seen: dict[str, Any], seconds: float) -> dict[str, Any]:
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
