"""Logging a run's stage numbers to trackio's local database (no Space, no server)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from reasonloop.core.tracking import trackio_dir
from reasonloop.errors import UsageError


class TrackioTracker:
    """One trackio run per run directory, named ``run_name``; a resumed run continues it.

    The trainer's trackio callback opens and finishes the same run (same
    project and name) around each training, so the loss lands beside the
    loop's numbers.
    """

    def __init__(self, log_dir: Path, project: str, run_name: str) -> None:
        where = trackio_dir(log_dir).resolve()
        if "trackio" in sys.modules:
            # trackio fixes its directory when first imported.
            from trackio.utils import TRACKIO_DIR

            if Path(TRACKIO_DIR).resolve() != where:
                raise UsageError(
                    f"tracking: trackio was already imported in this process with its "
                    f"directory at {TRACKIO_DIR}, not {where}; run each tracked run in its "
                    "own process, or set TRACKIO_DIR"
                )
        else:
            os.environ["TRACKIO_DIR"] = str(where)
        where.mkdir(parents=True, exist_ok=True)
        import trackio

        self._run = trackio.init(
            project=project, name=run_name, resume="allow", auto_log_gpu=False, auto_log_cpu=False
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Log the stage's metrics at ``step``, with ``stage`` as a metric too."""
        self._run.log({**metrics, "stage": step}, step=step)

    def close(self) -> None:
        """Finish the run (its rows are in the database after this)."""
        self._run.finish()
