"""Did a guided solution work the problem, or copy the answer out of the hint?

Critique-guided refinement and hint-guided sampling (answer-driven guidance,
a teacher's feedback) show the model text that may contain the final answer.
A "solution" that restates that answer without working is correct by the
verifier and worthless as training data. The check compares how many numbers
the solution works with against solutions that did work the problem (the
model's own earlier attempt, the reference rationale): a shortcut uses far
fewer, or none of the problem's own numbers.

One mechanism serves every plugin that shows hints; do not write another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["shortcut_reason", "working_numbers"]

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?(?![\w])")
_TRAILING_ZEROS = re.compile(r"\.0+$")
# The final-answer statement: "Answer: N", "#### N", "\boxed{N}" and the rest of its line.
_FINAL = re.compile(r"(?im)(?:^.*\banswer\s*(?:is|:|=).*$|####.*$|\\boxed\{[^{}]*\})")


def _numbers(text: str) -> list[str]:
    # "1,200" is 1200 and "290.0" is 290: data written as floats must match the problem's text.
    return [_TRAILING_ZEROS.sub("", m.group().replace(",", "")) for m in _NUMBER.finditer(text)]


def working_numbers(text: str) -> list[str]:
    """The numbers a solution works with, leaving out its final-answer statement."""
    return _numbers(_FINAL.sub(" ", text))


def shortcut_reason(
    solution: str,
    *,
    problem: str,
    references: Sequence[str | None] = (),
    ratio: float = 0.5,
) -> str | None:
    """Return why ``solution`` looks like a copied answer, or ``None`` if it worked.

    ``problem`` is the question text; ``references`` are solutions known to
    work the problem (the original attempt, the reference rationale); empty
    ones are ignored. A solution is a shortcut when its working (everything
    but the final-answer statement) uses none of the problem's numbers, or
    fewer numbers than ``ratio`` times the leanest reference.
    """
    working = working_numbers(solution)
    given = set(_numbers(problem))
    if given and not given.intersection(working):
        return "works with none of the problem's numbers"
    counts = [len(working_numbers(r)) for r in references if r]
    counts = [c for c in counts if c > 0]
    if counts:
        needed = max(1, int(ratio * min(counts) + 0.999))
        if len(working) < needed:
            return (
                f"works with {len(working)} numbers; reference solutions use at least {min(counts)}"
            )
    return None
