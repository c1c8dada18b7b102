"""Logging a run's stage numbers as tensorboard event files."""

from __future__ import annotations

from pathlib import Path


class TensorboardTracker:
    """Writes scalars under ``<log_dir>/loop``; the trainer writes beside it."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(Path(log_dir) / "loop"))

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Add every metric at ``step`` and flush, so a crash loses nothing logged."""
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self._writer.close()
