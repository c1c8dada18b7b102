"""The run directory: every artifact of a run, written so a crash loses nothing.

Whole files (``state.json``, ``eval.json``, ``train.jsonl``...) are written to
a temporary file and renamed into place. Samples are appended to JSON-lines
files in one ``write`` per chunk and flushed to disk, and a torn last line
left by a kill is dropped on the next read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonloop.errors import UsageError

__all__ = [
    "JsonlLog",
    "RunDirectory",
    "RunState",
    "atomic_write_json",
    "atomic_write_text",
    "read_jsonl",
]

M = TypeVar("M", bound=BaseModel)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_records(path: Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write records as JSON lines atomically; return how many."""
    lines = [
        (r.model_dump_json() if isinstance(r, BaseModel) else json.dumps(r)) + "\n" for r in records
    ]
    atomic_write_text(path, "".join(lines))
    return len(lines)


def read_jsonl(path: Path, model: type[M]) -> list[M]:
    return list(JsonlLog(path, model))


class JsonlLog(Iterable[M]):
    """An append-only JSON-lines file of one record type."""

    def __init__(self, path: Path, model: type[M]):
        self.path = path
        self.model = model

    def __iter__(self) -> Iterator[M]:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        complete = lines if data.endswith(b"\n") else lines[:-1]
        for number, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                yield self.model.model_validate_json(line)
            except ValueError as exc:
                raise UsageError(f"{self.path}:{number}: corrupt record: {exc}") from None

    def repair(self) -> None:
        """Drop a torn last line left by a crash in the middle of a write."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def rewrite(self, records: Iterable[M]) -> None:
        write_records(self.path, records)

    def append(self, records: Iterable[M]) -> None:
        text = "".join(r.model_dump_json() + "\n" for r in records)
        if not text:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


class RunState(BaseModel):
    """``state.json``: what a run has finished, so that ``resume`` skips it.

    Iterations are keys of JSON objects, so they are written as strings
    (``"0"``) and read back as numbers.
    """

    model_config = ConfigDict(extra="forbid")

    #: Finished stages in order: ``base/eval``, ``iter-000/sample``, ...
    completed: list[str] = Field(default_factory=list)
    #: Seconds each stage took, summed over the attempts a resume adds.
    seconds: dict[str, float] = Field(default_factory=dict)
    #: The checkpoint each iteration trained (iterations whose model changed).
    models: dict[int, str] = Field(default_factory=dict)
    #: The LoRA adapter each iteration trained, when it trained one.
    adapters: dict[int, str] = Field(default_factory=dict)
    #: What the trainer measured in each iteration.
    train_metrics: dict[int, dict[str, Any]] = Field(default_factory=dict)
    #: Iterations whose ``train.jsonl`` a plugin ordered: the trainer keeps
    #: that order, also when the train stage runs after a resume.
    ordered: list[int] = Field(default_factory=list)

    def done(self, stage: str) -> bool:
        """Whether ``stage`` finished in an earlier attempt or this one."""
        return stage in self.completed

    def complete(self, stage: str, seconds: float) -> None:
        """Record ``stage`` as finished after ``seconds`` more of work."""
        self.completed.append(stage)
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + seconds, 3)


class RunDirectory:
    """Paths and state of one run (``runs/<name>``)."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def recipe_path(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def log_path(self) -> Path:
        return self.root / "run.log"

    @property
    def report_path(self) -> Path:
        return self.root / "report.md"

    def stage_dir(self, iteration: int | None) -> Path:
        """``base/`` for the model before training, else ``iter-NNN/``."""
        return self.root / ("base" if iteration is None else f"iter-{iteration:03d}")

    def load_state(self) -> RunState:
        """The run's state; a fresh one when nothing has run yet."""
        if not self.state_path.exists():
            return RunState()
        try:
            return RunState.model_validate_json(self.state_path.read_bytes())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise UsageError(f"{self.state_path}: corrupt state file: {problems}") from None

    def save_state(self, state: RunState) -> None:
        """Write ``state.json`` atomically: a crash leaves the old state or the new."""
        atomic_write_text(self.state_path, state.model_dump_json(indent=2) + "\n")
