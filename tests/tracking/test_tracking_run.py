"""A real tiny run that logs to every backend: the loop's accuracy and the trainer's loss together.

It runs ``python -m reasonloop run`` in a process of its own, offline (no
network: wandb offline, no telemetry, no Space), and reads each store back with
its own reader: tensorboard's event files, wandb's run file, MLflow's client,
trackio's sqlite database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasonloop.core.tracking import tracking_run_id
from tests.conftest import TINY_TRAINING, write_tiny_recipe

from .test_backends import trackio_rows, wandb_history

pytestmark = pytest.mark.slow

#: The tiny recipe, trained, logging every step to every backend.
CHANGES = {
    "roles.actor.sampling": {"temperature": 0.5, "top_p": 0.95, "max_tokens": 32},
    "data.train": [{"name": "arithmetic", "options": {"count": 12, "seed": 5, "split": "train",
                    "kinds": ["multiplication"], "difficulties": [1]}}],
    "sampling": {"n": 4, "chunk_size": 4},
    "trainer": {**TINY_TRAINING, "options": {**TINY_TRAINING["options"], "logging_steps": 1}},
    "tracking": {"backends": ["tensorboard", "wandb", "mlflow", "trackio"],
                 "project": "tinyproj", "run_name": "tiny-tb"},
}  # fmt: skip


BACKENDS = {
    "tensorboard": "tracking-tensorboard",
    "wandb": "tracking-wandb",
    "mlflow": "tracking-mlflow",
    "sqlalchemy": "tracking-mlflow",
    "trackio": "tracking-trackio",
}

#: What keeps every backend off the network.
OFFLINE = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_GIT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, smollm2) -> Path:
    """The run directory of one tiny tracked run (iteration 0 trains)."""
    for module, extra in BACKENDS.items():
        pytest.importorskip(module, reason=f"pip install 'reasonloop[{extra}]'")
    tmp_path = tmp_path_factory.mktemp("tracked")
    path = write_tiny_recipe(tmp_path, CHANGES, smollm2)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WANDB_", "MLFLOW_", "TRACKIO_", "TENSORBOARD_"))
    }
    root = str(Path(__file__).parents[2])
    env |= OFFLINE | {"PYTHONPATH": os.pathsep.join([root, env.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "reasonloop", "run", str(path), "--no-progress"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return tmp_path / "run"


def accuracies(run_dir: Path) -> list[float]:
    """The base's and iteration 0's held-out accuracy, from their eval.json."""
    return [
        json.loads((run_dir / stage / "eval.json").read_text())["accuracy"]
        for stage in ("base", "iter-000")
    ]


def test_tensorboard_holds_accuracy_and_training_loss_in_one_log_dir(tracked_run):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    mux = EventMultiplexer().AddRunsFromDirectory(str(tracked_run / "tracking"))
    mux.Reload()
    runs = mux.Runs()
    assert {"loop", "train-iter-000"} <= set(runs)

    def scalars(run: str, tag: str) -> list[tuple[int, float]]:
        return [(e.step, e.value) for e in mux.Scalars(run, tag)]

    accuracy = scalars("loop", "eval/accuracy")
    assert [step for step, _ in accuracy] == [0, 1]  # base, then iteration 0
    assert [value for _, value in accuracy] == pytest.approx(accuracies(tracked_run))
    kept = sum(1 for _ in (tracked_run / "iter-000" / "selected.jsonl").open())
    assert scalars("loop", "stage/kept") == [(0, 0.0), (1, float(kept))]
    assert any(t.startswith("tokens/actor/") for t in runs["loop"]["scalars"])
    losses = scalars("train-iter-000", "train/loss")
    assert losses and all(value > 0 for _, value in losses)


def test_wandb_offline_run_holds_accuracy_and_training_loss(tracked_run):
    run_id = tracking_run_id(tracked_run)
    (run,) = (tracked_run / "tracking" / "wandb").glob(f"offline-run-*-{run_id}")
    history = wandb_history(next(run.glob("*.wandb")))
    stages = [row for row in history if "eval/accuracy" in row]
    assert [row["stage"] for row in stages] == [0, 1]
    assert [row["eval/accuracy"] for row in stages] == pytest.approx(accuracies(tracked_run))
    losses = [row["train/loss"] for row in history if "train/loss" in row]
    assert losses and all(value > 0 for value in losses)


def test_mlflow_store_holds_the_loop_run_and_its_training_as_a_child(tracked_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tracked_run / 'tracking' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tinyproj")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"tiny-tb", "train-iter-000"}
    loop, train = runs["tiny-tb"], runs["train-iter-000"]
    history = client.get_metric_history(loop.info.run_id, "eval/accuracy")
    assert [m.step for m in history] == [0, 1]
    assert [m.value for m in history] == pytest.approx(accuracies(tracked_run))
    assert train.data.tags["mlflow.parentRunId"] == loop.info.run_id
    losses = client.get_metric_history(train.info.run_id, "loss")
    assert losses and all(m.value > 0 for m in losses)


def test_trackio_database_holds_accuracy_and_training_loss_in_one_run(tracked_run):
    rows = trackio_rows(tracked_run / "tracking" / "trackio" / "tinyproj.db")
    assert {name for name, _, _ in rows} == {"tiny-tb"}
    stages = [m for _, _, m in rows if "eval/accuracy" in m]
    assert [m["stage"] for m in stages] == [0, 1]
    assert [m["eval/accuracy"] for m in stages] == pytest.approx(accuracies(tracked_run))
    losses = [m["train/loss"] for _, _, m in rows if "train/loss" in m]
    assert losses and all(value > 0 for value in losses)
