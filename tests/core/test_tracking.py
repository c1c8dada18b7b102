"""The recipe's ``tracking`` key: validation, the numbers logged, the trainer's share."""

from __future__ import annotations

import json
from pathlib import Path

from reasonloop.core import tracking
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.tracking import (
    stage_metrics,
    stage_step,
    tracking_run_id,
    trainer_report_args,
)

RECIPE = """\
version: 1
name: t
roles: {actor: {model: m}}
data: {}
trainer: {name: none}
"""

SUMMARY = {
    "stage": "iter-000",
    "iteration": 0,
    "accuracy": 0.25,
    "by": {"difficulty": {"1": {"accuracy": 0.5, "problems": 4}}},
    "pass_at_k": {},
    "samples": 48,
    "kept": 7,
    "tokens": 900,
    "seconds": 12.5,
    "compute": [
        {
            "role": "actor",
            "plugin": "selfimprove",
            "purpose": "sample",
            "prompt_tokens": 500,
            "completion_tokens": 300,
        },
        {
            "role": "actor",
            "plugin": "eval",
            "purpose": "eval",
            "prompt_tokens": 60,
            "completion_tokens": 40,
        },
    ],
}


def test_misspelt_backend_is_a_recipe_error(write_recipe, cli):
    path = write_recipe(RECIPE + "tracking: {backends: [tensorbord]}\n")
    outcome = cli("validate", path)
    assert outcome.exit_code == 2
    assert "tracking.backends" in outcome.stderr and "tensorboard" in outcome.stderr


def test_missing_extra_names_it_before_any_work(write_recipe, cli, monkeypatch):
    # The package is installed here; hide it the way a clean environment lacks it.
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "wandb" else real(name, *a),
    )
    path = write_recipe(RECIPE + "tracking: {backends: [wandb]}\n")
    outcome = cli("validate", path)
    assert outcome.exit_code == 2
    assert "reasonloop[tracking-wandb]" in outcome.stderr


def test_no_tracking_by_default_keeps_the_trainer_reporting_nowhere(tmp_path):
    recipe = recipe_from_dict(
        {"version": 1, "name": "t", "roles": {"actor": {"model": "m"}}, "data": {}}
    )
    assert recipe.tracking.backends == []
    assert trainer_report_args(recipe, tmp_path, 0) == {}


def test_trainer_reports_to_the_same_backends_and_dir(tmp_path):
    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "t",
            "roles": {"actor": {"model": "m"}},
            "data": {},
            "tracking": {"backends": ["tensorboard"], "run_name": "exp1"},
        }
    )
    args = trainer_report_args(recipe, tmp_path / "run", 2)
    assert args["report_to"] == ["tensorboard"]
    assert args["run_name"] == "exp1"
    assert Path(args["logging_dir"]) == tmp_path / "run" / "tracking" / "train-iter-002"


def test_stage_metrics_without_intervals():
    m = stage_metrics(SUMMARY, {"accuracy": 0.25, "by": SUMMARY["by"]})
    assert m["eval/accuracy"] == 0.25
    assert "eval/accuracy_lo" not in m
    assert m["eval/by/difficulty/1/accuracy"] == 0.5
    assert m["stage/kept"] == 7 and m["stage/seconds"] == 12.5
    assert m["tokens/actor/selfimprove/sample"] == 800
    assert m["tokens/actor/eval/eval"] == 100


def test_stage_metrics_log_intervals_and_coverage_when_present():
    by = {"difficulty": {"1": {"accuracy": 0.5, "problems": 4, "interval": [0.15, 0.85]}}}
    m = stage_metrics(
        SUMMARY, {"accuracy": 0.25, "interval": [0.1, 0.4], "by": by, "coverage": 0.75}
    )
    assert (m["eval/accuracy_lo"], m["eval/accuracy_hi"]) == (0.1, 0.4)
    assert m["eval/by/difficulty/1/accuracy_lo"] == 0.15
    assert m["eval/by/difficulty/1/accuracy_hi"] == 0.85
    assert m["eval/coverage"] == 0.75


def test_steps_put_the_base_model_first():
    assert [stage_step(i) for i in (None, 0, 1)] == [0, 1, 2]


def tracked(backends: list[str], **extra) -> object:
    return recipe_from_dict(
        {
            "version": 1,
            "name": "t",
            "roles": {"actor": {"model": "m"}},
            "data": {},
            "tracking": {"backends": backends, "run_name": "exp1", **extra},
        }
    )


def test_trainer_env_points_mlflow_at_the_run_store_as_a_child_of_the_loop(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = trainer_report_args(tracked(["mlflow"], project="p"), tmp_path / "run", 1)
    env = args["env"]
    db = (tmp_path / "run" / "tracking" / "mlflow.db").resolve()
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{db}"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "p"
    tags = json.loads(env["MLFLOW_TAGS"])
    assert tags["mlflow.runName"] == "train-iter-001"
    assert tags["reasonloop.run_id"] == tracking_run_id(tmp_path / "run")
    assert "project" not in args  # trackio's argument only
    # The user's own store wins.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    env = trainer_report_args(tracked(["mlflow"]), tmp_path / "run", 1)["env"]
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"


def test_trainer_env_gives_trackio_and_wandb_the_loop_run(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACKIO_DIR", raising=False)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    args = trainer_report_args(tracked(["trackio", "wandb"]), tmp_path / "run", 0)
    assert args["report_to"] == ["trackio", "wandb"] and args["project"] == "t"
    env = args["env"]
    assert Path(env["TRACKIO_DIR"]) == (tmp_path / "run" / "tracking" / "trackio").resolve()
    assert env["WANDB_PROJECT"] == "t" and env["WANDB_RESUME"] == "allow"
    assert env["WANDB_RUN_ID"] == tracking_run_id(tmp_path / "run")
    assert "MLFLOW_TAGS" not in env


def test_missing_mlflow_store_packages_name_the_extra(write_recipe, cli, monkeypatch):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("sqlalchemy", "alembic") else real(name, *a),
    )
    path = write_recipe(RECIPE + "tracking: {backends: [mlflow]}\n")
    outcome = cli("validate", path)
    assert outcome.exit_code == 2
    assert "sqlalchemy, alembic packages" in outcome.stderr
    assert "reasonloop[tracking-mlflow]" in outcome.stderr
