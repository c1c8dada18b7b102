from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.datasets.files import load_file, load_hub
from reasonloop.errors import UsageError

ROWS = [
    {"question": "What is 2 + 3?", "answer": 5, "level": 1},
    {"question": "What is 7 * 6?", "answer": 42, "level": 2},
    {"question": "What is 10 - 4?", "answer": 6, "level": 1},
    {"question": "What is 9 + 9?", "answer": 18, "level": 3},
]
SUFFIX = {"json": "jsonl", "parquet": "parquet", "csv": "csv"}


def write(path: Path, rows: list[dict[str, Any]], fmt: str) -> Path:
    if fmt == "json":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def load(fmt: str, path: Path, **spec: Any) -> list[Any]:
    return load_file(DatasetSpec(name=fmt, path=str(path), **spec))


@pytest.mark.parametrize("fmt", ["json", "parquet", "csv"])
def test_common_column_names_need_no_mapping(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path / f"quiz.{SUFFIX[fmt]}", ROWS, fmt)
    problems = load(fmt, path)
    assert [p.prompt for p in problems] == [r["question"] for r in ROWS]
    assert [p.reference.answer for p in problems] == ["5", "42", "6", "18"]
    # Rows without an id get one from the source name and the row index.
    assert [p.id for p in problems] == ["quiz-00000", "quiz-00001", "quiz-00002", "quiz-00003"]
    assert problems[1].metadata == {"source": "quiz", "difficulty": 2}
    assert {p.domain for p in problems} == {"math"}


@pytest.mark.parametrize("fmt", ["json", "parquet", "csv"])
def test_fields_map_problem_fields_to_columns(tmp_path: Path, fmt: str) -> None:
    rows = [
        {"uid": f"q{i}", "text": r["question"], "gold": r["answer"], "why": "because", "hard": 2}
        for i, r in enumerate(ROWS)
    ]
    path = write(tmp_path / f"mapped.{SUFFIX[fmt]}", rows, fmt)
    fields = {"id": "uid", "prompt": "text", "answer": "gold", "rationale": "why"}
    problems = load(fmt, path, fields={**fields, "difficulty": "hard"})
    assert problems[0].id == "q0"
    assert problems[0].prompt == "What is 2 + 3?"
    assert problems[0].reference.answer == "5"
    assert problems[0].reference.rationale == "because"
    assert problems[0].metadata["difficulty"] == 2


def test_a_missing_column_names_the_file_the_field_and_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "noprompt.jsonl", [{"text": "hi", "answer": 1}], "json")
    with pytest.raises(UsageError) as info:
        load("json", path)
    message = str(info.value)
    assert "noprompt.jsonl" in message
    assert "prompt" in message and "question" in message
    assert "columns found: text, answer" in message


def test_a_mapping_to_an_absent_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "quiz.jsonl", ROWS, "json")
    with pytest.raises(UsageError, match=r"fields.answer names column 'gold'.*columns found"):
        load("json", path, fields={"answer": "gold"})


def test_limit_and_offset_keep_ids_from_the_full_file(tmp_path: Path) -> None:
    path = write(tmp_path / "quiz.jsonl", ROWS, "json")
    problems = load("json", path, offset=1, limit=2)
    assert [p.id for p in problems] == ["quiz-00001", "quiz-00002"]
    assert [p.reference.answer for p in problems] == ["42", "6"]


def test_a_directory_loads_every_file_of_the_format(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", ROWS[:2], "json")
    write(tmp_path / "b.jsonl", ROWS[2:], "json")
    (tmp_path / "notes.txt").write_text("not data")
    problems = load("json", tmp_path, options={"source": "mixed"})
    assert [p.reference.answer for p in problems] == ["5", "42", "6", "18"]
    assert problems[3].id == "mixed-00003"


def test_a_broken_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "ok", "answer": 1}\n{"question": \n')
    with pytest.raises(UsageError, match=r"broken\.jsonl: could not be read"):
        load("json", path)


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load("csv", tmp_path / "absent.csv")


def test_code_rows_become_code_problems(tmp_path: Path) -> None:
    row = {
        "task_id": "t/1",
        "prompt": "def add(a, b):\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
        "entry_point": "add",
        "solution": "    return a + b\n",
    }
    (problem,) = load("json", write(tmp_path / "code.jsonl", [row], "json"))
    assert problem.id == "t/1"
    assert problem.domain == "code"
    assert problem.reference.tests == row["test"]
    assert problem.reference.entry_point == "add"
    assert problem.reference.solution == row["solution"]
    assert problem.reference.answer is None


def test_math_solutions_become_rationales_when_an_answer_exists(tmp_path: Path) -> None:
    row = {"problem": "1 + 1?", "solution": "One and one make $\\boxed{2}$.", "answer": "2"}
    (problem,) = load("json", write(tmp_path / "math.jsonl", [row], "json"))
    assert problem.reference.answer == "2"
    assert problem.reference.rationale == row["solution"]


def test_integral_floats_are_written_as_integers(tmp_path: Path) -> None:
    rows = [{"question": "a", "answer": 3.0}, {"question": "b", "answer": 2.5}]
    problems = load("csv", write(tmp_path / "floats.csv", rows, "csv"))
    assert [p.reference.answer for p in problems] == ["3", "2.5"]


def test_an_unreachable_hub_dataset_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config
    import huggingface_hub.constants

    # Offline mode fails at once instead of retrying a network that is not there.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    spec = DatasetSpec(name="hub", path="reasonloop-tests/does-not-exist")
    with pytest.raises(UsageError, match=r"'reasonloop-tests/does-not-exist'.*network"):
        load_hub(spec)


def test_unknown_options_and_empty_prompts_are_usage_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "quiz.jsonl", ROWS, "json")
    with pytest.raises(UsageError, match="unknown option"):
        load("json", path, options={"sourse": "typo"})
    blank = write(tmp_path / "blank.jsonl", [{"question": "", "answer": 1}], "json")
    with pytest.raises(UsageError, match="row 0 has an empty question"):
        load("json", blank)
