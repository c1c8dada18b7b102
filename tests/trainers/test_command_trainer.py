"""The command trainer with real subprocesses, and the trainer that trains nothing."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from reasonloop.core.protocols import Trainer
from reasonloop.errors import ReasonloopError, UsageError
from reasonloop.trainers.command import LOG_NAME, CommandTrainer
from reasonloop.trainers.none import NoneTrainer

#: Copies the base model directory to OUTPUT/model and records what it was given.
COPY_MODEL = """
import json, os, shutil, sys
base, data, out = sys.argv[1:4]
print("training on", open(data).read().count("\\n"), "rows")
shutil.copytree(base, os.path.join(out, "model"))
with open(os.path.join(out, "model", "seen.json"), "w") as f:
    json.dump({"data": data, "env": os.environ.get("TRAIN_FLAG")}, f)
"""


@pytest.fixture
def base_model(tmp_path: Path) -> Path:
    path = tmp_path / "base model"  # a space, to check quoting
    path.mkdir()
    (path / "config.json").write_text("{}", encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": []}\n{"messages": []}\n', encoding="utf-8")
    return path


def test_is_a_trainer() -> None:
    assert isinstance(CommandTrainer({"command": ["true"]}), Trainer)
    assert isinstance(NoneTrainer({}), Trainer)


def test_argv_command_gets_placeholders_env_and_log(
    tmp_path: Path, base_model: Path, data: Path
) -> None:
    trainer = CommandTrainer(
        {
            "command": [sys.executable, "-c", COPY_MODEL, "{base_model}", "{data}", "{output_dir}"],
            "env": {"TRAIN_FLAG": "from {output_dir}"},
        }
    )
    progress: list[tuple[int, int]] = []
    out = tmp_path / "out"
    result = trainer.train(data, str(base_model), out, lambda d, t: progress.append((d, t)))

    assert result.model_path == str(out / "model")
    seen = json.loads((out / "model" / "seen.json").read_text())
    assert seen == {"data": str(data), "env": f"from {out}"}
    assert (out / "model" / "config.json").exists()
    assert "training on 2 rows" in (out / LOG_NAME).read_text()
    assert result.metrics["log"] == str(out / LOG_NAME)
    assert progress == [(0, 1), (1, 1)]


def test_shell_string_quotes_values_and_keeps_other_braces(
    tmp_path: Path, base_model: Path, data: Path
) -> None:
    python = shlex.quote(sys.executable)
    script = "import sys; open(sys.argv[1] + '/done', 'w').write(str({'ok': 1}))"
    command = (
        f"cp -r {{base_model}} {{output_dir}}/ckpt"
        f" && {python} -c {shlex.quote(script)} {{output_dir}}/ckpt"
    )
    trainer = CommandTrainer(
        {"command": command, "model_path": "{output_dir}/ckpt", "adapter_path": "{output_dir}/a"}
    )
    out = tmp_path / "out dir"
    result = trainer.train(data, str(base_model), out)

    assert result.model_path == str(out / "ckpt")
    assert result.adapter_path == str(out / "a")
    assert (out / "ckpt" / "done").read_text() == "{'ok': 1}"


def test_failure_names_exit_code_and_output_tail(tmp_path: Path, data: Path) -> None:
    script = "import sys\nfor i in range(50): print('line', i)\nsys.exit(3)"
    trainer = CommandTrainer({"command": [sys.executable, "-c", script]})
    with pytest.raises(ReasonloopError, match="exit code 3") as info:
        trainer.train(data, "base", tmp_path / "out")
    message = str(info.value)
    assert "line 49" in message
    assert "line 10\n" not in message  # only the tail
    assert not isinstance(info.value, UsageError)


def test_missing_model_path_is_a_clear_error(tmp_path: Path, data: Path) -> None:
    trainer = CommandTrainer({"command": [sys.executable, "-c", "print('saved elsewhere')"]})
    with pytest.raises(ReasonloopError, match=r"wrote no model at .*model") as info:
        trainer.train(data, "base", tmp_path / "out")
    assert "saved elsewhere" in str(info.value)


def test_timeout_kills_the_command_and_its_children(tmp_path: Path, data: Path) -> None:
    marker = tmp_path / "child-finished"
    # The shell's child would write the marker after 2 s unless it is killed too.
    command = f"sleep 2 && touch {shlex.quote(str(marker))}"
    trainer = CommandTrainer({"command": command, "timeout": 0.3})
    start = time.perf_counter()
    with pytest.raises(ReasonloopError, match=r"timed out after 0\.3 s"):
        trainer.train(data, "base", tmp_path / "out")
    assert time.perf_counter() - start < 1.5
    time.sleep(2.2)
    assert not marker.exists()


def test_missing_program_is_a_usage_error(tmp_path: Path, data: Path) -> None:
    trainer = CommandTrainer({"command": ["no-such-training-program-xyz", "{data}"]})
    with pytest.raises(UsageError, match="no-such-training-program-xyz"):
        trainer.train(data, "base", tmp_path / "out")


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="comand"):
        CommandTrainer({"comand": ["true"]})
    with pytest.raises(ValidationError, match="command"):
        CommandTrainer({})
    with pytest.raises(ValidationError, match="timeout"):
        CommandTrainer({"command": "true", "timeout": 0})


def test_none_trainer_keeps_the_model_and_counts_examples(tmp_path: Path, data: Path) -> None:
    result = NoneTrainer({}).train(data, "base", tmp_path / "out")
    assert result.model_path is None
    assert result.metrics["examples"] == 2
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValidationError, match="epochs"):
        NoneTrainer({"epochs": 1})


def test_the_command_learns_whether_the_data_is_ordered(
    tmp_path: Path, base_model: Path, data: Path
) -> None:
    script = (
        "import os, shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2]); "
        "open(sys.argv[2] + '/ordered', 'w').write(os.environ['REASONLOOP_DATA_ORDERED'])"
    )
    trainer = CommandTrainer(
        {"command": [sys.executable, "-c", script, "{base_model}", "{output_dir}/model"]}
    )
    for ordered, flag in ((True, "1"), (False, "0")):
        out = tmp_path / f"out-{flag}"
        result = trainer.train(data, str(base_model), out, ordered=ordered)
        assert (Path(result.model_path) / "ordered").read_text() == flag
