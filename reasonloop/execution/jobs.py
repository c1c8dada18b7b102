"""What the pool runs (a :class:`Job`) and what it reports (an :class:`ExecutionResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from reasonloop.core.records import Verdict
from reasonloop.execution.harness import prepare_test

__all__ = ["ExecutionResult", "Job"]


@dataclass
class Job:
    """A program, and the tests run after it in the same namespace.

    Each test is a piece of Python source; it passes when it runs without
    raising. ``setup`` runs between the program and the tests (HumanEval's
    ``check`` function is defined there). With ``trace_call`` the job runs
    that expression under the block tracer instead of tests.
    """

    program: str
    tests: list[str] = field(default_factory=list)
    setup: str = ""
    #: Run every test even after one fails (self-debugging wants them all).
    all_tests: bool = False
    #: Wall-clock seconds for this job; ``None`` uses the pool's limit.
    timeout: float | None = None
    trace_call: str | None = None
    trace_options: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The job as the worker receives it; ``assert A == B`` tests keep A and B."""
        wire: dict[str, Any] = {
            "program": self.program,
            "setup": self.setup,
            "tests": [prepare_test(t)[0] for t in self.tests],
            "all_tests": self.all_tests,
        }
        if self.timeout is not None:
            wire["timeout"] = self.timeout
        if self.trace_call is not None:
            wire["trace"] = {"call": self.trace_call, "options": self.trace_options}
        return wire


@dataclass
class ExecutionResult:
    """The worker's account of one job: verdict, reason and evidence.

    ``correct``: the end marker arrived and every test passed; ``wrong``: the
    program failed to load, a test failed, the output went over its limit,
    or the process ended before the end marker; ``timeout``: the wall-clock
    deadline or the CPU limit was hit first; ``error``: the sandbox or the
    worker failed, so nothing can be said about the program.
    """

    verdict: Verdict
    reason: str = ""
    tests: int = 0
    passed: list[int] = field(default_factory=list)
    #: One record per failed test: ``test`` (index), ``exception``, ``frames``,
    #: and ``actual`` / ``expected`` for ``assert A == B`` tests.
    failures: list[dict[str, Any]] = field(default_factory=list)
    load_error: dict[str, Any] | None = None
    trace: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    output_bytes: int = 0
    seconds: float = 0.0
    #: How the job's process ended: ``status N``, ``signal N`` or ``killed``.
    exit: str = ""
    #: Lines on the marker pipe that did not carry the nonce (forgery attempts).
    forged_markers: int = 0

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.CORRECT

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ExecutionResult:
        return cls(**{**data, "verdict": Verdict(data["verdict"])})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict.value}

    def evidence(self, tests: list[str] | None = None, tail: int = 600) -> dict[str, Any]:
        """A compact account for a sample's ``evidence``: reason, failing test, output tail."""
        out: dict[str, Any] = {"reason": self.reason, "seconds": round(self.seconds, 4)}
        if self.tests:
            out["tests_passed"] = f"{len(self.passed)}/{self.tests}"
        if self.failures:
            first = self.failures[0]
            out["failing_test"] = first["test"]
            if tests is not None and 0 <= first["test"] < len(tests):
                out["test_source"] = tests[first["test"]][-tail:]
            out["exception"] = first.get("exception", "")
            for key in ("actual", "expected"):
                if key in first:
                    out[key] = first[key]
        if self.load_error:
            out["exception"] = self.load_error.get("exception", "")
        if self.exit:
            out["exit"] = self.exit
        if self.stdout:
            out["stdout_tail"] = self.stdout[-tail:]
        if self.stderr:
            out["stderr_tail"] = self.stderr[-tail:]
        return out
