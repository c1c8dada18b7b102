"""Experiment tracking: what a run logs per stage, and where.

The core decides the numbers and the steps; the adapters that talk to
tensorboard or wandb live in :mod:`reasonloop.tracking` (outside the core,
since they import optional packages). Step convention: the base evaluation is
step 0 and iteration ``i`` is step ``i + 1``, so every stage has its own
non-negative, increasing step, as wandb requires.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from reasonloop.core.recipe import Recipe
from reasonloop.errors import RecipeError

__all__ = [
    "TRACKING_EXTRAS",
    "check_tracking",
    "read_eval",
    "stage_metrics",
    "stage_step",
    "tracking_dir",
    "trainer_report_args",
]

#: Backend name -> (module it imports, the reasonloop extra that installs it).
TRACKING_EXTRAS: dict[str, tuple[str, str]] = {
    "tensorboard": ("tensorboard", "tracking-tensorboard"),
    "wandb": ("wandb", "tracking-wandb"),
}


def check_tracking(recipe: Recipe) -> None:
    """Fail before any work when a tracking backend's package is not installed."""
    for name in recipe.tracking.backends:
        module, extra = TRACKING_EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise RecipeError(
                f"{recipe.source}: tracking.backends: {name!r} needs the {module} package, "
                f"which is not installed; install it with: pip install 'reasonloop[{extra}]'"
            )


def tracking_dir(recipe: Recipe, run_dir: Path) -> Path:
    """Where local tracking files go: ``tracking.dir`` or ``<run_dir>/tracking``."""
    chosen = recipe.tracking.dir
    if chosen is None:
        return Path(run_dir) / "tracking"
    path = Path(chosen)
    return path if path.is_absolute() else Path(run_dir) / path


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
    (``report_to: none`` for trl-sft).
    """
    tracking = recipe.tracking
    if not tracking.backends:
        return {}
    name = tracking.run_name or Path(run_dir).name
    return {
        "report_to": list(tracking.backends),
        "run_name": name,
        # tensorboard: the loop's events and each iteration's loss in one tree.
        "logging_dir": str(tracking_dir(recipe, run_dir) / f"train-iter-{iteration:03d}"),
    }
