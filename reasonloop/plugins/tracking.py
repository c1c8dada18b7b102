"""The built-in plugin that logs each stage to the recipe's ``tracking.backends``.

It logs at ``reasonloop_iteration_end``: the base evaluation with the first
iteration (step 0), then each iteration at step ``iteration + 1``. A resumed
run logs its finished stages again at the same steps: tensorboard then holds a
repeated point per step (the same values), wandb continues the same run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from reasonloop.core.context import IterationContext
from reasonloop.core.hookspecs import hookimpl
from reasonloop.core.report import stage_summary
from reasonloop.core.tracking import read_eval, stage_metrics, stage_step, tracking_dir

#: Open trackers per run directory (a process may run several runs).
_OPEN: dict[Path, list[Any]] = {}


def trackers_for(ctx: IterationContext) -> list[Any]:
    """The run's trackers, opened on first use."""
    run = ctx.run
    root = Path(run.run_dir.root).resolve()
    if root not in _OPEN:
        from reasonloop.tracking import open_tracker

        cfg = run.recipe.tracking
        log_dir = tracking_dir(run.recipe, root)
        run_id = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        _OPEN[root] = [
            open_tracker(
                name, log_dir, cfg.project or run.recipe.name, cfg.run_name or root.name, run_id
            )
            for name in cfg.backends
        ]
    return _OPEN[root]


def close_trackers(run_dir: Path) -> None:
    """Close a run's trackers (their files are complete afterwards)."""
    for tracker in _OPEN.pop(Path(run_dir).resolve(), []):
        tracker.close()


@hookimpl
def reasonloop_iteration_end(ctx: IterationContext, summary: dict[str, Any]) -> None:
    if not ctx.run.recipe.tracking.backends:
        return
    run_dir = ctx.run.run_dir
    stages: list[tuple[int | None, dict[str, Any]]] = []
    if ctx.iteration == 0 and read_eval(run_dir.stage_dir(None)) is not None:
        base = stage_summary(run_dir, None, run_dir.load_state().seconds)
        stages.append((None, base.model_dump(mode="json")))
    stages.append((ctx.iteration, summary))
    for tracker in trackers_for(ctx):
        for iteration, row in stages:
            metrics = stage_metrics(row, read_eval(run_dir.stage_dir(iteration)))
            tracker.log(metrics, stage_step(iteration))
    if ctx.iteration == ctx.run.recipe.iterations - 1:
        close_trackers(run_dir.root)
