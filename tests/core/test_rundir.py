"""The run directory: state.json as a record, atomic writes, torn and corrupt files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reasonloop.core.records import Problem
from reasonloop.core.rundir import (
    JsonlLog,
    RunDirectory,
    RunState,
    atomic_write_text,
    write_records,
)
from reasonloop.errors import UsageError

#: A state.json as runs wrote it before it was a record: a plain dict, keys
#: added as stages finished, iterations as string keys.
OLD_STATE = {
    "completed": ["base/eval", "iter-000/sample", "iter-000/select", "iter-000/train"],
    "models": {"0": "runs/r/iter-000/model"},
    "seconds": {"base/eval": 1.5, "iter-000/sample": 12.25},
    "ordered": [0],
    "adapters": {"0": "runs/r/iter-000/adapter"},
    "train_metrics": {"0": {"train_loss": 0.5, "steps": 3}},
}


def test_a_new_run_has_an_empty_state(tmp_path: Path) -> None:
    state = RunDirectory(tmp_path).load_state()
    assert state == RunState()
    assert not state.done("base/eval")


def test_state_round_trips_and_keeps_the_old_on_disk_form(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path)
    state = RunState()
    state.complete("iter-000/train", 2.0)
    state.complete("iter-000/train", 0.5)  # a resumed attempt adds its time
    state.models[0] = "m0"
    state.adapters[0] = "a0"
    state.train_metrics[0] = {"steps": 4}
    state.ordered = [0]
    run.save_state(state)
    on_disk = json.loads(run.state_path.read_text())
    assert on_disk["models"] == {"0": "m0"} and on_disk["adapters"] == {"0": "a0"}
    assert on_disk["seconds"] == {"iter-000/train": 2.5}
    assert on_disk["train_metrics"] == {"0": {"steps": 4}}
    assert run.load_state() == state


def test_an_old_state_file_loads(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path)
    run.state_path.write_text(json.dumps(OLD_STATE))
    state = run.load_state()
    assert state.done("iter-000/train") and not state.done("iter-000/eval")
    assert state.models == {0: "runs/r/iter-000/model"}
    assert state.adapters[0].endswith("adapter")
    assert state.train_metrics[0]["steps"] == 3
    assert state.ordered == [0]
    # The first state files held only these two keys.
    run.state_path.write_text('{"completed": [], "models": {}}')
    assert run.load_state() == RunState()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"completed": ["base/ev', "Invalid JSON"),
        ('{"completed": "base/eval"}', "completed"),
        ('{"models": {"zero": "m"}}', "models.zero"),
        ('{"completed": [], "complted": []}', "complted"),
    ],
)
def test_a_corrupt_state_file_is_an_error_naming_the_file(
    tmp_path: Path, text: str, named: str
) -> None:
    run = RunDirectory(tmp_path)
    run.state_path.write_text(text)
    with pytest.raises(UsageError, match="corrupt state file") as info:
        run.load_state()
    assert str(run.state_path) in str(info.value)
    assert named in str(info.value)


def test_atomic_write_leaves_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunDirectory(tmp_path)
    first = RunState(completed=["base/eval"])
    run.save_state(first)

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    second = RunState(completed=["base/eval", "iter-000/sample"])
    with pytest.raises(OSError, match="disk full"):
        run.save_state(second)
    assert run.load_state() == first
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left


def test_atomic_write_text_creates_parents_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.txt"]


def test_a_torn_last_line_is_skipped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "problems.jsonl"
    write_records(path, [Problem(id="p1", prompt="1+1"), Problem(id="p2", prompt="2+2")])
    with path.open("a") as f:
        f.write('{"id": "p3", "pro')
    log = JsonlLog(path, Problem)
    assert [p.id for p in log] == ["p1", "p2"]
    log.repair()
    assert path.read_text().endswith("\n")
    log.append([Problem(id="p3", prompt="3+3")])
    assert [p.id for p in log] == ["p1", "p2", "p3"]


def test_a_corrupt_record_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "problems.jsonl"
    path.write_text(Problem(id="p1", prompt="x").model_dump_json() + "\n{}\n")
    with pytest.raises(UsageError, match=rf"{path.name}:2: corrupt record"):
        list(JsonlLog(path, Problem))
