"""The code verifier: extract a program from a completion and run its tests in the pool.

A completion may hold the program inside a markdown fence (the python block
that defines the entry point wins) or be plain code. With a HumanEval-style
problem (a prompt that is a function signature and docstring, and an entry
point), a completion that defines the entry point is run after the prompt
(so the prompt's imports and helpers exist), and one that does not is taken
as the continuation of the prompt.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

from reasonloop.core.records import Problem, Verdict
from reasonloop.execution import CodeExecutionPool, ExecutionLimits, Job, SandboxOptions
from reasonloop.verifiers.base import VerifyResult

__all__ = [
    "CodeVerifier",
    "CodeVerifierOptions",
    "build_program",
    "extract_code",
    "job_for",
    "split_tests",
]

_FENCE = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The program in ``text``: a fenced python block (preferring one that
    defines ``entry_point``; an unclosed fence runs to the end), else the text."""
    blocks = [body for tag, body in _FENCE.findall(text) if tag.lower() in _PYTHON_TAGS]
    if not blocks:
        return text
    if entry_point:
        defining = [b for b in blocks if _defines(b, entry_point)]
        if defining:
            return defining[0]
    return blocks[0]


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def build_program(
    completion: str, prompt: str | None = None, entry_point: str | None = None
) -> str:
    """The program to run for a completion (see the module docstring)."""
    code = extract_code(completion, entry_point)
    if not prompt or not entry_point:
        return code
    if _defines(code, entry_point):
        return f"{_prompt_header(prompt)}\n\n{code}\n"
    return prompt + code


def _prompt_header(prompt: str) -> str:
    """The prompt itself when it is a valid module (its helpers stay), else its imports."""
    try:
        ast.parse(prompt)
        return prompt
    except SyntaxError:
        lines = prompt.splitlines()
        return "\n".join(ln for ln in lines if re.match(r"\s*(import|from)\s", ln))


def split_tests(source: str) -> list[str]:
    """Split test code into tests: each top-level ``assert`` ends one.

    Statements before an assert (imports, helpers, set-up) belong to the
    test that follows them; statements after the last assert join it.
    Source that does not parse is one test (it fails, and says why).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [source]
    tests: list[str] = []
    pending: list[str] = []
    for node in tree.body:
        pending.append(ast.get_source_segment(source, node) or ast.unparse(node))
        if isinstance(node, ast.Assert):
            tests.append("\n".join(pending))
            pending = []
    if pending:
        if tests:
            tests[-1] += "\n" + "\n".join(pending)
        else:
            tests.append("\n".join(pending))
    return tests


def job_for(problem: Problem, text: str, timeout: float | None = None) -> tuple[Job, str] | None:
    """The job that checks ``text`` against ``problem``'s tests, and the code it extracted.

    ``None`` when the problem has no tests.
    """
    ref = problem.reference
    if ref is None or not ref.tests:
        return None
    entry = ref.entry_point or problem.metadata.get("entry_point")
    code = extract_code(text, entry)
    program = build_program(text, problem.prompt if entry else None, entry)
    if ref.entry_point:
        job = Job(program, tests=[f"check({ref.entry_point})"], setup=ref.tests, timeout=timeout)
    else:
        job = Job(program, tests=split_tests(ref.tests), timeout=timeout)
    return job, code


class CodeVerifierOptions(ExecutionLimits):
    """Options of the ``code`` verifier: the pool's limits, worker count and sandbox."""

    #: Worker processes (default: one per core).
    workers: int | None = None
    sandbox: SandboxOptions = SandboxOptions()


class CodeVerifier:
    """Runs each program with its problem's tests in a :class:`CodeExecutionPool`."""

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = CodeVerifierOptions(**(options or {}))
        self._pool: CodeExecutionPool | None = None

    @property
    def pool(self) -> CodeExecutionPool:
        if self._pool is None:
            limits = ExecutionLimits(**self.options.model_dump(exclude={"workers", "sandbox"}))
            self._pool = CodeExecutionPool(self.options.workers, limits, self.options.sandbox)
        return self._pool

    @property
    def started_pool(self) -> CodeExecutionPool | None:
        """The pool, if a verification has started it."""
        return self._pool

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[VerifyResult]:
        results: list[VerifyResult | None] = [None] * len(items)
        jobs: list[Job] = []
        where: list[tuple[int, str]] = []
        for i, (problem, text) in enumerate(items):
            built = job_for(problem, text)
            if built is None:
                results[i] = VerifyResult(
                    verdict=Verdict.ERROR, evidence={"reason": "the problem has no tests"}
                )
                continue
            jobs.append(built[0])
            where.append((i, built[1]))
        for (i, code), job, res in zip(where, jobs, self.pool.run_many(jobs), strict=True):
            results[i] = VerifyResult(
                verdict=res.verdict, extracted=code, evidence=res.evidence(job.tests)
            )
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
