"""Paired comparisons as report text: accuracies, differences and the verdict in words."""

from __future__ import annotations

import json

from reasonloop.core.pairing import (
    compare_answers,
    format_accuracy,
    format_difference,
    format_verdict,
    load_answers,
    short_verdict,
)
from reasonloop.core.statistics import paired_comparison

NONE = {str(i): False for i in range(100)}


def gains(k: int) -> dict[str, bool]:
    return {**NONE, **{str(i): True for i in range(k)}}


def test_the_verdict_in_words_names_the_test_that_disagrees() -> None:
    borderline = paired_comparison(NONE, gains(5))
    text = format_verdict(borderline)
    assert text.startswith("borderline: the interval excludes 0 but McNemar's p = 0.0625")
    assert text.endswith("not distinguishable from noise by both tests")
    assert short_verdict(borderline) == "borderline"
    clear = paired_comparison(NONE, gains(20))
    assert format_verdict(clear).startswith("distinguishable from noise")
    assert short_verdict(clear) == "distinguishable"
    same = paired_comparison(NONE, NONE)
    assert format_verdict(same) == "not distinguishable from noise (the interval spans 0)"
    assert short_verdict(same) == "not distinguishable from noise"


def test_accuracies_and_differences_are_printed_in_points() -> None:
    assert format_accuracy(0.26, [0.204, 0.325]) == "26.0% [20.4, 32.5]"
    assert format_accuracy(None) == "-" and format_accuracy(0.5) == "50.0%"
    c = paired_comparison(NONE, gains(20))
    lo, hi = c.interval
    assert format_difference(c) == f"+20.0 points [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def test_answers_are_read_from_eval_json_or_reported_missing(tmp_path) -> None:
    path = tmp_path / "eval.json"
    assert load_answers(path) is None
    path.write_text(json.dumps({"accuracy": 0.5, "answers": []}))
    assert load_answers(path) is None
    path.write_text(json.dumps({"answers": [{"problem_id": "a", "correct": 1}]}))
    assert load_answers(path) == {"a": True}
    assert "older reasonloop" in compare_answers(None, {"a": True})
    assert compare_answers({"a": True}, {"b": True}) == "the two evaluations share no problems"


def test_a_problem_mismatch_names_a_few_ids_on_each_side() -> None:
    from reasonloop.core.pairing import problem_mismatch

    assert problem_mismatch(["a", "b"], {"b", "a"}, "x", "y") is None
    assert problem_mismatch(["a", "b", "c", "d", "e"], ["e"], "x", "y") == (
        "4 only in x (a, b, c, ...), 0 only in y (none)"
    )
