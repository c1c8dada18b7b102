"""What the run browser shows, gathered from a run directory into one JSON-able dict.

Samples are written as rows of a table (``fields`` names the columns) rather
than as objects, and repeated strings (plugin names, the prompt every
sample of a request shares) are stored once and referred to by index: a run
of 50,000 samples stays a page a browser parses in well under a second.
Within each stage and problem the samples come in the order of their
lineage (:class:`~reasonloop.core.lineage.SampleTree`, parent before child,
children in drawing order), with each one's parent row and depth, so the page
draws a chain without rebuilding the tree.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from reasonloop.core.lineage import SampleTree
from reasonloop.core.pairing import (
    compare_answers,
    format_accuracy,
    format_difference,
    format_p,
    format_verdict,
    load_answers,
)
from reasonloop.core.records import Problem, Sample
from reasonloop.core.report import summary_rows
from reasonloop.core.rundir import JsonlLog, RunDirectory
from reasonloop.errors import UsageError

__all__ = ["SAMPLE_FIELDS", "page_data"]

#: The columns of ``samples.rows``, in order.
SAMPLE_FIELDS = (
    "problem",  # row of problems.rows
    "stage",  # index into stages
    "parent",  # row of the sample it follows up on, -1 for a root
    "depth",  # 0 for a root
    "id",
    "plugin",  # index into values.plugin (likewise purpose, how, role)
    "purpose",
    "how",
    "role",
    "round",
    "index",  # among its request's n samples
    "verdict",  # correct / wrong / unparsable / error / timeout, or null
    "extracted",
    "prefill",
    "completion",
    "asked",  # index into texts: the request's last user message, -1 for none
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "kept",  # 1 when a training example of the stage was made from it
    "meta",  # the request's plugin data (long values shortened), or null
    "evidence",  # the verifier's evidence (long values shortened), or null
)
PROBLEM_FIELDS = ("split", "id", "domain", "prompt", "source", "difficulty", "answer")
#: Longest JSON text of one meta or evidence value kept whole: the page is for
#: reading, and a value this long is usually a copy of text shown elsewhere.
VALUE_LIMIT = 2000
_STAGE = re.compile(r"iter-(\d+)$")


def page_data(root: Path) -> dict[str, Any]:
    """Everything the page shows about the run in ``root``: summary, plots, problems, samples."""
    if not (root / "state.json").exists():
        raise UsageError(f"{root}: not a run directory (no state.json)")
    run_dir = RunDirectory(root)
    state = run_dir.load_state()
    table = _Table()
    problems = _Problems(root)
    stages: list[str] = []
    finals: list[list[Any]] = []
    for stage, split, path in _stage_files(root):
        samples = list(JsonlLog(path, Sample))
        if not samples:
            continue
        kept = _kept_ids(path.parent) if split == "train" else set()
        table.add_stage(len(stages), samples, problems, split, kept)
        stages.append(stage)
    for stage, eval_path in _eval_files(root):
        answers = json.loads(eval_path.read_text()).get("answers") or []
        for a in answers:
            row = problems.row("eval", str(a.get("problem_id")))
            finals.append(
                [row, stage, a.get("verdict"), a.get("extracted"), bool(a.get("correct"))]
            )
    summary, paired = _summary(run_dir)
    return {
        "version": 1,
        "run": {
            "name": root.resolve().name,
            "path": str(root.resolve()),
            "completed": state.completed,
            "recipe": _text(run_dir.recipe_path),
            "report": _text(run_dir.report_path),
            "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "reasonloop": _version(),
        },
        "summary": summary,
        "paired": paired,
        "plots": [_plot(p) for p in sorted(root.glob("*.png"))],
        "stages": stages,
        "problems": {"fields": list(PROBLEM_FIELDS), "rows": problems.rows},
        "finals": finals,
        "values": table.values,
        "texts": table.texts,
        "samples": {"fields": list(SAMPLE_FIELDS), "rows": table.rows},
    }


def _stage_files(root: Path) -> Iterator[tuple[str, str, Path]]:
    """(stage name, problem split, samples file) in the order the run made them."""
    yield "base/eval", "eval", root / "base" / "eval_samples.jsonl"
    for d in _iteration_dirs(root):
        yield f"{d.name}/sample", "train", d / "samples.jsonl"
        yield f"{d.name}/eval", "eval", d / "eval_samples.jsonl"


def _eval_files(root: Path) -> Iterator[tuple[str, Path]]:
    for d in [root / "base", *_iteration_dirs(root)]:
        if (d / "eval.json").exists():
            yield f"{d.name}/eval", d / "eval.json"


def _iteration_dirs(root: Path) -> list[Path]:
    dirs = [p for p in root.glob("iter-*") if p.is_dir() and _STAGE.search(p.name)]
    return sorted(dirs, key=lambda p: int(_STAGE.search(p.name).group(1)))  # type: ignore[union-attr]


def _kept_ids(stage_dir: Path) -> set[str]:
    """The samples the stage's selected training examples were made from."""
    path = stage_dir / "selected.jsonl"
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text().splitlines():
        if line.strip():
            sample_id = json.loads(line).get("sample_id")
            if sample_id:
                ids.add(sample_id)
    return ids


class _Problems:
    """The problem table: the run's problem files, plus any problem only a sample names."""

    def __init__(self, root: Path):
        self.rows: list[list[Any]] = []
        self._index: dict[tuple[str, str], int] = {}
        for split in ("train", "eval"):
            for p in JsonlLog(root / "problems" / f"{split}.jsonl", Problem):
                self._add(split, p)

    def _add(self, split: str, p: Problem) -> int:
        answer = p.reference.answer if p.reference else None
        self._index[(split, p.id)] = len(self.rows)
        self.rows.append([split, p.id, p.domain, p.prompt, p.source, p.difficulty, answer])
        return len(self.rows) - 1

    def row(self, split: str, problem_id: str) -> int:
        found = self._index.get((split, problem_id))
        if found is None:
            found = self._add(split, Problem(id=problem_id, prompt=""))
        return found


class _Table:
    """Sample rows in lineage order, with their repeated strings stored once."""

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.values: dict[str, list[str]] = {"plugin": [], "purpose": [], "how": [], "role": []}
        self._value_index: dict[str, dict[str, int]] = {k: {} for k in self.values}
        self.texts: list[str] = []
        self._text_index: dict[str, int] = {}

    def add_stage(
        self, stage: int, samples: list[Sample], problems: _Problems, split: str, kept: set[str]
    ) -> None:
        by_problem: dict[str, list[Sample]] = {}
        for s in samples:
            by_problem.setdefault(s.problem_id, []).append(s)
        for problem_id, group in by_problem.items():
            problem = problems.row(split, problem_id)
            tree = SampleTree(group)
            rows: dict[str, int] = {}
            for sample, depth in _preorder(tree):
                parent = rows.get(sample.request.parent_sample_id or "", -1)
                rows[sample.id] = len(self.rows)
                self.rows.append(self._row(sample, problem, stage, parent, depth, kept))

    def _row(
        self, s: Sample, problem: int, stage: int, parent: int, depth: int, kept: set[str]
    ) -> list[Any]:
        r = s.request
        asked = next((m.content for m in reversed(r.messages) if m.role == "user"), None)
        return [
            problem,
            stage,
            parent,
            depth,
            s.id,
            self._value("plugin", r.plugin),
            self._value("purpose", r.purpose),
            self._value("how", r.how),
            self._value("role", r.role),
            r.round,
            s.index,
            s.verdict.value if s.verdict is not None else None,
            s.extracted,
            r.prefill,
            s.completion,
            -1 if asked is None else self._text(asked),
            s.prompt_tokens,
            s.completion_tokens,
            s.finish_reason,
            int(s.id in kept),
            _shortened(r.meta),
            _shortened(s.evidence),
        ]

    def _value(self, kind: str, value: str) -> int:
        index = self._value_index[kind]
        if value not in index:
            index[value] = len(self.values[kind])
            self.values[kind].append(value)
        return index[value]

    def _text(self, text: str) -> int:
        if text not in self._text_index:
            self._text_index[text] = len(self.texts)
            self.texts.append(text)
        return self._text_index[text]


def _preorder(tree: SampleTree) -> Iterator[tuple[Sample, int]]:
    """Each root, then its children in drawing order, each followed by its own subtree."""
    seen: set[str] = set()
    todo = [(root, 0) for root in reversed(tree.roots())]
    while todo:
        sample, depth = todo.pop()
        if sample.id in seen:
            continue
        seen.add(sample.id)
        yield sample, depth
        todo += [(c, depth + 1) for c in reversed(tree.children(sample))]
    # Samples whose parent links loop back on themselves have no root: shown as roots.
    for sample in tree.samples:
        if sample.id not in seen:
            seen.add(sample.id)
            yield sample, 0


def _shortened(values: dict[str, Any]) -> dict[str, Any] | None:
    if not values:
        return None
    out = {}
    for key, value in values.items():
        text = json.dumps(value, default=str)
        out[key] = value if len(text) <= VALUE_LIMIT else f"({len(text)} characters, left out)"
    return out


def _summary(run_dir: RunDirectory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The report's summary rows, and each evaluated stage paired with the first."""
    rows = summary_rows(run_dir)
    summary = [
        {
            **r.model_dump(mode="json", exclude={"compute", "by", "pass_at_k"}),
            "accuracy_text": format_accuracy(r.accuracy, r.interval),
            "compute": r.compute,
        }
        for r in rows
    ]
    evaluated = [r for r in rows if r.accuracy is not None]
    paired = []
    if len(evaluated) >= 2:
        first = evaluated[0]
        base = load_answers(run_dir.stage_dir(first.iteration) / "eval.json")
        for r in evaluated[1:]:
            c = compare_answers(base, load_answers(run_dir.stage_dir(r.iteration) / "eval.json"))
            if isinstance(c, str):
                paired.append({"stage": r.stage, "against": first.stage, "unavailable": c})
                continue
            paired.append(
                {
                    "stage": r.stage,
                    "against": first.stage,
                    "problems": c.problems,
                    "difference": format_difference(c),
                    "p": format_p(c.p_value),
                    "gained": c.gained,
                    "lost": c.lost,
                    "verdict": format_verdict(c),
                }
            )
    return summary, paired


def _plot(path: Path) -> dict[str, str]:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": path.name, "src": f"data:image/png;base64,{data}"}


def _text(path: Path) -> str | None:
    return path.read_text(errors="replace") if path.exists() else None


def _version() -> str:
    try:
        return metadata.version("reasonloop")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "unknown"
