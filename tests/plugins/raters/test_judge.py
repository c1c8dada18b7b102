"""The judge role: reading verdicts, drawing pairs, and preferences from both position orders."""

from __future__ import annotations

import pytest

from reasonloop.core.records import Message, Request, Sample, TrainingExample
from reasonloop.plugins.raters.judge import judge_pairs, parse_verdict, preferences


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        # What a judge that follows the prompt writes.
        ("Solution A checks its arithmetic; B drops a carry.\nVerdict: A", "A"),
        ("Both reach 42, but B is shorter.\n\nVerdict: B", "B"),
        ("They are the same argument.\nVerdict: tie", "tie"),
        # Markdown, brackets, quotes and case.
        ("**Verdict:** **B**", "B"),
        ("**Final verdict**: [[A]]", "A"),
        ('Verdict: "Solution B"', "B"),
        ("VERDICT - A.", "A"),
        ("verdict: Tie", "tie"),
        ("Final answer: Solution A", "A"),
        ("The better solution is B.", "B"),
        ("Winner: equal", "tie"),
        # MT-Bench's bracketed format, [[C]] meaning a tie.
        ("After review: [[B]]", "B"),
        ("[[C]]", "tie"),
        # Only a letter, as a small judge with a prefill writes.
        (" A", "A"),
        ("B.", "B"),
        ("(A)", "A"),
        # Prose without a verdict line.
        ("I think Solution B is better because it is correct.", "B"),
        ("I prefer A overall.", "A"),
        # A reasoning model's thinking is skipped.
        ("<think>Verdict: A? no wait, B computes 7*6 right.</think>\nVerdict: B", "B"),
        # The instructions echoed (all three options on one line) are not a verdict.
        ('End with "Verdict: A", "Verdict: B" or "Verdict: tie".\nVerdict: B', "B"),
    ],
)
def test_verdicts_are_read_from_realistic_answers(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Both solutions have merits and flaws.",  # no decision
        "Verdict: A\nOn reflection, Verdict: B",  # contradicts itself
        "[[A]] ... [[B]]",  # on one line: ambiguous
        'End with "Verdict: A", "Verdict: B" or "Verdict: tie".',  # only the echo
        "Solution A is better. Solution B is better.",  # prose both ways
        "a b a b",  # lower-case letters are words, not verdicts
        "Answer: a solution with fewer steps",  # the article 'a'
        "Verdict: C+",  # not a choice
        "<think>Verdict: A</think>",  # a decision only inside the thinking
        "Verdict:",  # cut off (max_tokens)
        "\x00\x1b[31mVerdict\x1b[0m",  # control characters, no choice
    ],
)
def test_hostile_or_undecided_answers_are_unreadable(text):
    assert parse_verdict(text) is None


def example(problem: str, k: int) -> TrainingExample:
    return TrainingExample(
        id=f"{problem}-{k}",
        problem_id=problem,
        messages=[Message(role="user", content="q"), Message(role="assistant", content=f"s{k}")],
    )


def test_pairs_are_of_one_problem_bounded_and_seeded():
    pool = [example(p, k) for p in ("p0", "p1", "p2") for k in range(3)] + [example("p3", 0)]
    every = judge_pairs(pool, 100, seed=(0, 0))
    assert len(every) == 3 * 3  # three pairs per problem of three; p3 alone has none
    assert all(pool[a].problem_id == pool[b].problem_id and a < b for a, b in every)
    few = judge_pairs(pool, 4, seed=(0, 0))
    assert len(few) == 4 and set(few) <= set(every)
    assert few == judge_pairs(pool, 4, seed=(0, 0))
    assert any(judge_pairs(pool, 4, seed=(s, 0)) != few for s in range(1, 6))


def answer(text: str | None, prefill: str | None = None) -> Sample | None:
    if text is None:
        return None
    request = Request(id="r", problem_id="p", role="judge", messages=[], prefill=prefill)
    return Sample(id="s", problem_id="p", request=request, completion=text)


def test_both_orders_cancel_position_bias_and_unreadable_answers_are_counted():
    pairs = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    answers = [
        answer("Verdict: A"), answer("Verdict: B"),  # consistent: 0 over 1
        answer("Verdict: A"), answer("Verdict: A"),  # always the first shown: a tie
        answer("Verdict: B"), answer("garbage"),  # one order read: 5 over 4
        answer("nothing"), answer(None),  # neither read: the pair is dropped
        answer(" tie", prefill="Verdict:"), answer("Verdict: A"),  # a tie and 9 over 8
    ]  # fmt: skip
    record = preferences(pairs, answers)
    by_pair = {(p.first, p.second): p.p for p in record.preferences}
    assert by_pair == {(0, 1): 1.0, (2, 3): 0.5, (4, 5): 0.0, (8, 9): 0.25}
    assert record.pairs == 5 and record.comparisons == 10
    assert record.unparsable == 3 and record.ties == 1 and record.inconsistent == 1
    # Of the six verdicts that named a winner, four named the one shown first.
    assert record.first_shown == pytest.approx(4 / 6)
    assert record.as_dict()["decided_pairs"] == 3
