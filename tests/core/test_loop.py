"""The loop's own bookkeeping: which problems each iteration gets, what each trains on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

RECIPE = """\
version: 1
name: loop
seed: 1
iterations: 2
run_dir: {run_dir}
roles:
  actor:
    model: {model}
    backend_options: {{batch_size: 16}}
    sampling: {{temperature: 0.7, max_tokens: 24}}
prompt:
  template: "{{prompt}}\\nEnd with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 6, seed: 5, split: train,
           kinds: [addition], difficulties: [1]}}}}]
  eval: []
  problems_per_iteration: 4
sampling: {{n: 4, chunk_size: 8}}
trainer: {{name: none, restart_from_base: {restart}, examples: {examples}}}
eval: {{baseline: false}}
"""


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(tmp_path: Path, cli, model: str, restart: bool = False, examples: str = "auto") -> Path:
    recipe = tmp_path / "loop.yaml"
    recipe.write_text(
        RECIPE.format(
            run_dir=tmp_path / "run", model=model, restart=str(restart).lower(), examples=examples
        )
    )
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    return tmp_path / "run"


@pytest.mark.slow
def test_problems_per_iteration_rotates_through_the_pool(tmp_path, smollm2, cli):
    run = _run(tmp_path, cli, smollm2)
    pool = [p["id"] for p in _jsonl(run / "problems" / "train.jsonl")]
    assert len(pool) == 6

    def asked(it: int) -> list[str]:
        seen: list[str] = []
        for s in _jsonl(run / f"iter-{it:03d}" / "samples.jsonl"):
            if s["problem_id"] not in seen:
                seen.append(s["problem_id"])
        return seen

    assert sorted(asked(0)) == sorted(pool[:4])
    # The second iteration continues where the first stopped and wraps around.
    assert sorted(asked(1)) == sorted(pool[4:] + pool[:2])
    assert "reuses some" in (run / "run.log").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("examples", ["auto", "iteration"])
def test_restart_from_base_trains_on_every_or_this_iteration_selection(
    tmp_path, smollm2, cli, examples
):
    run = _run(tmp_path, cli, smollm2, restart=True, examples=examples)
    selected = [_jsonl(run / f"iter-{it:03d}" / "selected.jsonl") for it in (0, 1)]
    train = [_jsonl(run / f"iter-{it:03d}" / "train.jsonl") for it in (0, 1)]
    assert selected[0], "the seeded run keeps some examples in iteration 0"
    assert len(train[0]) == len(selected[0])
    if examples == "auto":  # restarting from base: the union of every selection so far
        assert len(train[1]) == len(selected[0]) + len(selected[1])
    else:  # the GSI paper's regime: from base, on this iteration's examples only
        # selected[0] is not empty, so this tells the two regimes apart.
        assert len(train[1]) == len(selected[1]) < len(selected[0]) + len(selected[1])
    state = json.loads((run / "state.json").read_text())
    assert "iter-001/train" in state["completed"]


def test_problem_ids_must_be_unique_across_sources(tmp_path, cli):
    recipe = tmp_path / "dup.yaml"
    recipe.write_text(
        RECIPE.format(
            run_dir=tmp_path / "run", model="unused", restart="false", examples="auto"
        ).replace(
            "  eval: []",
            "  eval: [{name: arithmetic, options: {count: 2, seed: 0, split: eval}},\n"
            "         {name: arithmetic, options: {count: 2, seed: 0, split: eval}}]",
        )
    )
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 2
    assert "data.eval: problem ids are not unique across sources" in outcome.stderr
    assert "Traceback" not in outcome.stderr


ONLINE_RECIPE = """\
version: 1
name: online
iterations: 1
roles:
  actor:
    model: unused
    system_prompt: Be brief.
prompt:
  template: "{prompt}\\nEnd with 'Answer: <number>'."
data:
  train: [{name: arithmetic, options: {count: 3, seed: 5, split: train}}]
  eval: []
trainer: {name: online-recorder}
eval: {baseline: false}
"""


class OnlineRecorder:
    """An online trainer from a plugin: it records what the loop hands it and "samples" once."""

    online = True
    changes_model = False

    def __init__(self, options):
        self.calls = RECORDED

    def train(self, data_path, base_model, output_dir, on_progress=None, *, verifier=None):
        from reasonloop.core.records import Problem, Request, Sample
        from reasonloop.core.rundir import JsonlLog

        rows = _jsonl(Path(data_path))
        problem = Problem.model_validate_json(rows[0]["problem"])
        [result] = verifier.verify([(problem, f"Answer: {problem.reference.answer}")])
        self.calls.append({"data": Path(data_path), "rows": rows, "verdict": result.verdict})
        request = Request(
            id="r", problem_id=problem.id, messages=[], plugin="trl-grpo", purpose="rollout"
        )
        JsonlLog(Path(output_dir) / "samples.jsonl", Sample).append(
            [
                Sample(
                    id="s",
                    problem_id=problem.id,
                    request=request,
                    completion="x",
                    prompt_tokens=5,
                    completion_tokens=7,
                    verdict=result.verdict,
                )
            ]
        )
        from reasonloop.core.protocols import TrainResult

        return TrainResult(model_path=None, metrics={"completion_tokens": 7})


RECORDED: list[dict] = []


def test_an_online_trainer_gets_the_prompts_and_the_verifier_instead_of_samples(run_context):
    from reasonloop import hookimpl
    from reasonloop.core.loop import Loop
    from reasonloop.core.records import Verdict

    class Plugin:
        @hookimpl
        def reasonloop_register_trainers(self, register):
            register("online-recorder", OnlineRecorder)

    RECORDED.clear()
    run = run_context(ONLINE_RECIPE, extra_plugins=(Plugin(),), start=False)
    rows = Loop(run).run_all()
    [call] = RECORDED
    d = run.run_dir.stage_dir(0)
    assert call["data"] == d / "prompts.jsonl"
    problems = _jsonl(run.run_dir.root / "problems" / "train.jsonl")
    assert [r["problem_id"] for r in call["rows"]] == [p["id"] for p in problems]
    first = call["rows"][0]
    assert first["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": problems[0]["prompt"] + "\nEnd with 'Answer: <number>'."},
    ]
    assert first["iteration"] == 0
    # The run's own verifier judged the trainer's answer.
    assert call["verdict"] == Verdict.CORRECT
    state = json.loads(run.run_dir.state_path.read_text())
    assert state["completed"] == ["iter-000/train"]
    assert not (d / "train.jsonl").exists() and not (d / "selected.jsonl").exists()
    # What the trainer generated is in the ledger of the iteration's summary.
    [row] = rows
    assert row.samples == 1 and row.tokens == 12
    assert row.compute[0]["plugin"] == "trl-grpo"


class RewardedRecorder(OnlineRecorder):
    """An online trainer that names rewards: the loop builds them and passes them to ``train``."""

    shaping_rewards = ("verifier", "bonus")

    def train(self, data_path, base_model, output_dir, on_progress=None, *, verifier, rewards):
        from reasonloop.core.records import Problem
        from reasonloop.trainers.rewards import Rollout

        self.calls.append({"rewards": rewards})
        problem = Problem.model_validate_json(_jsonl(Path(data_path))[0]["problem"])
        rollout = Rollout(problem, "Answer: 1", 3, 48, None)
        self.calls.append({"values": {k: f([rollout]) for k, f in rewards.items()}})
        raise RuntimeError("stopped mid-training")


class Bonus:
    """A plugin's reward; ``closed`` says the loop closed it after training."""

    closed = 0

    def __init__(self, run):
        self.run = run

    def __call__(self, rollouts):
        return [0.5 for _ in rollouts]

    def close(self):
        Bonus.closed += 1


def test_an_online_trainer_gets_the_rewards_it_names_built_and_closed_even_on_error(
    run_context,
):
    from reasonloop import hookimpl
    from reasonloop.core.loop import Loop

    class Plugin:
        @hookimpl
        def reasonloop_register_trainers(self, register):
            register("online-recorder", RewardedRecorder)

        @hookimpl
        def reasonloop_register_rewards(self, register):
            register("bonus", Bonus)

    RECORDED.clear()
    Bonus.closed = 0
    run = run_context(ONLINE_RECIPE, extra_plugins=(Plugin(),), start=False)
    with pytest.raises(RuntimeError, match="stopped mid-training"):
        Loop(run).run_all()
    built, called = RECORDED
    assert sorted(built["rewards"]) == ["bonus", "verifier"]
    assert built["rewards"]["bonus"].run is run
    # The built-in verifier reward and the plugin's, each on the rollout.
    assert called["values"] == {"verifier": [0.0], "bonus": [0.5]}
    assert Bonus.closed == 1


def test_a_reward_a_plugin_registers_twice_names_both_plugins(run_context):
    from reasonloop import hookimpl
    from reasonloop.errors import PluginError

    class Other:
        @hookimpl
        def reasonloop_register_rewards(self, register):
            register("format", lambda run: None)

    with pytest.raises(PluginError, match="reward 'format' is registered by both"):
        run_context(ONLINE_RECIPE.replace("online-recorder", "none"), extra_plugins=(Other(),))
