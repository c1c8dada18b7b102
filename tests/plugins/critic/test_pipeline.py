"""The critique-data pipeline with the real model: annotate, filter, train the critic, use it."""

from __future__ import annotations

import json

import pytest

from reasonloop.core.lineage import SampleTree
from reasonloop.core.loop import Loop
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.plugins.critic.rounds import critique_of


@pytest.mark.slow
def test_the_packaged_model_annotates_and_the_filter_keeps_what_helped(
    tmp_path, smollm2, cli, tiny_recipe
):
    recipe = tiny_recipe(
        {
            "name": "critique-data-tiny",
            "seed": 0,
            "roles.annotator": {
                "model": smollm2,
                "backend_options": {"batch_size": 16},
                "sampling": {"temperature": 0.7, "max_tokens": 64},
            },
            "data": {"train": [{"name": "arithmetic", "options": {
                "count": 3, "seed": 4, "split": "train", "difficulties": [1, 2]}}]},
            "sampling": {"n": 2},
            "plugins": {"settings": {"critic": {
                "annotator": True, "critiques_per_problem": "all", "annotate_correct": 1,
                "refinements": 1, "test_time": "off"}}},
        }
    )  # fmt: skip
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    critiques = [s for s in samples if s.request.purpose in ("critique", "critique-correct")]
    assert critiques and {c.request.role for c in critiques} == {"annotator"}
    assert all("the correct final answer is" in c.request.messages[-1].content for c in critiques)
    tree = SampleTree(samples)
    for c in critiques:
        assert tree.parent(c).correct is (c.request.purpose == "critique-correct")

    out = run / "critic" / "train.jsonl"
    outcome = cli("critic-data", run, "-o", out, "--format", "annotated")
    assert outcome.exit_code == 0, outcome.stderr
    examples = read_jsonl(out.with_name("train.examples.jsonl"), TrainingExample)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(examples)
    of_wrong = sum(c.request.purpose == "critique" for c in critiques)
    assert f"of {of_wrong} critiques of wrong answers" in outcome.stdout
    by_id = {s.id: s for s in samples}
    for ex, row in zip(examples, rows, strict=True):
        c = by_id[ex.sample_id]
        parsed = critique_of(c)
        assert parsed.parsed and ex.metadata["role"] == "critic"
        assert "correct final answer" not in row["prompt"][0]["content"]
        if c.request.purpose == "critique-correct":
            assert parsed.accepts
        else:
            assert not parsed.accepts
            assert any(r.correct for r in tree.children(c))


@pytest.mark.slow
def test_a_critic_trained_on_filtered_critiques_serves_in_refine(
    tmp_path, smollm2, cli, write_recipe, run_context, critic_run
):
    """Scripted critiques (known to pass the filter) train the real model as the critic."""
    roles = {
        "actor": {"backend": "scripted", "model": "actor"},
        "critic": {"backend": "transformers", "model": smollm2},
    }
    run, _ = critic_run(
        run_context,
        tmp_path,
        {"annotator": True, "annotate_correct": 1},
        data={"train": [{"name": "twos"}]},
        iterations=1,
        roles=roles,
    )
    Loop(run).run_all()
    out = tmp_path / "critic" / "train.jsonl"
    model_dir = tmp_path / "critic" / "model"
    outcome = cli(
        "critic-data", tmp_path, "-o", out, "--format", "annotated",
        "--train", model_dir, "--trainer", "trl-sft",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    assert "trained the critic" in outcome.stdout
    trained = outcome.stdout.split("trained the critic: ")[1].split(";")[0]
    assert (tmp_path / "critic").exists() and trained.startswith(str(model_dir))

    recipe = write_recipe(
        f"""\
        version: 1
        name: refine-with-trained-critic
        run_dir: {tmp_path / "eval"}
        roles:
          actor: {{model: {smollm2}, sampling: {{max_tokens: 32}}}}
          critic: {{backend: transformers, model: {trained}}}
        prompt:
          template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
        data:
          eval: [{{name: arithmetic, options: {{count: 2, seed: 0, split: eval}}}}]
        eval: {{max_tokens: 32}}
        plugins:
          settings:
            critic: {{refine_rounds: 1, critique_max_tokens: 32, stop_when_accepted: false}}
        """
    )
    outcome = cli("eval", recipe, "--no-progress", "--run-dir", tmp_path / "eval")
    assert outcome.exit_code == 0, outcome.stderr
    samples = list(JsonlLog(tmp_path / "eval" / "base" / "eval_samples.jsonl", Sample))
    critiques = [s for s in samples if s.request.purpose == "critique"]
    assert len(critiques) == 2 and all(c.completion_tokens > 0 for c in critiques)
    m = json.loads((tmp_path / "eval" / "base" / "eval.json").read_text())["plugins"]["critic"]
    assert m["tokens"]["critic"] > 0 and len(m["by_rounds"]) == 2
