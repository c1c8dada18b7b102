"""Hard answers: the forms real model outputs and worked solutions take, one test per class.

Each case is ``(gold, completion, same)``: the gold is given the way datasets
give it (often itself LaTeX or a whole solution), and both go through the
same extraction (``gold_format="auto"``). ``benchmarks/bench_math_verifier.py``
loads these classes to compare the verdicts with math-verify's, and prints
:data:`DELIBERATE` where they differ on purpose.
"""

from __future__ import annotations

import pytest

from reasonloop.verifiers.math import MathVerifier

LATEX_ONLY_AND_INTERVALS = [
    ("$(-1, 4]$", "$(-1, 4]$", True),
    ("$[2,5)$", "[2,5)", True),
    ("$[2,5)$", "$[2,5]$", False),
    ("$(-\\infty, 3)$", "We get $x \\in (-\\infty, 3)$.", True),
    ("$(1,2] \\cup (3,4)$", "The domain is $\\boxed{(3,4) \\cup (1,2]}$", True),
    ("$\\{-2\\} \\cup [1,5)$", "so $x \\in \\boxed{\\{-2\\} \\cup [1,5)}$.", True),
    ("$\\{-2\\} \\cup [1,5)$", "so $x \\in \\boxed{\\{-2\\} \\cup [1,5]}$.", False),
    ("$5$", "$-[1,5)$", False),
    (
        "$[0,1)$",
        "$[0,1)$",
        True,
    ),
    (
        "$(-\\infty, -2) \\cup (3, \\infty)$",
        "$(-\\infty,-2)\\cup(3,\\infty)$",
        True,
    ),
    (
        "$(-\\infty, -2) \\cup (3, \\infty)$",
        "$(3,\\infty) \\cup (-\\infty,-2)$",
        True,
    ),
    (
        "$(-\\infty, -2) \\cup (3, \\infty)$",
        "$(-\\infty,-2]\\cup(3,\\infty)$",
        False,
    ),
    (
        "$[-1, 1]$",
        "$$[-1, 1]$$",
        True,
    ),
    (
        "$[-1, 1]$",
        "\\[ [-1,1] \\]",
        True,
    ),
    (
        "$(0, \\frac{1}{2}]$",
        "$\\left(0, \\frac12\\right]$",
        True,
    ),
    (
        "$(0, \\frac{1}{2}]$",
        "$\\left(0, 0.5\\right]$",
        True,
    ),
    (
        "$\\{0\\} \\cup [2, \\infty)$",
        "$x \\in \\{0\\} \\cup [2, \\infty)$",
        True,
    ),
    (
        "$[3, 7]$",
        "$x \\in [3, 7]$",
        True,
    ),
    (
        "$[3, 7]$",
        "$x \\in (3, 7]$",
        False,
    ),
    (
        "$\\left[ \\frac{1}{3}, 2 \\right)$",
        "$[1/3, 2)$",
        True,
    ),
]

RELATIONS = [
    ("$y = 2/5$", "$y = 2/5$", True),
    ("$2/5$", "$y = 2/5 \\approx 0.4$", True),
    ("$y = 2/5$", "$y = 1 + 1 = 2/5 \\approx 3$", True),
    ("$7$", "$t \\approx 7$", True),
    ("$(a,b)=(4,1)$", "$(4,1)$", True),
    ("$(a,b)=(4,1)$", "$(1,4)$", False),
    ("$(a,b,c)=(1,5,9)$", "$\\boxed{(1, 5, 9)}$", True),
    ("$y \\neq 4$", "so $y != 4$", True),
    ("$y != 4$", "so $y \\ne 4$", True),
    ("$y \\neq 4$", "so $y != 5$", False),
    ("$t > 2$", "$-t < -2$", True),
    ("$-3 \\le y \\le 8$", "$y \\in [-3,8]$", True),
    ("$-3 \\le y \\le 8$", "$y \\in [-3,8)$", False),
    # Only a gold inequality is read as an interval, as math-verify does by default.
    ("$y \\in [-3,8]$", "$-3 \\le y \\le 8$", False),
    ("$-5 < b < 12$", "$(-5, 12)$", True),
    ("$2\\leq|w|\\leq 3$", "$w \\in [-3,-2] \\cup [2,3]$", True),
    ("$k > 4$", "$(4, \\infty)$", True),
    ("$PQ:QR=5:12$", "$\\boxed{5:12}$", True),
    ("$5:12$", "$\\boxed{12:5}$", False),
    ("$\\frac{AM}{MB}=\\frac{2}{\\sqrt{5}}$", "$\\frac{2}{\\sqrt{5}}$", True),
    ("$|PQ|=3$", "$$3$$", True),
    ("$g(x)=7$", "$7$", True),
    ("$3 = \\qqq = y = 4$", "$4$", True),
    ("$G_n = \\sum_{j=0}^{n} G_j G_{n-j}$", "$G_n = \\sum_{j=0}^{n} G_{n-j} G_j$", True),
    ("$G_n = \\sum_{j=0}^{n} G_j G_{n-j}$", "$G_n = \\sum_{j=1}^{n} G_j G_{n-j}$", False),
]

NUMBERS = [
    ("2000", "2 000", True),
    ("2000", "2 001", False),
    ("$236000$", "Net: $500 000 - $264 000 = $236 000.", True),
    ("3000.25", "3000,25", True),
    ("0.375", "0,375", True),
    ("3.25", "3,25", True),
    ("6.15", "Total : 6,15 $ ok", True),
    ("22222222200", "is $\\boxed{22,\\! 222,\\! 222,\\! 200}$", True),
    ("$25813$", "so the answer is $\\boxed{25{,}813}$.", True),
    ("$25813$", "The final answer is $25 {, }813$. I hope it is correct.", True),
    ("$48$ kilometers", "She rode $\\boxed{48\\textnormal{ km}}.$", True),
    ("$48$", "She rode $\\boxed{48\\text{ kilometers}}.$", True),
    ("$9$", "\\boxed{9\\ \\text{cm}^2}", True),
    ("$35\\%$", "a total loss of $\\boxed{35\\%}$.", True),
    ("$35\\%$", "a total loss of $\\boxed{36\\%}$.", False),
    ("$\\text{B}$", "$B$", True),
    ("$\\text{b}$", "$b$", True),
    ("$\\text{B}$", "$c$", False),
    ("$\\text{even}$", "$even$", True),
    ("$\\text{Odd}$", "$Odd$", True),
    ("$-1,3$", "-1, 3", True),
]

SETS = [
    ("$(2,5,1),(5,2,1),(1,1,1)$", "$\\boxed{(1, 1, 1), (5, 2, 1), (2, 5, 1), (5,2,1)}$", True),
    ("$(2,5,1),(5,2,1),(1,1,1)$", "$\\boxed{(1, 1, 1), (5, 2, 1), (2, 1, 5)}$", False),
    ("$(1;2;0),(0;0;3)$", "\\boxed{(0, 0, 3), (1, 2, 0)}", True),
    ("$(4,9)or(9,4)$", "$\\boxed{(9,4),\\ (4,9)}$", True),
    ("$-7;-5;-2$", "$\\boxed{\\{-2, -5, -7\\}}$", True),
    ("$a=3,b=1;a=5,b=1$", "$(5,1),(3,1)$", True),
    ("$a=3,b=1;a=5,b=1$", "$(1,5),(3,1)$", False),
    ("$MN=6,PQ=8$", "$\\boxed{6, 8}$", True),
    ("$\\boxed{3}, \\boxed{5}, \\boxed{11}$", "$${3, 5, 11}$$", True),
    ("$${4,5,6}$$", "\\boxed{4} and \\boxed{5} and \\boxed{6}", True),
    ("$${4,5,6}$$", "\\boxed{4},\\boxed{5},\\boxed{6}", True),
    ("$(3,4),(4,3)$", "solutions:\n\\[\n\\boxed{(4, 3)}, \\boxed{(3, 4)}\n\\]", True),
    ("\\(\\boxed{2}\\) and \\(\\boxed{-3}\\).", "$\\boxed{-3,2}$.", True),
    ("$\\boxed{4}\\boxed{7}$", "$\\boxed{4,7}$", True),
    ("$$(4, 4), (7, 2)$$", "$$\\boxed{(4, 4)} \\quad \\text{and} \\quad \\boxed{(7, 2)}$$", True),
    ("$$m = 12, n = 5$$", "$$\\boxed{m = 12} \\quad \\text{and} \\quad \\boxed{n = 5}$$", True),
    ("$$(4, 6), (6, 4)$$", "$$\\boxed{(x, y) = (4, 6) \\quad \\text{or} \\quad (6, 4)}$$", True),
    ("\\boxed{3} cats and \\boxed{4} dogs", "$\\boxed{3,4}$", True),
    ("\\boxed{3} no no no no no \\boxed{4}", "$\\boxed{3,4}$", False),
    ("$7$ and $8$ and $9$", "$\\boxed{7,8,9}$", True),
    ("$31,25$ or $14$", "$31,25,14$", True),
    ("\\(\\boxed{7 \\text{ and } 9}\\)", "$\\boxed{7,9}$", True),
    ("$(2,5)$", "${2,5}$", True),
    ("$\\{2,6\\} \\cup \\{4\\}$", "$\\{6,4,2\\}$", True),
    ("${2,6} \\cup {4,8}$", "${2,4,6,8}$", True),
    ("$\\{2,6\\} \\cup \\{4\\}$", "$\\{2,4\\}$", False),
    ("$[0,3] \\cup [3,5]$", "$[0,5]$", True),
    ("$(0,3) \\cup (3,5)$", "$(0,5)$", False),
    ("$(5,2)$", "${2,5}$", False),
    # A gold set is matched in any order, even by a tuple; a gold tuple only in order.
    ("${2,5}$", "$(5,2)$", True),
    ("$z=3,\\ q = \\frac{11}{4}$", "$\\boxed{3, \\frac{11}{4}}$", True),
    (
        "$x_{1}=\\frac{1}{3}+\\frac{\\sqrt{7}}{3},\\quadx_{2}=\\frac{1}{3}-\\frac{\\sqrt{7}}{3}$",
        "$\\boxed{\\dfrac{1 + \\sqrt{7}}{3}} \\quad \\text{and} \\quad "
        "\\boxed{\\dfrac{1 - \\sqrt{7}}{3}}$",
        True,
    ),
]

LAYOUT = [
    (
        "\\begin{pmatrix} 2 & 1 \\\\ 0 & -4 \\end{pmatrix}",
        "Thus\n\\[\n\\boxed{\n\\begin{pmatrix} 2 & 1 \\\\ 0 & -4 \\end{pmatrix}\n}.\n\\]",
        True,
    ),
    (
        "$\\begin{pmatrix} 2 & 1 \\\\ 0 & -4 \\end{pmatrix}$",
        "\\begin{align*}\nM &= \\boxed{\n\\begin{pmatrix} 2 & 1 \\\\ 0 & 4 \\end{pmatrix}\n}."
        "\n\\end{align*}",
        False,
    ),
    ("$12$", "\\begin{align*}\nx &= 3 \\cdot 4 \\\\\n&= \\boxed{12}.\n\\end{align*}", True),
    ("$57$", "<think>Maybe \\boxed{56}? No, recount.</think> The count is \\boxed{57}.", True),
    ("$57$", "<think>It is \\boxed{57}, I think.</think> So the answer is 56.", False),
    ("$57$", "<think>Counting gives 57.</think>", True),
    (
        "$(4, \\frac{\\pi}{3})$",
        "the point is $\\\\boxed{\\\\left( 4, \\\\frac{\\\\pi}{3} \\\\right)}.$",
        True,
    ),
    ("$9$", "\\boxed{8}, then the final answer is $9$. I hope it is correct.", True),
    (
        "$\\begin{pmatrix}4 & 4 \\\\ 4 & 4\\end{pmatrix}$",
        "Adding: $\\begin{pmatrix}1 & 3 \\\\ 2 & 0\\end{pmatrix} + "
        "\\begin{pmatrix}3 & 1 \\\\ 2 & 4\\end{pmatrix}$",
        True,
    ),
    (
        "$\\begin{pmatrix}2 & 0 \\\\ 0 & 2\\end{pmatrix}$",
        "Squared: $\\begin{pmatrix}0 & 1 \\\\ 2 & 0\\end{pmatrix} "
        "\\begin{pmatrix}0 & 1 \\\\ 2 & 0\\end{pmatrix}$",
        True,
    ),
    (
        "$\\begin{pmatrix}2 & 0 \\\\ 0 & 2\\end{pmatrix}$",
        "Doubled: $2 \\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}$",
        True,
    ),
    # An inline \( ... \) formula does not run over lines.
    ("$4$", "Answer \\( \n 4 \n \\)", False),
    (
        "$\\begin{pmatrix} 1 \\\\ -3 \\end{pmatrix}$",
        "So\n$$\\boxed{\n\\begin{pmatrix}\n1 \\\\\n-3\n\\end{pmatrix}\n}$$",
        True,
    ),
    (
        "$\\begin{pmatrix} 1 \\\\ -3 \\end{pmatrix}$",
        "So\n$$\\boxed{\n\\begin{pmatrix}\n-3 \\\\\n1\n\\end{pmatrix}\n}$$",
        False,
    ),
    (
        "$\\begin{bmatrix} 0 & 1 \\\\ 1 & 0 \\end{bmatrix}$",
        "The matrix is\n\\[\n\\begin{pmatrix}\n0 & 1 \\\\\n1 & 0\n\\end{pmatrix}\n\\]",
        True,
    ),
    (
        "$20$",
        "\\begin{align*}\na + b &= 20 \\\\\na - b &= 4\n\\end{align*}\nso $a + b = \\boxed{20}$.",
        True,
    ),
    ("$-2$", "\\begin{align*}\n3y + 6 &= 0 \\\\\ny &= \\boxed{-2}\n\\end{align*}", True),
    ("$-2$", "\\begin{align*}\n3y + 6 &= 0 \\\\\ny &= \\boxed{2}\n\\end{align*}", False),
    (
        "$\\frac{3}{4}$",
        "<think>\nThree of four cases work.\n</think>\n\n"
        "The probability is $\\boxed{\\frac{3}{4}}$.",
        True,
    ),
    (
        "$\\frac{3}{4}$",
        "<think>\nThree of four cases work.\n</think>\n\nThe probability is $\\boxed{0.75}$.",
        True,
    ),
    (
        "$\\frac{3}{4}$",
        "<think>\nThree of four cases work.\n</think>\n\n"
        "The probability is $\\boxed{\\frac{4}{3}}$.",
        False,
    ),
    (
        "$\\begin{pmatrix} 3 \\\\ -1 \\\\ 2 \\end{pmatrix}$",
        "$\\boxed{\\begin{pmatrix} 3 \\\\ -1 \\\\ 2 \\end{pmatrix}}$",
        True,
    ),
    (
        "$\\begin{pmatrix} 3 \\\\ -1 \\\\ 2 \\end{pmatrix}$",
        "\\[\n\\boxed{\\begin{pmatrix}\n 3 \\\\\n -1 \\\\\n 2\n\\end{pmatrix}}\n\\]",
        True,
    ),
    (
        "$\\begin{pmatrix} 3 \\\\ -1 \\\\ 2 \\end{pmatrix}$",
        "\\[\n\\boxed{\\begin{pmatrix}\n 3 \\\\\n 1 \\\\\n 2\n\\end{pmatrix}}\n\\]",
        False,
    ),
    (
        "$\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$",
        "$\\boxed{\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}}$",
        True,
    ),
    (
        "$7$",
        "\\begin{align*}\n2x + 1 &= 15 \\\\\nx &= \\boxed{7}\n\\end{align*}",
        True,
    ),
    (
        "$\\frac{5}{2}$",
        "\\begin{align*}\n2y &= 5\\\\\ny &= \\frac{5}{2}\n\\end{align*}\n"
        "The answer is $\\boxed{\\frac{5}{2}}$.",
        True,
    ),
    (
        "$42$",
        "<think>\nLet me compute 6*7. That's 42.\n</think>\n\n"
        "**Final Answer**\n\\[\n\\boxed{42}\n\\]",
        True,
    ),
    (
        "$42$",
        "<think>\nLet me compute 6*7. That's 42.\n</think>\n\n"
        "**Final Answer**\n\\[\n\\boxed{43}\n\\]",
        False,
    ),
    (
        "$42$",
        "<think>\nokay\n</think>\nThe product is $\\boxed{42}$.",
        True,
    ),
]

SOLUTION_GOLDS = [
    ("We add them: $4 + 5 = \\boxed{9}$.", "The answer is 9.", True),
    ("We add them: $4 + 5 = \\boxed{9}$.", "The answer is 10.", False),
    (
        "Checking again, the remainder is \\boxed{007}.\n\n**Final Answer**\n\\boxed{007}",
        "$007$",
        True,
    ),
    ("Each side is 6, so the area is 36.\n#### 36", "Area: $36$", True),
    ("So the total is \\boxed{\\frac{7}{2}} cups.", "3.5", True),
]

CLASSES = {
    "latex-only completions and intervals": LATEX_ONLY_AND_INTERVALS,
    "equations, relations and ratios": RELATIONS,
    "numbers, units, percent and words": NUMBERS,
    "sets, tuples and several boxes": SETS,
    "matrices, align and think sections": LAYOUT,
    "gold given as a solution": SOLUTION_GOLDS,
}


#: Cases where math-verify's verdict is wrong, and why reasonloop's differs.
DELIBERATE = {
    ("$[2,5)$", "[2,5)"): "an interval written in plain text; math-verify reads intervals only"
    " inside LaTeX delimiters and takes the number 5",
    ("$-1,3$", "-1, 3"): "a list written in plain text; math-verify takes only its last number",
    (
        "\\begin{pmatrix} 2 & 1 \\\\ 0 & -4 \\end{pmatrix}",
        "Thus\n\\[\n\\boxed{\n\\begin{pmatrix} 2 & 1 \\\\ 0 & -4 \\end{pmatrix}\n}.\n\\]",
    ): "a gold matrix written without math delimiters; math-verify finds no answer in it",
    (
        "$57$",
        "<think>Maybe \\boxed{56}? No, recount.</think> The count is \\boxed{57}.",
    ): 'a draft box inside <think>, taken back ("No, recount"); math-verify joins both boxes',
    (
        "$57$",
        "<think>It is \\boxed{57}, I think.</think> So the answer is 56.",
    ): "the answer stated after the <think> section replaces the draft boxed inside it;"
    " math-verify prefers any box",
    ("$4$", "Answer \\( \n 4 \n \\)"): "an inline \\( \\) formula broken over lines is not"
    " read, as math-verify's LaTeX extraction does not read it; only its plain-number fallback"
    " finds the 4 inside",
}


@pytest.fixture(scope="module")
def verifier():
    with MathVerifier() as v:
        yield v


def check(verifier: MathVerifier, gold: str, completion: str, same: bool) -> None:
    result = verifier.verify(completion, gold)
    assert result.correct is same, (result.verdict, result.extracted, result.evidence)


def _cases(name: str) -> list:
    return [pytest.param(*case, id=str(i)) for i, case in enumerate(CLASSES[name])]


@pytest.mark.parametrize(
    ("gold", "completion", "same"), _cases("latex-only completions and intervals")
)
def test_latex_only_completions_and_intervals(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


@pytest.mark.parametrize(("gold", "completion", "same"), _cases("equations, relations and ratios"))
def test_equations_relations_and_ratios(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


@pytest.mark.parametrize(
    ("gold", "completion", "same"), _cases("numbers, units, percent and words")
)
def test_numbers_units_percent_and_words(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


@pytest.mark.parametrize(("gold", "completion", "same"), _cases("sets, tuples and several boxes"))
def test_sets_tuples_and_several_boxes(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


@pytest.mark.parametrize(
    ("gold", "completion", "same"), _cases("matrices, align and think sections")
)
def test_matrices_align_and_think_sections(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


@pytest.mark.parametrize(("gold", "completion", "same"), _cases("gold given as a solution"))
def test_gold_given_as_a_solution(verifier, gold, completion, same):
    check(verifier, gold, completion, same)


def test_every_deliberate_disagreement_is_a_listed_case():
    listed = {(gold, completion) for cases in CLASSES.values() for gold, completion, _ in cases}
    assert set(DELIBERATE) <= listed
