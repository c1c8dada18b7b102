"""Logging a run's stage numbers to Weights & Biases (online or ``WANDB_MODE=offline``)."""

from __future__ import annotations

from pathlib import Path


class WandbTracker:
    """One wandb run per run directory; a resumed run continues it (same id)."""

    def __init__(self, log_dir: Path, project: str, run_name: str, run_id: str) -> None:
        import wandb

        Path(log_dir).mkdir(parents=True, exist_ok=True)
        self._wandb = wandb
        # The trainer's WandbCallback reuses this active run, so the training
        # loss lands in it too.
        self._run = wandb.run or wandb.init(
            project=project, name=run_name, id=run_id, dir=str(log_dir), resume="allow"
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Log the stage's metrics with ``stage`` as their x-axis."""
        self._run.log({**metrics, "stage": step})

    def close(self) -> None:
        """Finish the run (its files are complete after this)."""
        self._run.finish()
