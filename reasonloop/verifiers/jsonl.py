"""``reasonloop verify``: verdicts for a JSON-lines file of completions."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from reasonloop.core.records import Problem, Reference, Verdict
from reasonloop.errors import UsageError

__all__ = ["verify_file"]

REQUIRED = {"math": ("id", "completion", "answer"), "code": ("id", "completion")}


def verify_file(
    path: Path,
    domain: str,
    output: Path | None,
    console: Console,
    options: dict[str, Any] | None = None,
) -> Counter[str]:
    """Verify every row of ``path``; write result rows to ``output`` or stdout.

    ``options`` are the verifier's options (for math, ``gold_format``).

    Math rows need ``id``, ``completion`` and ``answer``. Code rows need
    ``id``, ``completion`` and either ``tests`` (asserts run after the
    program) or HumanEval's ``test`` and ``entry_point`` (``prompt`` too when
    completions continue it); their result rows add ``evidence``. A
    malformed line is reported with its line number and gets an ``error``
    row when it has an id; every other row still gets its verdict.
    """
    if domain not in REQUIRED:
        raise UsageError(f"--domain {domain!r}: supported domains: {', '.join(REQUIRED)}")
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    items: list[tuple[int, dict[str, Any]]] = []
    results: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row: Any = None
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            missing = [k for k in REQUIRED[domain] if k not in row]
            if (
                domain == "code"
                and "tests" not in row
                and not ("test" in row and "entry_point" in row)
            ):
                missing.append("tests (or test and entry_point)")
            if missing:
                raise ValueError(f"missing field(s) {', '.join(missing)}")
        except ValueError as exc:
            console.print(f"[red]{path}:{number}:[/red] {exc}")
            row_id = row.get("id") if isinstance(row, dict) else None
            results[number] = {
                "id": row_id,
                "correct": False,
                "verdict": "error",
                "extracted": None,
                "error": f"line {number}: {exc}",
            }
            continue
        items.append((number, row))
    verifier = _verifier(domain, options or {})
    try:
        checked = verifier.verify([(_problem(domain, r), str(r["completion"])) for _, r in items])
        pool = getattr(verifier, "started_pool", None)
        if pool is not None:
            from reasonloop.execution.pool import describe_isolation

            console.print(f"sandbox: {describe_isolation(pool.isolation)}", soft_wrap=True)
    finally:
        verifier.close()
    for (number, row), res in zip(items, checked, strict=True):
        results[number] = {
            "id": row["id"],
            "correct": res.verdict == Verdict.CORRECT,
            "verdict": res.verdict.value,
            "extracted": res.extracted,
        }
        if domain == "code":
            results[number]["evidence"] = res.evidence
    text = "".join(json.dumps(results[n]) + "\n" for n in sorted(results))
    if output is None:
        sys.stdout.write(text)
    else:
        from reasonloop.core.rundir import atomic_write_text

        atomic_write_text(output, text)
    return Counter(r["verdict"] for r in results.values())


def _verifier(domain: str, options: dict[str, Any]) -> Any:
    if domain == "code":
        from reasonloop.verifiers.code import CodeVerifier

        return CodeVerifier()
    from reasonloop.plugins.verifiers import MathAnswerVerifier

    return MathAnswerVerifier(options)


def _problem(domain: str, row: dict[str, Any]) -> Problem:
    if domain == "math":
        return Problem(id=str(row["id"]), prompt="", reference=Reference(answer=str(row["answer"])))
    if "tests" in row:
        reference = Reference(tests=str(row["tests"]), entry_point=None)
    else:
        reference = Reference(tests=str(row["test"]), entry_point=str(row["entry_point"]))
    return Problem(
        id=str(row["id"]),
        domain="code",
        prompt=str(row.get("prompt") or ""),
        reference=reference,
        metadata={"entry_point": row["entry_point"]} if "entry_point" in row else {},
    )
