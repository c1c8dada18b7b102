"""The texts: tests parsed from the model, the entry point, post- and in-execution feedback."""

from __future__ import annotations

from reasonloop.core.records import Verdict
from reasonloop.execution import ExecutionResult
from reasonloop.plugins.selfdebug.prompts import (
    call_in_test,
    debug_in_message,
    debug_post_message,
    entry_point_of,
    parse_tests,
    pick,
)


def test_parse_tests_keeps_valid_asserts_on_the_function():
    text = (
        "Here are tests:\n```python\nassert add(1, 2) == 3\nassert add(1, 2) == 3\n"
        "assert add(1,, 2) == 3\nassert sub(1, 2) == -1\nprint(add(1, 2))\n"
        "assert add(0, 0) == 0\nassert add(5, 5) == 10\n```"
    )
    assert parse_tests(text, "add", 2) == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert parse_tests("no code here", "add", 3) == []


def test_entry_point_and_test_call():
    assert entry_point_of("def helper():\n    pass\n\ndef main(x):\n", {}) == "main"
    assert entry_point_of("whatever", {"entry_point": "f"}) == "f"
    assert call_in_test("assert add(1, [2, 3]) == 6", "add") == "add(1, [2, 3])"
    assert call_in_test("assert abs(add(1, 2) - 3) < 1e-6", "add") == "add(1, 2)"


def failed(**record) -> ExecutionResult:
    return ExecutionResult(
        verdict=Verdict.WRONG, tests=2, passed=[1], failures=[{"test": 0, **record}]
    )


def test_label_feedback_names_failed_tests_only():
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    text = debug_post_message(
        tests, failed(exception="AssertionError", actual="-1", expected="3"), "label"
    )
    assert "assert add(1, 2) == 3" in text and "assert add(0, 0)" not in text
    assert "got" not in text and "-1" not in text


def test_detail_feedback_shows_expected_actual_and_exceptions():
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    text = debug_post_message(
        tests, failed(exception="AssertionError", actual="-1", expected="3"), "detail"
    )
    assert "expected: 3" in text and "got: -1" in text
    crash = failed(
        exception="TypeError: bad", frames=[{"file": "<program>", "line": 2, "code": "x()"}]
    )
    assert "raised: TypeError: bad (line 2: x())" in debug_post_message(tests, crash, "detail")


def test_one_failing_test_is_drawn_by_key_and_all_lists_every_one():
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 5"]
    result = ExecutionResult(
        verdict=Verdict.WRONG,
        tests=3,
        passed=[1],
        failures=[
            {"test": 0, "exception": "AssertionError", "actual": "-1", "expected": "3"},
            {"test": 2, "exception": "AssertionError", "actual": "0", "expected": "5"},
        ],
    )
    shown = {}
    for key in (f"sample-{i}" for i in range(40)):
        text = debug_post_message(tests, result, "detail", "one", key=key)
        assert text == debug_post_message(tests, result, "detail", "one", key=key)
        named = [t for t in tests if t in text]
        assert len(named) == 1 and text.count("expected:") == 1
        assert named == [tests[pick([0, 2], key)]]
        shown[named[0]] = shown.get(named[0], 0) + 1
    assert set(shown) == {tests[0], tests[2]}  # both failures get drawn
    every = debug_post_message(tests, result, "label", "all")
    assert every.startswith("Your code fails 2 of 3 tests:")
    assert tests[0] in every and tests[2] in every and tests[1] not in every


def test_in_execution_feedback_has_the_trace_but_no_expected_output_or_verdict():
    trace = {
        "blocks": [
            {
                "index": 0,
                "function": "add",
                "lines": [2, 2],
                "code": ["    return a - b"],
                "state": {"a": "1", "b": "2"},
                "returned": "-1",
            }
        ],
        "omitted": 0,
        "first": 1,
        "returned": "-1",
    }
    result = ExecutionResult(verdict=Verdict.CORRECT, trace=trace)
    text = debug_in_message("add(1, 2)", result)
    assert "[Block 0]" in text and "a = 1, b = 2" in text and "returned -1" in text
    assert "Do not write code yet" in text and "```python" not in text
    for leak in ("expected", "== 3", "fail", "wrong answer"):
        assert leak not in text.lower()
