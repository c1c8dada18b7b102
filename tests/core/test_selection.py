"""The default training data: cleaned solutions, no repeats, a cap per problem."""

from __future__ import annotations

import pytest

from reasonloop.core.recipe import SelectionConfig
from reasonloop.core.records import Message, TrainingExample
from reasonloop.core.selection import clean_solution, deduplicate


@pytest.mark.parametrize(
    ("text", "answer", "expected"),
    [
        ("12 times 7 is 84. So she has 84 apples and then", "84", "12 times 7 is 84.\nAnswer: 84"),
        ("23 + 19 = 42\nThen we add more", "42", "23 + 19 = 42\nAnswer: 42"),
        ("He pays 1,200 dollars. Extra words", "1200", "He pays 1,200 dollars.\nAnswer: 1200"),
        ("5 + 3 = 8.\nAnswer: 8", "8", "5 + 3 = 8.\nAnswer: 8"),
        ("The total is 8. Answer:", "8", "The total is 8.\nAnswer: 8"),
        # 18 inside 180 is not the answer 18; the real 18 comes later.
        (
            "180 minus 162 gives 18 marbles. More",
            "18",
            "180 minus 162 gives 18 marbles.\nAnswer: 18",
        ),
        # The answer never appears as a number: keep the text.
        ("It is one half", "0.5", "It is one half"),
        ("x = \\frac{1}{2}", "\\frac{1}{2}", "x = \\frac{1}{2}"),
    ],
)
def test_clean_solution_cuts_after_the_answer_sentence(text, answer, expected):
    assert clean_solution(text, answer) == expected


def _example(i: int, problem: str, *turns: str) -> TrainingExample:
    roles = ["user", "assistant"] * len(turns)
    return TrainingExample(
        id=f"e{i}",
        problem_id=problem,
        messages=[Message(role=r, content=t) for r, t in zip(roles, ("q", *turns), strict=False)],
    )


def test_deduplicate_drops_repeats_and_caps_each_problem():
    examples = [
        _example(0, "a", "Answer: 4"),
        _example(1, "a", "answer:  4"),  # the same up to case and spaces
        _example(2, "a", "2+2 = 4. Answer: 4"),
        _example(3, "a", "4! Answer: 4"),  # over the cap of 2
        _example(4, "b", "Answer: 4"),  # the same text for another problem
    ]
    kept = deduplicate(examples, SelectionConfig(max_per_problem=2))
    assert [e.id for e in kept] == ["e0", "e2", "e4"]
    everything = deduplicate(examples, SelectionConfig(max_per_problem=None, dedupe=False))
    assert [e.id for e in everything] == [e.id for e in examples]


def test_a_multi_turn_example_is_not_a_repeat_of_its_final_answer():
    plain = _example(0, "a", "Answer: 4")
    chain = _example(1, "a", "Answer: 5", "Check again.", "Answer: 4")
    kept = deduplicate([plain, chain, plain.model_copy(update={"id": "e2"})], SelectionConfig())
    assert [e.id for e in kept] == ["e0", "e1"]
