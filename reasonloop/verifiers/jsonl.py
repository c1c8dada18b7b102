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

REQUIRED = {"math": ("id", "completion", "answer")}


def verify_file(path: Path, domain: str, output: Path | None, console: Console) -> Counter[str]:
    """Verify every row of ``path``; write result rows to ``output`` or stdout.

    A malformed line is reported with its line number and gets an ``error``
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
    from reasonloop.plugins.verifiers import MathAnswerVerifier

    verifier = MathAnswerVerifier({})
    try:
        checked = verifier.verify(
            [
                (
                    Problem(
                        id=str(r["id"]), prompt="", reference=Reference(answer=str(r["answer"]))
                    ),
                    str(r["completion"]),
                )
                for _, r in items
            ]
        )
    finally:
        verifier.close()
    for (number, row), res in zip(items, checked, strict=True):
        results[number] = {
            "id": row["id"],
            "correct": res.verdict == Verdict.CORRECT,
            "verdict": res.verdict.value,
            "extracted": res.extracted,
        }
    text = "".join(json.dumps(results[n]) + "\n" for n in sorted(results))
    if output is None:
        sys.stdout.write(text)
    else:
        from reasonloop.core.rundir import atomic_write_text

        atomic_write_text(output, text)
    return Counter(r["verdict"] for r in results.values())
