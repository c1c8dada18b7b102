"""Tracker adapters, one module per backend, selected by name.

Each adapter imports its package only when opened, so a recipe without
tracking never imports tensorboard, wandb, mlflow or trackio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

__all__ = ["Tracker", "open_tracker"]


class Tracker(Protocol):
    """One backend's run: numbers logged at a step."""

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def open_tracker(name: str, log_dir: Path, project: str, run_name: str, run_id: str) -> Any:
    """Open the tracker called ``name`` (a ``tracking.backends`` entry)."""
    if name == "tensorboard":
        from reasonloop.tracking.tensorboard import TensorboardTracker

        return TensorboardTracker(log_dir)
    if name == "wandb":
        from reasonloop.tracking.wandb import WandbTracker

        return WandbTracker(log_dir, project, run_name, run_id)
    if name == "mlflow":
        from reasonloop.tracking.mlflow import MlflowTracker

        return MlflowTracker(log_dir, project, run_name, run_id)
    if name == "trackio":
        from reasonloop.tracking.trackio import TrackioTracker

        return TrackioTracker(log_dir, project, run_name)
    raise ValueError(f"unknown tracking backend {name!r}")
