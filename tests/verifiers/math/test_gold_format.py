"""The gold answer as a bare answer or as a worked solution (``gold_format``)."""

from __future__ import annotations

import json
import re

import pytest

from reasonloop.errors import UsageError
from reasonloop.verifiers.math import MathVerifier


@pytest.fixture(scope="module")
def verifiers():
    made = {fmt: MathVerifier(gold_format=fmt) for fmt in ("auto", "answer", "solution")}
    yield made
    for verifier in made.values():
        verifier.close()


def test_a_solution_gold_is_read_for_its_final_answer(verifiers):
    gold = "Twice 7 is 14, plus 1 makes $\\boxed{15}$."
    assert verifiers["solution"].verify("It is 15.", gold).correct
    assert verifiers["auto"].verify("It is 15.", gold).correct
    # Read as a bare answer, the whole sentence is the answer and nothing matches it.
    assert not verifiers["answer"].verify("It is 15.", gold).correct


def test_a_bare_gold_is_never_extracted_from(verifiers):
    # "1, 3" is a list answer: extraction would keep only its last number.
    assert verifiers["answer"].verify("\\boxed{3, 1}", "1, 3").correct
    assert verifiers["auto"].verify("\\boxed{3, 1}", "1, 3").correct
    # An escaped dollar is currency, not math delimiters: auto keeps the gold bare.
    assert verifiers["auto"].gold_answer("\\$32,\\!348") == "32348"


def test_auto_reads_a_plain_sentence_gold_as_a_solution(verifiers):
    gold = "so the total is not 12, it is 2,450.5 dollars"
    assert verifiers["auto"].verify("\\boxed{2450.5}", gold).correct
    # Plain words that are the answer itself stay a bare answer.
    assert verifiers["auto"].gold_answer("Monday, Tuesday") == "Monday, Tuesday"
    assert verifiers["auto"].gold_answer("\\text{The midpoints form a hexagon}") == (
        "\\text{The midpoints form a hexagon}"
    )


def test_a_solution_without_any_marker_still_yields_its_last_value(verifiers):
    assert verifiers["solution"].gold_answer("She has 3 apples, then 4 more: 7 in all.") == "7"


def test_an_unknown_gold_format_is_refused_by_name():
    with pytest.raises(UsageError, match="gold_format 'latex'"):
        MathVerifier(gold_format="latex")


def test_verify_command_takes_gold_format(cli, tmp_path):
    rows = tmp_path / "rows.jsonl"
    solution = "So the area is $6 \\cdot 7 = \\boxed{42}$."
    rows.write_text(
        json.dumps({"id": "a", "completion": "Area: 42", "answer": solution})
        + "\n"
        + json.dumps({"id": "b", "completion": "\\boxed{2, 5}", "answer": "5, 2"})
        + "\n"
    )
    for fmt, expected in (("solution", [True, True]), ("answer", [False, True])):
        out = tmp_path / f"{fmt}.jsonl"
        outcome = cli("verify", rows, "--gold-format", fmt, "-o", out)
        assert outcome.exit_code == 0, outcome.stderr
        assert [json.loads(line)["correct"] for line in out.read_text().splitlines()] == expected
    outcome = cli("verify", rows, "-o", tmp_path / "auto.jsonl")
    auto = [
        json.loads(line)["correct"] for line in (tmp_path / "auto.jsonl").read_text().splitlines()
    ]
    assert auto == [True, True]
    assert cli("verify", rows, "--gold-format", "latex").exit_code != 0


def test_math500_solutions_as_golds(shared_data, verifiers):
    """MATH's worked solution, as the gold, gives the same verdicts as its bare answer."""
    rows = [json.loads(line) for line in (shared_data / "math500" / "test.jsonl").open()]
    for row in rows:
        solution, answer = row["solution"], row["answer"]
        for fmt in ("solution", "auto"):
            verifier = verifiers[fmt]
            assert verifier.verify(f"So it is $\\boxed{{{answer}}}$.", solution).correct, answer
            # The gold solution, given as a completion, answers itself.
            assert verifier.verify(solution, solution).correct, answer
        changed = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), answer, count=1)
        if changed != answer:
            assert not verifiers["solution"].verify(f"Answer: ${changed}$", solution).correct


def test_gsm8k_rationales_as_golds(shared_data, verifiers):
    """A GSM8K rationale ending in "#### N", as the gold, is read as N."""
    lines = (shared_data / "gsm8k" / "test.jsonl").open().readlines()[:300]
    for line in lines:
        row = json.loads(line)
        final = row["answer"].split("####")[-1].strip()
        assert verifiers["auto"].verify(f"The answer is {final}.", row["answer"]).correct
        assert not verifiers["auto"].verify("The answer is 0.5.", row["answer"]).correct
