"""Finding the final answer in a completion, and cleaning it."""

from __future__ import annotations

import time

import pytest

from reasonloop.verifiers.math import extract_answer
from reasonloop.verifiers.math.normalize import clean_answer, text_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
        ("First \\boxed{1}, then on reflection \\boxed{2}.", "2"),
        ("\\fbox{\\text{Monday}}", "\\text{Monday}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        (
            "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
            "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        ),
        ("the result is \\boxed 7 apples", "7"),
        ("\\boxed{3", "3"),
        ("She makes 9 * 2 = $18 every day.\n#### 18", "18"),
        ("#### 1,234", "1234"),
        ("Answer: 42", "42"),
        ("**Answer:** 42", "42"),
        ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("The final answer is $(3, 4]$. I hope it is correct.", "(3, 4]"),
        ("The final answer is 1,000 dollars.", "1000"),
        ("The answer is 18 because 9 times 2 is 18.", "18"),
        ("The answer is \\text{(C)}.", "\\text{(C)}"),
        ("The answer is 50%.", "50%"),
        ("So the answer is x = 5.", "x = 5"),
        ("We find $x = \\sqrt{2}$.", "x = \\sqrt{2}"),
        ("It costs $5 and $6, so 11 in all.", "11"),
        ("I think it is -0.5", "-0.5"),
        ("She needs 2 1/4 cups.", "2 1/4"),
        ("Half of it: 3/4 of the cake", "3/4"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "I do not know.", "\\boxed{}", "answer: answer:"])
def test_no_answer_is_none(text):
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("$\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("\\(x + 1\\)", "x + 1"),
        ("\\boxed{5}", "5"),
        ("\\$32,\\!348", "32348"),
        ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
        ("5 dollars.", "5"),
        ("42 apples per day", "42"),
        ("3\\sqrt{2} cm", "3\\sqrt{2}"),
        ("\\frac{270}7\\text{ degrees}", "\\frac{270}7"),
        ("15\\mbox{ cm}^2", "15"),
        ("90^\\circ", "90"),
        ("50 percent", "50%"),
        ("\\dfrac{17}{50}", "\\frac{17}{50}"),
        ("3 and 5", "3, 5"),
        ("2xy", "2xy"),
        ("\\text{Evelyn}", "\\text{Evelyn}"),
        ("1,-2", "1,-2"),
    ],
)
def test_clean_answer(raw, clean):
    assert clean_answer(raw) == clean


def test_text_key_reads_word_answers_only():
    assert text_key("\\text{(C)}") == "c"
    assert text_key("Evelyn") == "evelyn"
    assert text_key("\\text{ East }") == "east"
    assert text_key("x + 1") is None
    assert text_key("\\pi") is None


@pytest.mark.parametrize(
    "text",
    [
        "\\[" * 50_000,
        "\\(" * 50_000,
        "$" * 100_000,
        "\\boxed{" * 30_000,
        "answer is " * 20_000,
        "\\boxed{" + "x" * 100_000,
        "1 " * 50_000,
        "\\boxed{1}, " * 50_000,
        "".join(f"\\boxed{{{i}}}, " for i in range(20_000)),
        "$1$ and " * 30_000,
        "\\boxed{1} final answer is " * 20_000,
        "</think>" * 50_000,
        "1 000 " * 30_000,
    ],
    ids=[
        "display",
        "inline",
        "dollars",
        "boxes",
        "anchors",
        "unclosed box",
        "numbers",
        "joined boxes",
        "distinct boxes",
        "joined formulas",
        "final after box",
        "think ends",
        "spaced thousands",
    ],
)
def test_extraction_on_long_adversarial_text_is_quick(text):
    start = time.perf_counter()
    extract_answer(text)
    assert time.perf_counter() - start < 5
