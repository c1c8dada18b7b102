"""Logging a run's stage numbers to MLflow (a local sqlite store unless ``MLFLOW_TRACKING_URI``)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

#: Tag naming the run directory's id on the loop's run and on each training's run.
RUN_ID_TAG = "reasonloop.run_id"
#: Tag that tells the loop's run from the trainings' runs.
ROLE_TAG = "reasonloop.role"


class MlflowTracker:
    """The loop's MLflow run, one per run directory; a resumed run continues it.

    It logs through a client, never as the process's active run, so each
    training (transformers' MLflow callback) starts its own run in the same
    experiment; :meth:`log` makes those runs children of this one.
    """

    def __init__(self, log_dir: Path, project: str, run_name: str, run_id: str) -> None:
        # No usage reports leave the machine unless the user asks for them.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        from reasonloop.core.tracking import mlflow_tracking_uri

        log_dir = Path(log_dir).resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        self._client = MlflowClient(tracking_uri=mlflow_tracking_uri(log_dir))
        self._run_id = run_id
        experiment = self._client.get_experiment_by_name(project)
        if experiment is None:  # the first training usually created it already
            self._experiment_id = self._client.create_experiment(project)
        else:
            self._experiment_id = experiment.experiment_id
        found = self._client.search_runs(
            [self._experiment_id],
            filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}' AND tags.`{ROLE_TAG}` = 'loop'",
            max_results=1,
        )
        if found:
            self._run = found[0].info.run_id
            self._client.update_run(self._run, status="RUNNING")
        else:
            tags = {RUN_ID_TAG: run_id, ROLE_TAG: "loop"}
            self._run = self._client.create_run(
                self._experiment_id, run_name=run_name, tags=tags
            ).info.run_id

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Log the stage's metrics at ``step``; adopt the trainings logged since."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        # MLflow refuses other characters in names (pass@k): the same rule as
        # transformers' MLflow callback.
        batch = [
            Metric(re.sub(r"[^0-9A-Za-z_\-. :/]", "_", name), float(value), now, step)
            for name, value in metrics.items()
        ]
        for start in range(0, len(batch), 1000):  # the store's batch limit
            self._client.log_batch(self._run, metrics=batch[start : start + 1000])
        self._adopt_trainings()

    def _adopt_trainings(self) -> None:
        """Make this run's trainings (tagged with its id) children of the loop's run."""
        for run in self._client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{self._run_id}'"
        ):
            tags = run.data.tags
            if tags.get(ROLE_TAG) != "loop" and tags.get("mlflow.parentRunId") != self._run:
                self._client.set_tag(run.info.run_id, "mlflow.parentRunId", self._run)

    def close(self) -> None:
        """Mark the loop's run finished (logging again on resume reopens nothing: it continues)."""
        self._client.set_terminated(self._run)
