"""Progress bars with rate and ETA, and the same events in ``run.log``."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["RunProgress", "StageTask"]

log = logging.getLogger("reasonloop")


class RateColumn(ProgressColumn):
    """Items per second, and generated tokens per second when counted."""

    def render(self, task: Task) -> Text:
        # The average since the start: backends that return a whole batch at
        # once make rich's windowed estimate jump to absurd values.
        speed = task.completed / task.elapsed if task.elapsed else None
        unit = task.fields.get("unit", "it")
        if not speed:
            return Text("-", style="progress.data.speed")
        text = f"{speed:.1f} {unit}/s"
        tokens = task.fields.get("tokens", 0)
        if tokens and task.elapsed:
            text += f" · {tokens / task.elapsed:.0f} tok/s"
        return Text(text, style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """Time left at the average rate since the start (see :class:`RateColumn`)."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text("0:00:00", style="progress.remaining")
        if not task.total or not task.completed or not task.elapsed:
            return Text("-:--:--", style="progress.remaining")
        left = (task.total - task.completed) * task.elapsed / task.completed
        return Text(str(datetime.timedelta(seconds=max(0, int(left)))), style="progress.remaining")


class StageTask:
    """One bar: advance it as work finishes."""

    def __init__(self, progress: Progress | None, task_id: int | None, name: str, total: int):
        self._progress = progress
        self._id = task_id
        self.name = name
        self.total = total
        self.done = 0
        self.tokens = 0
        self._last_log = time.monotonic()
        self._start = time.monotonic()

    def advance(self, n: int = 1, tokens: int = 0) -> None:
        self.done += n
        self.tokens += tokens
        if self._progress is not None and self._id is not None:
            self._progress.update(self._id, advance=n, tokens=self.tokens)
        now = time.monotonic()
        if now - self._last_log >= 10 or self.done >= self.total:
            self._last_log = now
            rate = self.done / max(now - self._start, 1e-9)
            log.info(
                "%s: %d/%d (%.1f/s, %d tokens)", self.name, self.done, self.total, rate, self.tokens
            )

    def set_total(self, total: int) -> None:
        self.total = total
        if self._progress is not None and self._id is not None:
            self._progress.update(self._id, total=total)


class RunProgress:
    """Draws progress bars on the console and writes events to ``run.log``."""

    def __init__(
        self, console: Console | None = None, log_path: Path | None = None, enabled: bool = True
    ):
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self._handler: logging.Handler | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._handler = logging.FileHandler(log_path)
            self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(self._handler)
            log.setLevel(logging.INFO)

    def close(self) -> None:
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def event(self, message: str) -> None:
        """Say what is happening, on the console and in the log."""
        log.info(message)
        if self.enabled:
            self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")

    @contextlib.contextmanager
    def task(self, name: str, total: int, unit: str = "it") -> Iterator[StageTask]:
        """Show one bar for the duration of the block."""
        log.info("%s: started (%d %s)", name, total, unit)
        if not self.enabled:
            yield StageTask(None, None, name, total)
            return
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            EtaColumn(),
            console=self.console,
            transient=False,
        )
        with progress:
            task_id = progress.add_task(name, total=total, unit=unit, tokens=0)
            yield StageTask(progress, task_id, name, total)
