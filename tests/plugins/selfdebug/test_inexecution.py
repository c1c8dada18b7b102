"""In-execution debugging through the loop: the trace gate, verdict turns, fix turns, figures."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.plugins.selfdebug.prompts import call_in_test

WRITTEN = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 5"]


def by_purpose(path) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for s in JsonlLog(path, Sample):
        out[s.request.purpose].append(s)
    return out


def test_verdict_turn_then_fix_turn_and_a_program_judged_correct_is_kept(
    tmp_path, code_data, run_context, scripted
):
    run = scripted.run_loop(run_context, tmp_path, code_data, mode="in", trajectories="chain")
    got = by_purpose(run / "iter-000" / "samples.jsonl")
    programs = {s.id: s for s in got["sample"]}
    # 6 buggy programs traced and judged wrong, 6 revisions; the revisions
    # are traced too, judged correct and kept: no second revision.
    assert len(got["verdicts"]) == 12 and len(got["debug"]) == 6
    first_turns = [v for v in got["verdicts"] if v.request.parent_sample_id in programs]
    assert len(first_turns) == 6
    for v in first_turns:
        assert v.request.how == "trace-review" and not v.request.answers_problem
        assert v.verdict is None  # a verdict reply is not an answer
        feedback = v.request.messages[-1].content
        call = call_in_test(WRITTEN[v.request.meta["traced_test"]], "add")
        assert f"runs on `{call}`" in feedback and "[Block 0]" in feedback
        assert "expected" not in feedback.lower() and "fails" not in feedback
        assert v.request.meta["blocks"] == [0] and v.request.meta["self_tests_passed"] == "1/3"
    # Every self-written test's input gets drawn, the wrong one's too.
    assert {v.request.meta["traced_test"] for v in got["verdicts"]} == {0, 1, 2}
    for d in got["debug"]:
        assert d.request.how == "debug-in" and d.correct
        assert d.request.parent_sample_id in programs  # the program, not the verdict reply
        assert d.request.meta["block_verdicts"] == {
            "outcome": "wrong",
            "correct": [],
            "wrong": [0],
            "unknown_blocks": 0,
        }
        verdict_turn = d.request.messages[-2]
        assert verdict_turn.role == "assistant" and verdict_turn.content.startswith("[Block 0]")
        assert d.request.messages[-1].content.startswith("Now fix the function")
    # Multi-turn examples: the failed attempt and the verdicts carry no loss.
    example = read_jsonl(run / "iter-000" / "selected.jsonl", TrainingExample)[0]
    roles = [m.role for m in example.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert [m.train for m in example.messages if m.role == "assistant"] == [False, False, True]
    sd = json.loads((run / "iter-000" / "eval.json").read_text())["plugins"]["selfdebug"]
    assert (sd["trace"], sd["all_correct"], sd["fixed"], sd["broken"]) == ("all", "keep", 6, 0)
    v = sd["verdicts"]
    assert v["traced"] == 12 and v["traced_passing_self_tests"] == 0
    assert v["outcomes"] == {"all-correct": 6, "wrong": 6, "incomplete": 0, "unparsable": 0}
    assert v["on_correct_programs"]["all-correct"] == 6 and v["on_wrong_programs"]["wrong"] == 6
    report = (run / "report.md").read_text()
    assert (
        "In-execution verdicts" in report
        and "| iter-000 | 12 | 0 | 6 | 6 | 0 | 0 | 0 | 0 |" in report
    )


@pytest.mark.parametrize(
    ("trace", "all_correct", "verdicts", "revisions"),
    [("failing", "keep", 0, 0), ("all", "keep", 6, 0), ("all", "revise", 6, 6)],
)
def test_the_trace_gate_on_programs_that_pass_their_self_tests(
    tmp_path, code_data, run_context, scripted, trace, all_correct, verdicts, revisions
):
    """``failing`` never looks at a program its own tests pass; ``all`` traces it too."""
    scripted.ScriptedModel.first = scripted.FIXED
    scripted.ScriptedModel.written = scripted.RIGHT_TESTS
    run = scripted.run_loop(
        run_context, tmp_path, code_data, mode="in", rounds=1, trace=trace, all_correct=all_correct
    )
    got = by_purpose(run / "iter-000" / "eval_samples.jsonl")
    assert len(got["verdicts"]) == verdicts and len(got["debug"]) == revisions
    assert all(v.request.meta["self_tests_passed"] == "2/2" for v in got["verdicts"])
    sd = json.loads((run / "iter-000" / "eval.json").read_text())["plugins"]["selfdebug"]
    assert sd["verdicts"]["traced_passing_self_tests"] == verdicts
    assert sd["final_pass@1"] == 1.0


def test_failing_gate_traces_a_failing_test_input(tmp_path, code_data, run_context, scripted):
    run = scripted.run_loop(run_context, tmp_path, code_data, mode="in", trace="failing")
    got = by_purpose(run / "iter-000" / "samples.jsonl")
    # a - b passes add(0, 0) == 0 only; a + b fails add(2, 2) == 5 only.
    buggy = [v for v in got["verdicts"] if v.request.meta["self_tests_passed"] == "1/3"]
    fixed = [v for v in got["verdicts"] if v.request.meta["self_tests_passed"] == "2/3"]
    assert len(buggy) == 6 and len(fixed) == 6
    assert {v.request.meta["traced_test"] for v in buggy} <= {0, 2}
    assert {v.request.meta["traced_test"] for v in fixed} == {2}


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("Looks fine to me, nothing to change.", "unparsable"),
        ("[Block 7]: correct\n[Block 99999]: correct", "unparsable"),
        ("", "unparsable"),
        ("[Block 0] [Block 0] [Block 0] " * 2000, "unparsable"),
    ],
)
def test_unreadable_verdicts_are_counted_and_the_program_is_revised(
    tmp_path, code_data, run_context, scripted, reply, outcome
):
    scripted.ScriptedModel.judge = staticmethod(lambda program: reply)
    run = scripted.run_loop(run_context, tmp_path, code_data, mode="in", rounds=1)
    got = by_purpose(run / "iter-000" / "eval_samples.jsonl")
    assert len(got["verdicts"]) == 6 and len(got["debug"]) == 6
    assert {d.request.meta["block_verdicts"]["outcome"] for d in got["debug"]} == {outcome}
    sd = json.loads((run / "iter-000" / "eval.json").read_text())["plugins"]["selfdebug"]
    assert sd["verdicts"]["outcomes"][outcome] == 6
    assert sd["verdicts"]["unknown_blocks"] == (12 if "99999" in reply else 0)


def test_a_program_that_does_not_run_is_revised_without_a_verdict_turn(
    tmp_path, code_data, run_context, scripted
):
    scripted.ScriptedModel.first = "```python\ndef add(a, b)\n    return a - b\n```"
    run = scripted.run_loop(run_context, tmp_path, code_data, mode="in", rounds=1)
    got = by_purpose(run / "iter-000" / "eval_samples.jsonl")
    assert not got["verdicts"] and len(got["debug"]) == 6
    assert all("Your code does not run" in d.request.meta["feedback"] for d in got["debug"])
    assert all(d.request.round == 1 for d in got["debug"])
