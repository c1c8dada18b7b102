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

from pydantic import BaseModel

from reasonloop.errors import UsageError

__all__ = ["JsonlLog", "RunDirectory", "atomic_write_json", "atomic_write_text", "read_jsonl"]

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

    def load_state(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {"completed": [], "models": {}}
        try:
            return json.loads(self.state_path.read_text())
        except json.JSONDecodeError as exc:
            raise UsageError(f"{self.state_path}: corrupt state file: {exc}") from None

    def save_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.state_path, state)
