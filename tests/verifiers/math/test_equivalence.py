"""Equivalence of math answers: every class of equal answers, and near misses that are not."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reasonloop.verifiers.math import answers_match
from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.parse import parse_answer
from reasonloop.verifiers.math.tree import LimitExceeded

EQUAL = {
    "thousands separators": [("1,000", "1000"), ("10,\\!080", "10080"), ("1,234.5", "1234.5")],
    "percent": [("50\\%", "50"), ("50%", "0.5"), ("50", "50 percent"), ("12.5\\%", "0.125")],
    "units and currency": [
        ("5", "5 dollars"),
        ("5", "\\$5"),
        ("5", "5 cm"),
        ("5", "5cm"),
        ("864 \\mbox{ inches}^2", "864"),
        ("5.4 \\text{ cents}", "5.4"),
        ("90^\\circ", "90"),
    ],
    "fractions and decimals": [
        ("1/2", "0.5"),
        ("\\frac{1}{2}", "0.5"),
        ("\\dfrac{1}{2}", "1/2"),
        ("\\tfrac12", "\\frac{2}{4}"),
        ("\\frac43", "4/3"),
        ("\\frac{1}{3}", "0.333333"),
        (".35625", "0.35625"),
        ("-\\frac{1}{2}", "\\frac{-1}{2}"),
    ],
    "mixed numbers": [("1 1/2", "3/2"), ("1\\frac{1}{2}", "1.5"), ("-2 1/4", "-9/4")],
    "latex expressions": [
        ("\\sqrt{2}", "2^{1/2}"),
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("\\pi", "\\pi"),
        ("2\\pi", "\\pi \\cdot 2"),
        ("x^2+1", "1+x^2"),
        ("\\sqrt[3]{8}", "2"),
        ("\\log_2 8", "3"),
        ("\\binom{5}{2}", "10"),
        ("5!", "120"),
    ],
    "symbolic equality": [
        ("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2"),
        ("2x+2", "2(x+1)"),
        ("(x+1)^2", "x^2+2x+1"),
        ("\\frac{x^2-1}{x-1}", "x+1"),
        ("\\sin^2 x + \\cos^2 x", "1"),
        ("2\\sin x \\cos x", "\\sin(2x)"),
        ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    ],
    "tuples and points": [
        ("(1, 2)", "(1,2)"),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)"),
    ],
    "intervals": [
        ("[0, 1)", "[0,1)"),
        ("(-\\infty, 0]", "(-\\infty,0]"),
        ("(0,9) \\cup (9,36)", "(9,36) \\cup (0,9)"),
    ],
    "sets and lists": [
        ("1,-2", "-2, 1"),
        ("\\{1,2\\}", "\\{2,1\\}"),
        ("1 \\pm \\sqrt{19}", "1-\\sqrt{19}, 1+\\sqrt{19}"),
        ("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1+\\sqrt5, 1-\\sqrt5"),
    ],
    "matrices": [
        (
            "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}",
            "\\begin{bmatrix} -\\frac13 \\\\ \\frac23 \\end{bmatrix}",
        ),
        (
            "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
            "\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}",
        ),
    ],
    "matrix arithmetic": [
        (
            "\\begin{pmatrix} 4 \\\\ 6 \\end{pmatrix}",
            "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} + \\begin{pmatrix} 3 \\\\ 4 \\end{pmatrix}",
        ),
        (
            "\\begin{pmatrix} 11 \\end{pmatrix}",
            "\\begin{pmatrix} 1 & 2 \\end{pmatrix} \\begin{pmatrix} 3 \\\\ 4 \\end{pmatrix}",
        ),
        ("\\begin{pmatrix} x & 2x \\end{pmatrix}", "x \\begin{pmatrix} 1 & 2 \\end{pmatrix}"),
    ],
    "sums": [
        ("55", "\\sum_{k=1}^{10} k"),
        ("\\sum_{k=1}^{4} k^2", "30"),
        ("\\frac{n(n+1)}{2}", "\\sum_{i=1}^{n} i"),
    ],
    "text answers": [
        ("\\text{Monday}", "monday"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\text{(C)}", "C"),
        ("\\textbf{(C)}", "(C)"),
        ("\\text{east}", "\\text{ East }"),
    ],
    "equations": [
        ("x = 5", "5"),
        ("5", "x=5"),
        ("y = 2x + 3", "2x+3"),
        ("y = 2x + 3", "y - 2x = 3"),
        ("5x - 7y + 11z + 4 = 0", "-10x + 14y - 22z - 8 = 0"),
        ("x \\in [-2,7]", "[-2,7]"),
        ("(1, 2)", "x = 1, y = 2"),
        ("x < 3", "3 > x"),
    ],
    "numbers in other notations": [("52_8", "52"), ("10", "10.0000001"), ("2^{10}", "1024")],
}

DIFFERENT = [
    ("50\\%", "5"),
    ("1/3", "0.33"),
    ("\\pi", "3.14"),
    ("10", "10.00001"),
    ("2x+2", "2(x+2)"),
    ("\\sqrt{x^2}", "x"),
    ("(1, 2)", "(2, 1)"),
    ("(1, 2)", "[1, 2)"),
    ("[0,1]", "[0,1)"),
    ("1 \\pm \\sqrt{2}", "1 + \\sqrt{2}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)"),
    ("\\text{Monday}", "Tuesday"),
    ("\\text{(C)}", "D"),
    ("x = 5", "x = 6"),
    ("x < 3", "x > 3"),
    ("x \\le 3", "x < 3"),
    ("a_1", "a_2"),
    ("-\\infty", "\\infty"),
    ("3", "three"),
    ("1", "\\frac{6}{0}"),
    ("56", "\\sum_{k=1}^{10} k"),
]


@pytest.mark.parametrize(
    ("gold", "pred"),
    [pytest.param(g, p, id=f"{cls}: {p}") for cls, pairs in EQUAL.items() for g, p in pairs],
)
def test_equivalent_answers_match(gold, pred):
    assert answers_match(pred, gold)


@pytest.mark.parametrize(("gold", "pred"), DIFFERENT)
def test_different_answers_do_not_match(gold, pred):
    assert not answers_match(pred, gold)


def test_numbers_fold_exactly_and_remember_how_they_were_written():
    assert parse_answer("0.5") == A.Num(Fraction(1, 2), inexact=True)
    assert parse_answer("\\frac{2}{4}") == A.Num(Fraction(1, 2))
    assert parse_answer("50\\%") == A.Num(Fraction(50), percent=True)
    assert parse_answer("2^{100}") == A.Num(Fraction(2**100))


def test_huge_powers_stay_unfolded_trees():
    tree = parse_answer("10^{10^{10}}")
    assert isinstance(tree, A.Pow)
    assert tree.exp == A.Num(Fraction(10**10))


@pytest.mark.parametrize(
    "answer",
    [
        "{" * 100 + "1" + "}" * 100,
        "-" * 200 + "1",
        "x^" * 200 + "x",
        "1+" * 1500 + "1",
        "9" * 1500,
        "1 \\pm " * 10 + "1",
        ("\\begin{pmatrix}" + "\\\\".join(["&".join(["2"] * 11)] * 11) + "\\end{pmatrix}") * 2,
    ],
    ids=[
        "braces",
        "minus signs",
        "power tower",
        "long sum",
        "long number",
        "many \\pm",
        "large product",
    ],
)
def test_parser_refuses_inputs_beyond_its_limits(answer):
    with pytest.raises(LimitExceeded):
        parse_answer(answer)


SYMBOLIC_MATRIX = "\\begin{pmatrix} x & y \\\\ y & x \\end{pmatrix}"


@pytest.mark.parametrize(
    "answer",
    [
        "\\frac{1}",
        "(1, 2",
        "\\begin{cases} 1 \\end{cases}",
        "x @ y",
        # Chained products of symbolic matrices would grow without bound.
        SYMBOLIC_MATRIX * 3,
        "\\begin{pmatrix} 1 & 2 \\end{pmatrix} + \\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    ],
)
def test_parser_rejects_what_is_not_math(answer):
    with pytest.raises(ValueError):
        parse_answer(answer)
