"""The critic plugin as a whole: run-start checks, the critic role, the real model end to end."""

from __future__ import annotations

import json

import pytest

from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import RecipeError


def test_max_rounds_too_few_for_training_is_named(tmp_path, run_context, critic_run):
    run, _ = critic_run(run_context, tmp_path, {}, sampling={"n": 2, "max_rounds": 2})
    with pytest.raises(RecipeError, match=r"sampling\.max_rounds: 2 is too few"):
        run.hooks.run_start(run)


def test_the_critic_role_defaults_to_the_actor_only_when_the_plugin_is_on(
    tmp_path, run_context, critic_run
):
    run, _ = critic_run(run_context, tmp_path, {})
    run.hooks.run_start(run)
    assert run.role_config("critic") is run.recipe.roles["actor"]
    off = run_context(run_dir=tmp_path / "off")
    assert "critic" not in off.role_defaults
    assert off.pm.get_plugin("critic.run") is None


@pytest.mark.slow
def test_real_model_critiques_and_refines(tmp_path, smollm2, cli, write_recipe):
    from reasonloop.hf.models import load_tokenizer
    from reasonloop.hf.tokenize import tokenize_row

    recipe = write_recipe(
        f"""\
        version: 1
        name: critic-tiny
        run_dir: {tmp_path / "run"}
        iterations: 1
        roles:
          actor:
            model: {smollm2}
            backend_options: {{batch_size: 16}}
            sampling: {{temperature: 0.7, top_p: 0.95, max_tokens: 40}}
        prompt:
          template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
        data:
          train: [{{name: arithmetic, options: {{count: 6, seed: 2, split: train,
                   kinds: [subtraction], difficulties: [2]}}}}]
          eval: [{{name: arithmetic, options: {{count: 3, seed: 0, split: eval}}}}]
        sampling: {{n: 2}}
        trainer: {{name: none}}
        eval: {{baseline: false, max_tokens: 40}}
        plugins:
          settings:
            critic: {{refinements: 1, trajectories: both, refine_rounds: 1,
                      critique_max_tokens: 48, critique_temperature: 0.7,
                      refine_unparsable: true}}
        """
    )
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    critiques = [s for s in samples if s.request.purpose == "critique"]
    wrong = {s.id for s in samples if s.request.purpose == "sample" and not s.correct}
    assert critiques and {c.request.parent_sample_id for c in critiques} <= wrong
    assert all(c.text.startswith("Step 1:") and c.completion_tokens > 0 for c in critiques)
    refinements = [s for s in samples if s.request.purpose == "refine"]
    assert refinements and all(s.verdict is not None for s in refinements)
    metrics = json.loads((run / "iter-000" / "eval.json").read_text())
    m = metrics["plugins"]["critic"]
    assert m["critiques"] >= 3 and {r["rounds"] for r in m["by_rounds"]} == {0, 1}
    assert "## Critic: critiques and refinements in training" in (run / "report.md").read_text()
    # A multi-turn example trains on the refinement only.
    tok = load_tokenizer(smollm2)
    multi = TrainingExample(
        id="x",
        problem_id="p",
        messages=[
            *refinements[0].request.messages[:-2],
            refinements[0].request.messages[-2].model_copy(update={"train": False}),
            refinements[0].request.messages[-1],
            {"role": "assistant", "content": "2 + 2 = 4.\nAnswer: 4", "train": True},
        ],
    )
    row = tokenize_row(multi.to_trl(), tok, 1024)
    trained = tok.decode([t for t in row["labels"] if t != -100])
    assert trained.startswith("2 + 2 = 4.\nAnswer: 4")
