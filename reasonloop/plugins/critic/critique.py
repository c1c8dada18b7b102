"""The critique format: numbered steps in the prompt, one verdict line per step back.

The critic sees the solution split into steps (one per line; a one-line
solution is split into sentences), numbered ``(1)``, ``(2)``..., after a
worked example of a review. It answers with one line per step and one for
the final answer::

    Step 1: correct - 48 - 19 = 29 is right.
    Step 2: wrong - 29 + 6 is 35, not 36.
    Final answer: wrong

:func:`parse_critique` turns that, or a critique in the format of
AutoMathCritique's released critic (``Step sentence: ... / Correctness of
the step: ...``, see :mod:`reasonloop.plugins.critic.mathcritique`), into a
:class:`Critique`. Text that does not follow the format is ``unparsable``
with the reason; nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from reasonloop.plugins.critic.mathcritique import (
    align_steps,
    looks_like_mathcritique,
    parse_blocks,
)

__all__ = [
    "DEFAULT_ANNOTATOR_HINT",
    "DEFAULT_CRITIQUE_TEMPLATE",
    "DEFAULT_REFINE_TEMPLATE",
    "Critique",
    "CritiqueFormat",
    "number_steps",
    "parse_critique",
    "render",
    "render_critique",
    "split_steps",
]

DEFAULT_CRITIQUE_TEMPLATE = """\
Review a solution to a math problem step by step, like the example.

Example problem: Tom has 5 pens and buys 3 more. How many pens does he have?
Example solution:
(1) Tom has 5 pens.
(2) He buys 3 more, so 5 + 3 = 9.
(3) Answer: 9
Example review:
Step 1: correct - he starts with 5 pens.
Step 2: wrong - 5 + 3 is 8, not 9.
Step 3: wrong - the answer should be 8.
Final answer: wrong

Write one line per step, "Step N: correct - <why>" or "Step N: wrong - <why>", \
then "Final answer: correct" or "Final answer: wrong".

Problem: {question}
Solution:
{steps}
Review:"""

DEFAULT_REFINE_TEMPLATE = """\
A reviewer checked your solution step by step:
{critique}

Use the review to solve the problem again, step by step. \
End with 'Answer: <number>'."""

DEFAULT_ANNOTATOR_HINT = """

(Only for you, the reviewer: the correct final answer is {answer}. \
Judge the steps yourself and do not mention this note.)"""

#: How critiques are read: by the look of the text, or one format only.
CritiqueFormat = Literal["auto", "reasonloop", "mathcritique"]

#: Placeholders each template must contain (``{steps}``: numbered, or
#: ``{solution}``: one step per line, unnumbered).
CRITIQUE_FIELDS = ("{question}",)
CRITIQUE_SOLUTION_FIELDS = ("{steps}", "{solution}")
REFINE_FIELDS = ("{critique}",)

#: Only this much of a critique is read: a runaway generation costs nothing more.
MAX_CRITIQUE_CHARS = 20_000

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_STEP = re.compile(
    r"^[\s>*#-]*step\s*(\d{1,3})\s*\**\s*[:：.)\-–]\s*\**\s*(correct|incorrect|wrong)\b\**\s*[:：.,\-–]?\s*(.*)$",
    re.IGNORECASE,
)
_FINAL = re.compile(
    r"^[\s>*#-]*final\s+answer\s*\**\s*[:：\-–]\s*\**\s*(correct|incorrect|wrong)\b",
    re.IGNORECASE,
)
_FINAL_WORD = re.compile(r"^[\s>*#-]*final\s+answer\b", re.IGNORECASE)


def split_steps(solution: str) -> list[str]:
    """Split a solution into steps: its non-empty lines, or its sentences if one line."""
    lines = [ln.strip() for ln in solution.strip().splitlines() if ln.strip()]
    if len(lines) == 1:
        return [s.strip() for s in _SENTENCE.split(lines[0]) if s.strip()]
    return lines


def number_steps(steps: list[str]) -> str:
    """The steps as the critic sees them: ``(1) ...``, one per line.

    The listing differs from the verdict lines (``Step 1: correct``) so a
    small critic does not just copy the solution back.
    """
    return "\n".join(f"({i}) {s}" for i, s in enumerate(steps, 1))


def render(template: str, **fields: str) -> str:
    """Fill ``{name}`` placeholders by plain replacement (braces in math stay as they are)."""
    out = template
    for name, value in fields.items():
        out = out.replace("{" + name + "}", value)
    return out


def render_critique(
    steps: list[str],
    verdicts: list[bool],
    final_correct: bool,
    fmt: str = "reasonloop",
    reasons: list[str] | None = None,
) -> str:
    """A critique in ``fmt`` (``reasonloop`` or ``mathcritique``) that parses to these verdicts."""
    word = {True: "correct", False: "wrong"}
    reasons = reasons or [""] * len(verdicts)
    if fmt == "mathcritique":
        blocks = []
        for step, ok, why in zip(steps, verdicts, reasons, strict=False):
            block = f"Step sentence: {step}\nCorrectness of the step: {word[ok].capitalize()}"
            blocks.append(block + (f"\nExplanation: {why}" if why else ""))
        final = f"Correctness of the final answer: {word[final_correct].capitalize()}"
        return "\n\n".join([*blocks, final])
    lines = [
        f"Step {i}: {word[ok]}" + (f" - {why}" if why else "")
        for i, (ok, why) in enumerate(zip(verdicts, reasons, strict=False), 1)
    ]
    return "\n".join([*lines, f"Final answer: {word[final_correct]}"])


@dataclass(frozen=True)
class Critique:
    """A parsed critique: verdicts per step, the final verdict, the feedback text."""

    #: ``True`` (correct) or ``False`` (wrong) for steps 1, 2, ... as judged.
    steps: tuple[bool, ...] = ()
    #: The critic's reason for each judged step.
    reasons: tuple[str, ...] = ()
    #: The verdict on the final answer; ``None`` when unparsable.
    final_correct: bool | None = None
    #: The critique text up to its final-answer line (what the actor is shown).
    feedback: str = ""
    #: Why the text could not be parsed; ``None`` when it was.
    unparsable: str | None = None
    #: How many steps the solution had.
    n_steps: int = 0
    #: The format the text was read in: ``reasonloop`` or ``mathcritique``.
    format: str = "reasonloop"

    @property
    def parsed(self) -> bool:
        return self.unparsable is None

    @property
    def first_wrong_step(self) -> int | None:
        """The 1-based number of the first step judged wrong, if any."""
        return next((i for i, ok in enumerate(self.steps, 1) if not ok), None)

    @property
    def accepts(self) -> bool:
        """The critic judged the final answer correct and no step wrong."""
        return self.parsed and bool(self.final_correct) and self.first_wrong_step is None

    def as_dict(self) -> dict[str, object]:
        return {
            "parsed": self.parsed,
            "unparsable": self.unparsable,
            "steps": list(self.steps),
            "first_wrong_step": self.first_wrong_step,
            "final_correct": self.final_correct,
            "accepts": self.accepts,
            "format": self.format,
        }


def _verdict(word: str) -> bool:
    return word.lower() == "correct"


def parse_critique(
    text: str,
    n_steps: int,
    fmt: CritiqueFormat = "auto",
    steps: list[str] | None = None,
) -> Critique:
    """Parse a critique of a solution with ``n_steps`` steps (``steps``: their texts, if known).

    ``fmt`` ``auto`` reads the authors' format when the text has its field
    lines (``Step sentence:``, ``Correctness of the step:``), else
    reasonloop's; see :func:`_parse_mathcritique` for the former.

    In reasonloop's format, parsable means: a ``Final answer: correct|wrong`` line; step verdicts
    numbered 1, 2, ... without gaps, none beyond ``n_steps`` and no step judged
    twice differently; and either every step judged, or the last judged step
    wrong (a critic may stop at the first error). Lines after the final-answer
    line are ignored, as is free text between verdict lines.
    """

    head = text[:MAX_CRITIQUE_CHARS]
    if fmt == "mathcritique" or (fmt == "auto" and looks_like_mathcritique(head)):
        return _parse_mathcritique(text, head, n_steps, steps)

    def fail(reason: str) -> Critique:
        return Critique(feedback=text.strip(), unparsable=reason, n_steps=n_steps)

    verdicts: dict[int, tuple[bool, str]] = {}
    order: list[int] = []
    final: bool | None = None
    kept: list[str] = []
    for line in head.splitlines():
        kept.append(line)
        m = _FINAL.match(line)
        if m:
            final = _verdict(m.group(1))
            break
        if _FINAL_WORD.match(line):
            return fail("a final-answer line without 'correct' or 'wrong'")
        m = _STEP.match(line)
        if m:
            number, ok, reason = int(m.group(1)), _verdict(m.group(2)), m.group(3).strip()
            if number in verdicts and verdicts[number][0] != ok:
                return fail(f"step {number} is judged both correct and wrong")
            if number not in verdicts:
                order.append(number)
            verdicts[number] = (ok, reason)
    if final is None:
        return fail("no 'Final answer: correct|wrong' line")
    if not verdicts:
        return fail("no step verdicts")
    if max(verdicts) > n_steps:
        return fail(f"judges step {max(verdicts)} of a {n_steps}-step solution")
    if order != sorted(order) or sorted(verdicts) != list(range(1, len(verdicts) + 1)):
        return fail(f"steps judged out of order or with gaps: {order}")
    steps = tuple(verdicts[i][0] for i in range(1, len(verdicts) + 1))
    if len(steps) < n_steps and steps[-1]:
        return fail(f"judges {len(steps)} of {n_steps} steps and finds no error")
    return Critique(
        steps=steps,
        reasons=tuple(verdicts[i][1] for i in range(1, len(verdicts) + 1)),
        final_correct=final,
        feedback="\n".join(kept).strip(),
        n_steps=n_steps,
    )


def _parse_mathcritique(text: str, head: str, n_steps: int, steps: list[str] | None) -> Critique:
    """Parse a critique in the authors' format (``Step sentence`` blocks, then the final one).

    Parsable means: a ``Correctness of the final answer: Correct|Wrong`` line
    and at least one ``Correctness of the step`` verdict. The critic's own
    steps are the sentences it repeats. With the solution's ``steps`` known,
    each repeated sentence is matched to the step it repeats (see
    ``mathcritique.align_steps``): a step is wrong when a sentence matched to
    it is, and a step it skipped before the last one it judged counts as
    correct (it flagged nothing there). A last repeated sentence without its
    own verdict is judged by the final verdict only. The explanation of the
    final verdict is part of the feedback the actor is shown.
    """
    blocks = parse_blocks(head)
    if blocks.unparsable is not None:
        return Critique(
            feedback=text.strip(),
            unparsable=blocks.unparsable,
            n_steps=n_steps,
            format="mathcritique",
        )
    verdicts, reasons = blocks.verdicts, blocks.reasons
    if steps:
        where = align_steps(blocks.sentences, steps)
        per_step: dict[int, list[int]] = {}
        for i, j in enumerate(where):
            per_step.setdefault(j, []).append(i)
        last = max(where)
        verdicts = [all(verdicts[i] for i in per_step.get(j, [])) for j in range(last + 1)]
        reasons = [" ".join(reasons[i] for i in per_step.get(j, [])) for j in range(last + 1)]
    return Critique(
        steps=tuple(verdicts),
        reasons=tuple(reasons),
        final_correct=blocks.final,
        feedback=blocks.feedback,
        n_steps=n_steps,
        format="mathcritique",
    )
