"""Each tracker adapter against its real package, offline, read back from its files."""

from __future__ import annotations

import json
import time

import pytest

from reasonloop.tracking import open_tracker


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a tensorboard log dir, read back by tensorboard itself."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def wandb_records(path):
    """The records of a ``.wandb`` file (leveldb-style log blocks of protobuf records)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def wandb_history(path) -> list[dict]:
    """The rows ``run.log`` wrote, read back from the run's ``.wandb`` file."""
    # wandb's writer process may still be flushing when finish() returns:
    # wait for the run's closing record.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = list(wandb_records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.2)
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows


def test_tensorboard_event_files_read_back(tmp_path):
    pytest.importorskip("tensorboard", reason="pip install 'reasonloop[tracking-tensorboard]'")
    tracker = open_tracker("tensorboard", tmp_path, "p", "r", "id")
    tracker.log({"eval/accuracy": 0.25, "stage/kept": 3.0}, 0)
    tracker.log({"eval/accuracy": 0.5, "stage/kept": 5.0}, 1)
    tracker.close()
    got = scalars(tmp_path / "loop")
    assert got["eval/accuracy"] == [(0, 0.25), (1, 0.5)]
    assert got["stage/kept"] == [(0, 3.0), (1, 5.0)]


def test_wandb_offline_run_files_read_back(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="pip install 'reasonloop[tracking-wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracker = open_tracker("wandb", tmp_path, "proj", "exp1", "abc123")
    tracker.log({"eval/accuracy": 0.25}, 0)
    tracker.log({"eval/accuracy": 0.5, "stage/kept": 4.0}, 1)
    tracker.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*-abc123"))
    assert len(runs) == 1
    history = wandb_history(next(runs[0].glob("*.wandb")))
    assert [h["eval/accuracy"] for h in history] == [0.25, 0.5]
    assert [h["stage"] for h in history] == [0, 1]
    assert history[1]["stage/kept"] == 4.0


def test_mlflow_sqlite_store_read_back_through_the_client(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="pip install 'reasonloop[tracking-mlflow]'")
    pytest.importorskip("sqlalchemy", reason="pip install 'reasonloop[tracking-mlflow]'")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    tracker = open_tracker("mlflow", tmp_path, "proj", "exp1", "abc123")
    tracker.log({"eval/accuracy": 0.25, "stage/kept": 3.0}, 0)
    tracker.log({"eval/accuracy": 0.5, "eval/pass_at_k/pass@4": 0.75}, 1)
    tracker.close()
    # The default store is a sqlite file in the log dir.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("proj")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "exp1" and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "eval/accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.25), (1, 0.5)]
    # "@" is not allowed in an MLflow name.
    assert run.data.metrics["eval/pass_at_k/pass_4"] == 0.75
    # A resumed run continues the same MLflow run.
    again = open_tracker("mlflow", tmp_path, "proj", "exp1", "abc123")
    again.log({"eval/accuracy": 0.75}, 2)
    again.close()
    assert len(client.search_runs([experiment.experiment_id])) == 1
    history = client.get_metric_history(run.info.run_id, "eval/accuracy")
    assert [m.value for m in history] == [0.25, 0.5, 0.75]


TRACKIO_SCRIPT = """\
import sys
from pathlib import Path
from reasonloop.tracking import open_tracker

tracker = open_tracker("trackio", Path(sys.argv[1]), "proj", "exp1", "abc123")
tracker.log({"eval/accuracy": 0.25}, 0)
tracker.log({"eval/accuracy": 0.5, "stage/kept": 4.0}, 1)
tracker.close()
"""


def trackio_rows(db) -> list[tuple[str, int, dict]]:
    """``(run name, step, metrics)`` of every row in a trackio project database."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT run_name, step, metrics FROM metrics ORDER BY id").fetchall()
    return [(name, step, json.loads(metrics)) for name, step, metrics in rows]


def test_trackio_local_database_read_back(tmp_path):
    pytest.importorskip("trackio", reason="pip install 'reasonloop[tracking-trackio]'")
    import os
    import subprocess
    import sys
    from pathlib import Path

    # trackio fixes its directory when first imported: a process of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKIO_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", TRACKIO_SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = trackio_rows(tmp_path / "trackio" / "proj.db")
    assert [(name, step) for name, step, _ in rows] == [("exp1", 0), ("exp1", 1)]
    assert [m["eval/accuracy"] for _, _, m in rows] == [0.25, 0.5]
    assert rows[1][2]["stage/kept"] == 4.0 and rows[1][2]["stage"] == 1
