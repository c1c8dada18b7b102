"""Experiment tracking: what a run logs per stage, and where.

The core decides the numbers, the steps and where each backend keeps its
files; the adapters that talk to tensorboard, wandb, mlflow or trackio live in
:mod:`reasonloop.tracking` (outside the core, since they import optional
packages). Step convention: the base evaluation is
step 0 and iteration ``i`` is step ``i + 1``, so every stage has its own
non-negative, increasing step, as wandb requires.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from reasonloop.core.recipe import Recipe
from reasonloop.errors import RecipeError

__all__ = [
    "TRACKING_EXTRAS",
    "check_tracking",
    "mlflow_tracking_uri",
    "read_eval",
    "stage_metrics",
    "stage_step",
    "tracking_dir",
    "tracking_run_id",
    "trackio_dir",
    "trainer_report_args",
]

#: Backend name -> (modules it imports, the reasonloop extra that installs them).
TRACKING_EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard",), "tracking-tensorboard"),
    "wandb": (("wandb",), "tracking-wandb"),
    # sqlalchemy and alembic: mlflow's sqlite store (mlflow-skinny lacks them).
    "mlflow": (("mlflow", "sqlalchemy", "alembic"), "tracking-mlflow"),
    "trackio": (("trackio",), "tracking-trackio"),
}


def check_tracking(recipe: Recipe) -> None:
    """Fail before any work when a tracking backend's package is not installed."""
    for name in recipe.tracking.backends:
        modules, extra = TRACKING_EXTRAS[name]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            raise RecipeError(
                f"{recipe.source}: tracking.backends: {name!r} needs the "
                f"{', '.join(missing)} package{'s' if len(missing) > 1 else ''}, which "
                f"{'are' if len(missing) > 1 else 'is'} not installed; install "
                f"{'them' if len(missing) > 1 else 'it'} with: pip install 'reasonloop[{extra}]'"
            )


def tracking_dir(recipe: Recipe, run_dir: Path) -> Path:
    """Where local tracking files go: ``tracking.dir`` or ``<run_dir>/tracking``."""
    chosen = recipe.tracking.dir
    if chosen is None:
        return Path(run_dir) / "tracking"
    path = Path(chosen)
    return path if path.is_absolute() else Path(run_dir) / path


def tracking_run_id(run_dir: Path) -> str:
    """The run's id in the trackers, fixed by its directory, so a resumed run continues it."""
    return hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:12]


def mlflow_tracking_uri(log_dir: Path) -> str:
    """MLflow's store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<log_dir>/mlflow.db``."""
    chosen = os.environ.get("MLFLOW_TRACKING_URI")
    return chosen or f"sqlite:///{Path(log_dir).resolve() / 'mlflow.db'}"


def trackio_dir(log_dir: Path) -> Path:
    """Where trackio keeps its databases: ``TRACKIO_DIR`` if set, else ``<log_dir>/trackio``."""
    chosen = os.environ.get("TRACKIO_DIR")
    return Path(chosen) if chosen else Path(log_dir).resolve() / "trackio"


def stage_step(iteration: int | None) -> int:
    """The tracking step of a stage: 0 for the base model, ``iteration + 1`` after."""
    return 0 if iteration is None else iteration + 1


def _interval(node: dict[str, Any], prefix: str, out: dict[str, float]) -> None:
    interval = node.get("interval")
    if isinstance(interval, (list, tuple)) and len(interval) == 2:
        out[f"{prefix}_lo"] = float(interval[0])
        out[f"{prefix}_hi"] = float(interval[1])


def stage_metrics(summary: dict[str, Any], eval_json: dict[str, Any] | None) -> dict[str, float]:
    """The flat ``name -> number`` metrics of one stage, as every tracker logs them.

    ``summary`` is a :class:`~reasonloop.core.report.StageSummary` dict;
    ``eval_json`` the stage's ``eval.json`` when it has one. Intervals
    (``interval: [lo, hi]`` next to an accuracy) become ``..._lo`` / ``..._hi``.
    """
    out: dict[str, float] = {}
    metrics = eval_json or {}
    if summary.get("accuracy") is not None:
        out["eval/accuracy"] = float(summary["accuracy"])
        _interval(metrics, "eval/accuracy", out)
    for key, groups in (metrics.get("by") or summary.get("by") or {}).items():
        for value, node in groups.items():
            if isinstance(node, dict) and node.get("accuracy") is not None:
                name = f"eval/by/{key}/{value}/accuracy"
                out[name] = float(node["accuracy"])
                _interval(node, name, out)
    for key, value in (summary.get("pass_at_k") or {}).items():
        if isinstance(value, (int, float)):
            out[f"eval/pass_at_k/{key}"] = float(value)
    coverage = metrics.get("coverage", summary.get("coverage"))
    if isinstance(coverage, (int, float)):
        out["eval/coverage"] = float(coverage)
    out["stage/samples"] = float(summary.get("samples", 0))
    out["stage/kept"] = float(summary.get("kept", 0))
    out["stage/tokens"] = float(summary.get("tokens", 0))
    out["stage/seconds"] = float(summary.get("seconds", 0.0))
    for row in summary.get("compute", []):
        tokens = row.get("prompt_tokens", 0) + row.get("completion_tokens", 0)
        out[f"tokens/{row['role']}/{row['plugin']}/{row['purpose']}"] = float(tokens)
    return out


def read_eval(stage_dir: Path) -> dict[str, Any] | None:
    """A stage's ``eval.json``, or ``None`` when it was not evaluated."""
    path = Path(stage_dir) / "eval.json"
    return json.loads(path.read_text()) if path.exists() else None


def trainer_report_args(recipe: Recipe, run_dir: Path, iteration: int) -> dict[str, Any]:
    """TrainingArguments entries so the trainer logs to the same tracker, or ``{}``.

    Empty when tracking is off, which keeps the trainer's own default
    (``report_to: none`` for trl-sft). ``env`` holds the environment the
    trainer sets while it trains (transformers' callbacks read most of their
    settings from there, and worker processes inherit it).
    """
    tracking = recipe.tracking
    if not tracking.backends:
        return {}
    name = tracking.run_name or Path(run_dir).name
    project = tracking.project or recipe.name
    log_dir = tracking_dir(recipe, run_dir)
    run_id = tracking_run_id(run_dir)
    env: dict[str, str] = {}
    if "wandb" in tracking.backends:
        # The run the loop's numbers go to (see reasonloop.tracking.wandb).
        env |= {"WANDB_PROJECT": project, "WANDB_RUN_ID": run_id, "WANDB_RESUME": "allow"}
        env["WANDB_DIR"] = os.environ.get("WANDB_DIR") or str(log_dir.resolve())
    if "mlflow" in tracking.backends:
        # Each training is a child run of the loop's run (the loop's tracker
        # sets the parent); params differ per iteration, which one run refuses.
        tags = {"mlflow.runName": f"train-iter-{iteration:03d}", "reasonloop.run_id": run_id}
        env |= {
            "MLFLOW_TRACKING_URI": mlflow_tracking_uri(log_dir),
            "MLFLOW_EXPERIMENT_NAME": project,
            "MLFLOW_NESTED_RUN": "true",
            "MLFLOW_TAGS": json.dumps({**tags, "reasonloop.iteration": str(iteration)}),
        }
    if "trackio" in tracking.backends:
        env["TRACKIO_DIR"] = str(trackio_dir(log_dir))
    args: dict[str, Any] = {
        "report_to": list(tracking.backends),
        "run_name": name,
        # tensorboard: the loop's events and each iteration's loss in one tree.
        "logging_dir": str(log_dir / f"train-iter-{iteration:03d}"),
    }
    if "trackio" in tracking.backends:
        args["project"] = project  # trackio's project; no Space (trackio_space_id unset)
    if env:
        args["env"] = env
    return args
