"""The built-in plugin that logs each stage to the recipe's ``tracking.backends``.

It logs at ``reasonloop_iteration_end``: the base evaluation with the first
iteration (step 0), then each iteration at step ``iteration + 1``. A resumed
run logs its finished stages again at the same steps: tensorboard then holds a
repeated point per step (the same values); wandb, mlflow and trackio continue
the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonloop.core.context import IterationContext, RunContext
from reasonloop.core.hookspecs import hookimpl
from reasonloop.core.report import stage_summary
from reasonloop.core.tracking import (
    read_eval,
    stage_metrics,
    stage_step,
    tracking_dir,
    tracking_run_id,
)


class Tracking:
    """The run's trackers, opened on first use and closed when the run closes."""

    def __init__(self, run: RunContext):
        self.run = run
        self._trackers: list[Any] | None = None

    def trackers(self) -> list[Any]:
        if self._trackers is None:
            from reasonloop.tracking import open_tracker

            run = self.run
            cfg = run.recipe.tracking
            root = Path(run.run_dir.root).resolve()
            log_dir = tracking_dir(run.recipe, root)
            run_id = tracking_run_id(root)
            self._trackers = [
                open_tracker(
                    name, log_dir, cfg.project or run.recipe.name, cfg.run_name or root.name, run_id
                )
                for name in cfg.backends
            ]
        return self._trackers

    def close(self) -> None:
        """Close the trackers (their files are complete afterwards)."""
        for tracker in self._trackers or []:
            tracker.close()
        self._trackers = None

    @hookimpl
    def reasonloop_iteration_end(self, ctx: IterationContext, summary: dict[str, Any]) -> None:
        run_dir = ctx.run.run_dir
        stages: list[tuple[int | None, dict[str, Any]]] = []
        if ctx.iteration == 0 and read_eval(run_dir.stage_dir(None)) is not None:
            base = stage_summary(run_dir, None, run_dir.load_state().seconds)
            stages.append((None, base.model_dump(mode="json")))
        stages.append((ctx.iteration, summary))
        for tracker in self.trackers():
            for iteration, row in stages:
                metrics = stage_metrics(row, read_eval(run_dir.stage_dir(iteration)))
                tracker.log(metrics, stage_step(iteration))
        if ctx.iteration == ctx.run.recipe.iterations - 1:
            self.close()


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    if not run.recipe.tracking.backends:
        return
    tracking = Tracking(run)
    run.register_plugin(tracking, "tracking")
    run.on_close(tracking.close)
