"""A real tiny run that logs to tensorboard: the loop's accuracy and the trainer's loss together."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

RECIPE = """\
version: 1
name: tiny
seed: 3
iterations: 1
run_dir: {run_dir}
roles:
  actor:
    model: {model}
    backend_options: {{batch_size: 16}}
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 32}}
prompt:
  template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 12, seed: 5, split: train,
           kinds: [multiplication], difficulties: [1]}}}}]
  eval: [{{name: arithmetic, options: {{count: 8, seed: 0, split: eval}}}}]
sampling: {{n: 4, chunk_size: 4}}
trainer:
  name: trl-sft
  options: {{method: full, learning_rate: 3.0e-5, epochs: 1, batch_size: 4, max_length: 128,
             logging_steps: 1}}
tracking: {{backends: [tensorboard], run_name: tiny-tb}}
"""


def test_tiny_run_logs_accuracy_and_training_loss_to_one_log_dir(tmp_path, smollm2, cli):
    pytest.importorskip("tensorboard", reason="pip install 'reasonloop[tracking-tensorboard]'")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE.format(run_dir=tmp_path / "run", model=smollm2))
    outcome = cli("run", path, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    log_dir = tmp_path / "run" / "tracking"
    mux = EventMultiplexer().AddRunsFromDirectory(str(log_dir))
    mux.Reload()
    runs = mux.Runs()
    assert set(runs) == {"loop", "train-iter-000"}

    def scalars(run: str, tag: str) -> list[tuple[int, float]]:
        return [(e.step, e.value) for e in mux.Scalars(run, tag)]

    accuracy = scalars("loop", "eval/accuracy")
    assert [step for step, _ in accuracy] == [0, 1]  # base, then iteration 0
    for stage, (_, value) in zip(("base", "iter-000"), accuracy, strict=True):
        expected = json.loads((tmp_path / "run" / stage / "eval.json").read_text())
        assert value == pytest.approx(expected["accuracy"])
    kept = sum(1 for _ in (tmp_path / "run" / "iter-000" / "selected.jsonl").open())
    assert scalars("loop", "stage/kept") == [(0, 0.0), (1, float(kept))]
    assert any(t.startswith("tokens/actor/") for t in runs["loop"]["scalars"])
    losses = scalars("train-iter-000", "train/loss")
    assert losses and all(value > 0 for _, value in losses)
