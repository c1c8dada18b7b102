"""The critique format of AutoMathCritique's released critic, and its prompt.

A critic trained on the MathCritique data repeats each step and judges it,
then judges the final answer::

    Step sentence: She sold 30 / 2 = 15 eggs
    Correctness of the step: Wrong
    Explanation: half the eggs is not what recovers her $5.

    Correctness of the final answer: Wrong
    Explanation: she must sell 500 / 20 = 25 eggs, so 5 are left.

:func:`parse_mathcritique` reads that into the same step verdicts, reasons
and final verdict as reasonloop's ``Step N: correct|wrong`` lines. The
critic numbers nothing: its steps are the sentences it repeats, which may
skip a step (often the ``The answer is`` line) or split one, so when the
solution's own steps are known each repeated sentence is matched to the
step it repeats. Text that does not follow the format is unparsable with
the reason; nothing is guessed.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["MATHCRITIQUE_TEMPLATE", "ParsedBlocks", "looks_like_mathcritique", "parse_blocks"]

#: The authors' critic instruction (their ``critic_template``), so a critic
#: trained on their data sees the prompt it was trained on. ``{solution}`` is
#: the solution one step per line, as they show it.
MATHCRITIQUE_TEMPLATE = """\
Instruction:
For a given question, there is a step-by-step solution, where each line is a step. \
Please check step by step to tell me whether the solution is correct or wrong. \
You should repeat each step and give me an explanation on whether this step is correct or wrong. \
Finally, you should tell me whether the final answer is correct or wrong.

Your answer format should be:

Step sentence: [Repeated sentence, ignoring new line break]
Correctness of the step: [Correct/Wrong]
Explanation: [Your Explanation]

Correctness of the final answer: [Correct/Wrong]
Explanation: [Your Explanation]

Question:
{question}

Solution:
{solution}"""

_LEAD = r"^[\s>*#\-]*\**\s*"
_SEP = r"\s*\**\s*[:：]\s*\**\s*"
_SENTENCE = re.compile(_LEAD + r"step\s+sentence" + _SEP + r"(.*)$", re.IGNORECASE)
_STEP_VERDICT = re.compile(_LEAD + r"correctness\s+of\s+(?:the\s+)?step" + _SEP + r"(.*)$", re.I)
_FINAL_VERDICT = re.compile(
    _LEAD + r"correctness\s+of\s+(?:the\s+)?final\s+answer" + _SEP + r"(.*)$", re.IGNORECASE
)
_EXPLANATION = re.compile(_LEAD + r"explanation" + _SEP + r"(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\b(correct|incorrect|wrong)\b", re.IGNORECASE)
_DETECT = re.compile(
    r"^[\s>*#\-]*\**\s*(step\s+sentence|correctness\s+of\s+(the\s+)?(step|final\s+answer))"
    r"\s*\**\s*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_CALCULATOR = re.compile(r"<<[^<>]*>>")


def looks_like_mathcritique(text: str) -> bool:
    """Whether ``text`` uses the authors' field lines (for ``critique_format: auto``)."""
    return _DETECT.search(text) is not None


def _verdict(value: str) -> bool | None:
    """``True``/``False`` for one verdict word (``[Wrong]``, ``**correct**``); else ``None``."""
    words = {w.lower().replace("incorrect", "wrong") for w in _WORD.findall(value)}
    if len(words) != 1:  # none, or "Correct/Wrong" copied from the instruction
        return None
    return words == {"correct"}


class ParsedBlocks:
    """The judged steps, the final verdict and the text read, or why they could not be read."""

    def __init__(self) -> None:
        self.sentences: list[str] = []
        self.verdicts: list[bool] = []
        self.reasons: list[str] = []
        self.final: bool | None = None
        self.feedback = ""
        self.unparsable: str | None = None


def parse_blocks(text: str) -> ParsedBlocks:
    """Read the step blocks and the final verdict of a critique in the authors' format."""
    out = ParsedBlocks()
    # Each block: [sentence, verdict or None, explanation lines].
    blocks: list[list] = []
    field: list[str] | None = None  # the lines a continuation line belongs to
    kept: list[str] = []
    final_reason: list[str] = []
    for line in text.splitlines():
        if out.final is not None:
            # After the final verdict only its explanation is read.
            if _SENTENCE.match(line) or _STEP_VERDICT.match(line) or _FINAL_VERDICT.match(line):
                break
            m = _EXPLANATION.match(line)
            final_reason.append(m.group(1) if m else line)
            kept.append(line)
            continue
        kept.append(line)
        if m := _FINAL_VERDICT.match(line):
            verdict = _verdict(m.group(1))
            if verdict is None:
                out.unparsable = "a 'Correctness of the final answer' line without Correct or Wrong"
                return out
            out.final = verdict
            field = None
        elif m := _SENTENCE.match(line):
            blocks.append([m.group(1).strip(), None, []])
            field = None
        elif m := _STEP_VERDICT.match(line):
            verdict = _verdict(m.group(1))
            if verdict is None:
                out.unparsable = (
                    f"a 'Correctness of the step' line without Correct or Wrong: {line!r}"
                )
                return out
            if not blocks or blocks[-1][1] is not None:
                blocks.append(["", None, []])  # a verdict without the repeated sentence
            blocks[-1][1] = verdict
            field = blocks[-1][2]
        elif m := _EXPLANATION.match(line):
            if blocks:
                blocks[-1][2].append(m.group(1))
                field = blocks[-1][2]
        elif field is not None and line.strip():
            field.append(line.strip())
    if out.final is None:
        out.unparsable = "no 'Correctness of the final answer: Correct|Wrong' line"
        return out
    for i, (sentence, verdict, reason) in enumerate(blocks, 1):
        if verdict is None:
            if i < len(blocks):
                out.unparsable = f"step sentence {i} has no 'Correctness of the step' line"
                return out
            continue  # the last repeated sentence, judged by the final verdict only
        out.sentences.append(sentence)
        out.verdicts.append(verdict)
        out.reasons.append(" ".join(r.strip() for r in reason if r.strip()))
    if not out.verdicts:
        out.unparsable = "no step verdicts"
        return out
    out.feedback = "\n".join(kept).strip()
    return out


def _normal(text: str) -> str:
    return " ".join(_CALCULATOR.sub("", text).lower().split()).strip(" .")


def align_steps(sentences: list[str], steps: list[str]) -> list[int]:
    """The solution step (0-based) each repeated sentence belongs to, in order.

    A sentence goes to the best-matching step at or after the previous
    sentence's step (the authors' critic drops calculator notes ``<<...>>``
    when repeating, so they are ignored); a sentence that matches no step
    well (a paraphrase, or none repeated) goes to the step after the
    previous one, as if counted.
    """
    shown = [_normal(s) for s in steps]
    out: list[int] = []
    at = -1
    for sentence in sentences:
        start = max(at, 0)
        said = _normal(sentence)
        best, score = start, 0.0
        for j in range(start, len(shown)):
            if said and (said == shown[j] or said in shown[j] or shown[j] in said):
                r = 1.0
            else:
                r = SequenceMatcher(None, said, shown[j]).ratio()
            if r > score:
                best, score = j, r
        at = best if score >= 0.6 else min(at + 1, len(shown) - 1)
        out.append(at)
    return out
