"""Self-debugging's texts: the test-writing prompt, test parsing, and the feedback turns."""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from reasonloop.execution import ExecutionResult
from reasonloop.execution.tracing import format_trace

__all__ = [
    "call_in_test",
    "debug_in_message",
    "debug_post_message",
    "entry_point_of",
    "parse_tests",
    "pick",
    "revise_after_verdicts_message",
    "write_tests_prompt",
]

REVISE = "Fix the function. Reply with the whole corrected function in one ```python code block."

T = TypeVar("T")


def pick(items: Sequence[T], key: str) -> T:
    """One of ``items``, drawn at random but fixed by ``key`` (a sample id): reruns agree."""
    digest = hashlib.sha256(key.encode()).digest()
    return items[int.from_bytes(digest[:8], "big") % len(items)]


def entry_point_of(prompt: str, metadata: dict[str, Any]) -> str | None:
    """The function the tests call: from metadata, else the prompt's last ``def``."""
    if metadata.get("entry_point"):
        return str(metadata["entry_point"])
    names = re.findall(r"^\s*def\s+(\w+)\s*\(", prompt, re.M)
    return names[-1] if names else None


def write_tests_prompt(prompt: str, entry_point: str, k: int) -> str:
    """Ask for ``k`` asserts from the description alone."""
    return (
        f"Here is a Python function to be written:\n\n```python\n{prompt.rstrip()}\n```\n\n"
        f"Write {k} different tests for `{entry_point}` as assert statements, one per line, "
        f"each of the form `assert {entry_point}(...) == ...`, with inputs and the outputs "
        "the description asks for. Do not write the function. Reply with the asserts in "
        "one ```python code block."
    )


def parse_tests(text: str, entry_point: str, k: int) -> list[str]:
    """The first ``k`` distinct one-line asserts that parse and call ``entry_point``.

    Asserts are taken from anywhere in the reply (every code block, an
    indented assert in a function body, a line of prose), in order.
    """
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("assert ") or line in found:
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        node = tree.body[0] if len(tree.body) == 1 else None
        if isinstance(node, ast.Assert) and call_in_test(line, entry_point) is not None:
            found.append(line)
        if len(found) == k:
            break
    return found


def call_in_test(test: str, entry_point: str) -> str | None:
    """The source of the first call to ``entry_point`` in ``test`` (the test's input)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == entry_point
        ):
            return ast.unparse(node)
    return None


def debug_post_message(
    tests: list[str], result: ExecutionResult, feedback: str, shown: str = "all", key: str = ""
) -> str:
    """Post-execution feedback: which self-generated tests failed (and, in detail, how).

    ``shown="one"`` shows one failing test, drawn by :func:`pick` with ``key``
    (the paper's feedback is one failed test); ``"all"`` lists every failure.
    """
    failed = {f["test"]: f for f in result.failures}
    if result.load_error is not None:
        exc = result.load_error.get("exception", "an error")
        head = (
            f"Your code does not run: {exc}." if feedback == "detail" else "Your code does not run."
        )
        return f"{head}\n{REVISE}"
    if result.verdict.value == "timeout" and not failed:
        return f"Your code did not finish within the time limit on the tests.\n{REVISE}"
    chosen = sorted(failed)
    if shown == "one" and chosen:
        chosen = [pick(chosen, key)]
        lines = ["Your code fails this test:"]
    else:
        lines = [f"Your code fails {len(failed)} of {len(tests)} tests:"]
    for i in chosen:
        record = failed[i]
        lines.append(tests[i] if i < len(tests) else f"test {i}")
        if feedback == "label":
            continue
        if "actual" in record:
            lines.append(f"  expected: {record.get('expected')}\n  got: {record['actual']}")
        else:
            where = record.get("frames") or []
            at = f" (line {where[-1]['line']}: {where[-1]['code']})" if where else ""
            lines.append(f"  raised: {record.get('exception')}{at}")
    return "\n".join(lines) + f"\n{REVISE}"


def debug_in_message(call: str, result: ExecutionResult) -> str:
    """In-execution feedback: the trace on one input, and the request to judge each block.

    It shows no expected output and no pass/fail verdict; a program that does
    not run gets the error and the request to fix it instead.
    """
    if result.trace is None:
        exc = (result.load_error or {}).get("exception", "")
        return f"Your code does not run: {exc}.\n{REVISE}"
    if not result.trace.get("blocks"):
        exc = result.trace.get("exception", "no line of the function ran")
        return f"Your code does not run on `{call}`: {exc}.\n{REVISE}"
    trace = format_trace(result.trace, call)
    ending = ""
    if "returned" in result.trace:
        ending = f"\n`{call}` returned {result.trace['returned']}."
    elif "exception" in result.trace:
        ending = f"\n`{call}` raised {result.trace['exception']}."
    return (
        f"Here is how your function runs on `{call}`, block by block, with the variables "
        f"after each block.\n\n{trace}{ending}\n\n"
        "Go through the blocks in order and judge each one against the task: does it do "
        "what the task asks? Answer with one line per block, `[Block N]: correct` or "
        "`[Block N]: wrong`, then why. Do not write code yet."
    )


def revise_after_verdicts_message() -> str:
    """The turn after the model judged a trace's blocks: fix what it found wrong."""
    return (
        "Now fix the function where you found it wrong. Reply with the whole corrected "
        "function in one ```python code block."
    )
