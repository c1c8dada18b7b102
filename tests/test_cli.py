from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from reasonloop import hookimpl
from reasonloop.core.plugins import make_plugin_manager
from reasonloop.errors import ExitCode, PluginError

GOOD = """\
version: 1
name: cli
roles:
  actor: {model: some/model}
data:
  eval: [{name: arithmetic, options: {count: 4}}]
"""


def test_validate_ok(cli, write_recipe):
    outcome = cli("validate", write_recipe(GOOD))
    assert outcome.exit_code == 0
    assert "ok" in outcome.stdout


def test_broken_recipe_exits_2_with_one_clear_message(cli, write_recipe):
    path = write_recipe(GOOD + "trainer: {name: trl-sft, epochs: 3}\n")
    outcome = cli("validate", path)
    assert outcome.exit_code == 2
    assert "trainer.epochs: unknown key" in outcome.stderr
    assert str(path.name) in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_unknown_names_are_caught_before_running(cli, write_recipe):
    path = write_recipe(GOOD)
    outcome = cli("validate", path, "--set", "trainer.name=magic")
    assert outcome.exit_code == 2
    assert f"{path}: trainer.name: unknown trainer 'magic' (known:" in outcome.stderr
    outcome = cli("validate", path, "--set", "trainer.name=trl-stf")
    assert "unknown trainer 'trl-stf'; did you mean 'trl-sft'?" in outcome.stderr
    outcome = cli("validate", path, "--set", "data.eval.0.name=nope")
    assert outcome.exit_code == 2
    assert f"{path}: data.eval.0.name: unknown dataset 'nope'" in outcome.stderr


def test_schema_is_json_schema(cli):
    outcome = cli("schema")
    schema = json.loads(outcome.stdout)
    assert schema["title"] == "Recipe"
    assert "roles" in schema["properties"] and "version" in schema["required"]


def test_plugins_lists_builtins_and_hooks(cli):
    outcome = cli("plugins")
    assert outcome.exit_code == 0
    for name in ("selfimprove", "backends", "trainers", "verifiers", "datasets"):
        assert name in outcome.stdout
    assert "round_requests" in outcome.stdout


def test_plugins_json_names_what_each_plugin_registers(cli):
    outcome = cli("plugins", "--json")
    assert outcome.exit_code == 0
    rows = {row["name"]: row for row in json.loads(outcome.stdout)}
    trainers = rows["trainers"]["registers"]["trainers"]
    assert trainers == sorted(trainers) and {"command", "none", "trl-sft", "trl-grpo"} <= set(
        trainers
    )
    assert rows["trainers"]["essential"] and not rows["critic"]["essential"]
    critic = rows["critic"]["registers"]
    assert critic["settings"] == ["critic"]
    assert critic["commands"] == ["critic-data"]
    assert critic["raters"] == ["critic"]
    assert rows["guidance"]["registers"]["commands"] == ["guidance-compare"]
    assert "commands" not in rows["raters"]["registers"]
    table = cli("plugins").stdout
    assert "critic-data" in table and "essential" in table


def test_env_reports_versions(cli):
    outcome = cli("env")
    assert "python:" in outcome.stdout and "pluggy:" in outcome.stdout
    assert "plugin selfimprove" in outcome.stdout


def test_resume_and_report_need_a_run_directory(cli, tmp_path):
    assert cli("resume", tmp_path).exit_code == 2
    outcome = cli("report", tmp_path)
    assert outcome.exit_code == 2 and "not a run directory" in outcome.stderr


def test_ctrl_c_exits_with_interrupted(cli, write_recipe, monkeypatch):
    import reasonloop.core.recipe

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reasonloop.core.recipe, "load_recipe", interrupted)
    outcome = cli("validate", write_recipe(GOOD))
    assert outcome.exit_code == 3
    assert "interrupted" in outcome.stderr


def test_run_refuses_to_overwrite_an_existing_run(cli, write_recipe, tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "state.json").write_text('{"completed": []}')
    outcome = cli("run", write_recipe(GOOD), "--run-dir", run_dir)
    assert outcome.exit_code == 2
    assert "reasonloop resume" in outcome.stderr


def test_verify_math_file_with_a_malformed_line(cli, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"id": "a", "completion": "so 3 + 4 = 7.\nAnswer: 7", "answer": "7"})
        + "\n"
        + "{not json\n"
        + json.dumps({"id": "b", "completion": "The answer is \\boxed{0.5}", "answer": "1/2"})
        + "\n"
        + json.dumps({"id": "c", "completion": "I cannot say", "answer": "3"})
        + "\n"
        + json.dumps({"id": "d", "completion": "Answer: 8"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    outcome = cli("verify", rows, "--domain", "math", "-o", out)
    assert outcome.exit_code == 0
    assert "rows.jsonl:2:" in outcome.stderr and "rows.jsonl:5:" in outcome.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {r["id"]: r for r in results if r["id"]}
    assert by_id["a"] == {"id": "a", "correct": True, "verdict": "correct", "extracted": "7"}
    assert by_id["b"]["correct"] is True
    assert by_id["c"]["verdict"] == "unparsable"
    assert by_id["d"]["verdict"] == "error" and "answer" in by_id["d"]["error"]
    assert len(results) == 5


def test_console_script_runs_as_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "reasonloop", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in (
        "run",
        "resume",
        "validate",
        "schema",
        "eval",
        "verify",
        "report",
        "plugins",
        "env",
    ):
        assert command in result.stdout


def test_convert_packaged_gguf_to_a_loadable_checkpoint(cli, tmp_path, smollm2):
    from reasonloop.hf.models import load_causal_lm

    target = tmp_path / "smollm2"
    outcome = cli("convert", smollm2, target)
    assert outcome.exit_code == 0, outcome.stderr
    assert (target / "model.safetensors").exists() and (target / "tokenizer.json").exists()
    model = load_causal_lm(str(target))
    assert model.config.num_hidden_layers == 30
    again = cli("convert", smollm2, target)
    assert again.exit_code == 2 and "not empty" in again.stderr


def test_misspelt_trainer_option_fails_at_validate_not_after_sampling(cli, write_recipe):
    outcome = cli("validate", write_recipe(GOOD), "--set", "trainer.options.learnig_rate=0.1")
    assert outcome.exit_code == 2
    assert "trainer.options.learnig_rate: unknown key" in outcome.stderr
    assert "Traceback" not in outcome.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "No such command 'nosuch'"),
        (["run"], "Missing argument"),
        (["validate", "a.yaml", "extra"], "unexpected extra argument"),
        (["run", "a.yaml", "--no-such-option"], "No such option"),
    ],
)
def test_command_line_mistakes_exit_2_without_a_traceback(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "reasonloop", *args], capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# -- commands from plugins (reasonloop_register_commands) ------------------------


class Greeter:
    """A plugin object that adds one command."""

    __name__ = "greeter"

    def __init__(self, command: str = "greet"):
        self.command = command

    @hookimpl
    def reasonloop_register_commands(self, cli):
        @cli.command(self.command)
        def greet(name: str = "world") -> None:
            """Say hello."""
            typer.echo(f"hello {name}")


def test_built_in_plugins_add_their_commands():
    from reasonloop.cli import PLUGIN_COMMANDS, app

    assert PLUGIN_COMMANDS == {"critic-data": "critic", "guidance-compare": "guidance"}
    assert {"critic-data", "guidance-compare"} <= set(typer.main.get_command(app).commands)


def test_a_plugin_command_runs_and_its_owner_is_known(capsys):
    from reasonloop.cli import add_plugin_commands

    cli = typer.Typer()
    cli.command("ping")(lambda: typer.echo("pong"))
    owners = add_plugin_commands(cli, make_plugin_manager(extra_plugins=[Greeter()]))
    assert owners == {"critic-data": "critic", "guidance-compare": "guidance", "greet": "greeter"}
    typer.main.get_command(cli).main(["greet", "--name", "loop"], standalone_mode=False)
    assert capsys.readouterr().out == "hello loop\n"


@pytest.mark.parametrize(("taken", "first"), [("critic-data", "critic"), ("ping", "reasonloop")])
def test_a_command_name_taken_twice_names_the_plugin(taken, first):
    from reasonloop.cli import add_plugin_commands

    cli = typer.Typer()
    cli.command("ping")(lambda: None)
    with pytest.raises(PluginError, match=f"'greeter' adds the command '{taken}'.*'{first}'"):
        add_plugin_commands(cli, make_plugin_manager(extra_plugins=[Greeter(taken)]))


def test_blocking_a_plugin_in_the_environment_removes_its_command():
    env = {**os.environ, "REASONLOOP_DISABLE_PLUGINS": "critic"}
    run = [sys.executable, "-m", "reasonloop"]
    gone = subprocess.run([*run, "critic-data", "--help"], capture_output=True, text=True, env=env)
    assert gone.returncode == 2 and "No such command 'critic-data'" in gone.stderr
    kept = subprocess.run([*run, "guidance-compare", "--help"], capture_output=True, text=True)
    assert kept.returncode == 0 and "--output" in kept.stdout


def test_plugins_that_fail_to_load_stop_every_command_with_a_clear_error(cli, monkeypatch):
    import reasonloop.cli

    error = PluginError("plugin 'x' failed to import: boom; block it with ...")
    monkeypatch.setattr(reasonloop.cli, "_PLUGIN_ERROR", error)
    outcome = cli("--help")
    assert outcome.exit_code == ExitCode.PLUGIN_ERROR
    assert "plugin 'x' failed to import" in outcome.stderr and "Traceback" not in outcome.stderr


def test_the_run_summary_prints_each_accuracy_with_its_interval(capsys):
    from reasonloop.cli import _print_summary
    from reasonloop.core.report import StageSummary

    base = StageSummary(
        stage="base", iteration=None, accuracy=0.26, problems=200, interval=[0.204, 0.325]
    )
    rows = [base, StageSummary(stage="iter-000", iteration=0, samples=8)]  # not evaluated yet
    _print_summary(rows)
    text = capsys.readouterr().out
    assert "26.0% [20.4, 32.5]" in text and "200" in text
    assert "iter-000" in text and "held-out accuracy with its 95% interval" in text
