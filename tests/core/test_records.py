"""The records that flow through a run: ids, views, TRL rows, files datasets can read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reasonloop.core.records import (
    Message,
    Problem,
    Reference,
    Request,
    Sample,
    TrainingExample,
    Verdict,
    stable_id,
)
from reasonloop.core.rundir import read_jsonl, write_records


def _problem() -> Problem:
    return Problem(
        id="p1",
        prompt="What is 2 + 3?",
        reference=Reference(answer="5", rationale="2 + 3 = 5"),
        metadata={"source": "arithmetic", "difficulty": 2},
    )


def _sample(verdict: Verdict | None = Verdict.CORRECT, prefill: str | None = None) -> Sample:
    request = Request(
        id="r1",
        problem_id="p1",
        messages=[Message(role="user", content="What is 2 + 3?")],
        prefill=prefill,
        plugin="guidance",
        how="state-reset",
        parent_sample_id="s0",
        round=2,
    )
    return Sample(
        id="s1",
        problem_id="p1",
        request=request,
        completion="The answer is 5.",
        verdict=verdict,
        evidence={"extracted": "5"},
    )


def test_stable_id_depends_on_every_part_and_nothing_else():
    assert stable_id("a", 1) == stable_id("a", 1)
    assert stable_id("a", 1) != stable_id("a", 2)
    # Parts are separated, so moving a boundary changes the id.
    assert stable_id("ab", "c") != stable_id("a", "bc")
    assert len(stable_id("x")) == 16
    assert len(stable_id("x", length=8)) == 8


def test_records_refuse_unknown_keys():
    with pytest.raises(ValidationError, match="extra"):
        Problem(id="p", prompt="q", answer="5")


def test_problem_metadata_views_and_evaluation_view():
    problem = _problem()
    assert problem.source == "arithmetic"
    assert problem.difficulty == "2"
    assert Problem(id="q", prompt="?").difficulty == "all"
    hidden = problem.without_reference()
    assert hidden.reference is None
    assert problem.reference is not None  # the original is untouched


def test_sample_text_includes_the_prefill_and_redaction_hides_the_verdict():
    sample = _sample(prefill="Step 1: 2 + 3. ")
    assert sample.text == "Step 1: 2 + 3. The answer is 5."
    assert sample.correct
    assert sample.role == "actor"
    redacted = sample.redacted()
    assert redacted.verdict is None and redacted.evidence == {}
    assert not redacted.correct
    assert sample.verdict == Verdict.CORRECT


def test_training_example_with_only_the_last_turn_trained_is_prompt_completion():
    example = TrainingExample(
        id="e1",
        problem_id="p1",
        messages=[
            Message(role="user", content="q"),
            Message(role="assistant", content="a"),
        ],
    )
    assert example.to_trl() == {
        "prompt": [{"role": "user", "content": "q"}],
        "completion": [{"role": "assistant", "content": "a"}],
    }


def test_training_example_chain_names_its_trained_turns():
    messages = [
        Message(role="user", content="q"),
        Message(role="assistant", content="wrong", train=False),
        Message(role="user", content="a critique"),
        Message(role="assistant", content="right", train=True),
    ]
    row = TrainingExample(id="e", problem_id="p", messages=messages).to_trl()
    # Only the last turn trains, so it is still prompt-completion with the chain as prompt.
    assert [m["content"] for m in row["prompt"]] == ["q", "wrong", "a critique"]
    both = [m.model_copy(update={"train": m.role == "assistant"}) for m in messages]
    row = TrainingExample(id="e", problem_id="p", messages=both).to_trl()
    assert "train_turns" not in row  # exactly the assistant turns: the trainer's default
    first_only = [
        m.model_copy(update={"train": i == 1}) if m.role == "assistant" else m
        for i, m in enumerate(messages)
    ]
    row = TrainingExample(id="e", problem_id="p", messages=first_only).to_trl()
    assert row["train_turns"] == [1]
    assert [m["content"] for m in row["messages"]] == ["q", "wrong", "a critique", "right"]


def test_records_round_trip_through_jsonl(tmp_path):
    path = tmp_path / "samples.jsonl"
    assert write_records(path, [_sample(), _sample(Verdict.WRONG)]) == 2
    back = read_jsonl(path, Sample)
    assert [s.verdict for s in back] == [Verdict.CORRECT, Verdict.WRONG]
    assert back[0].request.how == "state-reset"
    assert back[0] == _sample()


def test_sample_and_training_files_load_with_datasets(tmp_path):
    """Every record file is JSON lines that ``datasets.load_dataset("json")`` reads as is."""
    datasets = pytest.importorskip("datasets")
    write_records(tmp_path / "samples.jsonl", [_sample(), _sample(Verdict.WRONG)])
    example = TrainingExample(
        id="e1",
        problem_id="p1",
        messages=[Message(role="user", content="q"), Message(role="assistant", content="a")],
    )
    write_records(tmp_path / "train.jsonl", [example.to_trl()])
    samples = datasets.load_dataset(
        "json", data_files=str(tmp_path / "samples.jsonl"), split="train"
    )
    assert samples.num_rows == 2
    assert samples[1]["verdict"] == "wrong"
    assert samples[0]["request"]["how"] == "state-reset"
    train = datasets.load_dataset("json", data_files=str(tmp_path / "train.jsonl"), split="train")
    assert train[0]["completion"] == [{"role": "assistant", "content": "a"}]
