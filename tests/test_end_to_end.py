"""The whole loop with the real packaged model, real training and a real kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TINY = """\
version: 1
name: tiny
seed: 3
iterations: {iterations}
run_dir: {run_dir}
roles:
  actor:
    model: {model}
    backend_options: {{batch_size: 16}}
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 32}}
prompt:
  template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 24, seed: 5, split: train,
           kinds: [multiplication], difficulties: [1]}}}}]
  eval: [{{name: arithmetic, options: {{count: 12, seed: 0, split: eval}}}}]
  problems_per_iteration: 12
sampling: {{n: 4, chunk_size: 4}}
trainer:
  name: trl-sft
  options: {{method: full, learning_rate: 3.0e-5, epochs: 1, batch_size: 4, max_length: 128}}
"""


def tiny_recipe(tmp_path: Path, model: str, iterations: int = 1) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(iterations=iterations, run_dir=tmp_path / "run", model=model))
    return path


def test_tiny_run_end_to_end(tmp_path, smollm2, cli):
    recipe = tiny_recipe(tmp_path, smollm2)
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    state = json.loads((run / "state.json").read_text())
    assert state["completed"] == [
        "base/eval",
        "iter-000/sample",
        "iter-000/select",
        "iter-000/train",
        "iter-000/eval",
    ]
    samples = [json.loads(line) for line in (run / "iter-000" / "samples.jsonl").open()]
    assert len(samples) == 12 * 4
    assert {s["verdict"] for s in samples} <= {"correct", "wrong", "unparsable"}
    correct = sum(s["verdict"] == "correct" for s in samples)
    selected = (run / "iter-000" / "selected.jsonl").read_text().splitlines()
    assert 0 < len(selected) <= min(correct, 12 * 2)
    rows = [json.loads(line) for line in (run / "iter-000" / "train.jsonl").open()]
    assert rows[0]["completion"][0]["content"].rstrip().split("\n")[-1].startswith("Answer: ")
    assert (run / "iter-000" / "model" / "config.json").exists()
    assert state["models"]["0"].endswith("model")
    for stage in ("base", "iter-000"):
        metrics = json.loads((run / stage / "eval.json").read_text())
        assert metrics["problems"] == 12
        assert set(metrics["by"]["difficulty"]) <= {"1", "2", "3"}
        assert metrics["compute"][0]["role"] == "actor"
    iter_metrics = json.loads((run / "iter-000" / "eval.json").read_text())
    assert iter_metrics["model"] == state["models"]["0"]
    report = (run / "report.md").read_text()
    assert "| base |" in report and "| iter-000 |" in report
    assert (run / "accuracy.png").stat().st_size > 1000
    assert "held-out accuracy" in outcome.stdout


def _launch(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "REASONLOOP_NO_ENTRYPOINTS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "reasonloop", *args, "--no-progress"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("kill point never reached")


def _completed(run: Path) -> list[str]:
    try:
        return json.loads((run / "state.json").read_text())["completed"]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_kill_at_several_points_then_resume(tmp_path, smollm2):
    recipe = tiny_recipe(tmp_path, smollm2)
    run = tmp_path / "run"
    log = tmp_path / "out.log"
    samples = run / "iter-000" / "samples.jsonl"
    kill_points = [
        ("mid-sampling", lambda: len(_lines(samples)) >= 8),
        ("mid-training", lambda: "iter-000/select" in _completed(run)),
        ("mid-eval", lambda: len(_lines(run / "iter-000" / "eval_samples.jsonl")) >= 1),
    ]
    kept_before: list[str] = []
    for i, (name, condition) in enumerate(kill_points):
        args = ["run", str(recipe)] if i == 0 else ["resume", str(run)]
        killed = _kill_when(_launch(args, log), condition)
        assert killed, f"run finished before the {name} kill point:\n{log.read_text()[-2000:]}"
        now = [ln for ln in _lines(samples) if ln.strip()]
        # Nothing verified before a kill is lost or rewritten.
        assert now[: len(kept_before)] == kept_before, name
        kept_before = now
    proc = _launch(["resume", str(run)], log)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    final = [json.loads(ln) for ln in _lines(samples)]
    assert _lines(samples)[: len(kept_before)] == kept_before
    ids = [s["id"] for s in final]
    assert len(ids) == len(set(ids)) == 12 * 4  # nothing repeated, nothing missing
    per_request = Counter(s["request"]["id"] for s in final)
    assert set(per_request.values()) == {4}
    state = json.loads((run / "state.json").read_text())
    assert state["completed"].count("iter-000/sample") == 1
    assert "iter-000/eval" in state["completed"]
    assert json.loads((run / "iter-000" / "eval.json").read_text())["problems"] == 12
    eval_ids = [json.loads(ln)["id"] for ln in _lines(run / "iter-000" / "eval_samples.jsonl")]
    assert len(eval_ids) == len(set(eval_ids)) == 12
