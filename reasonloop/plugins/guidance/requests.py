"""What a guided attempt asks: hints, worked examples, pre-filled prefixes, feedback.

Each function builds the messages (and prefill) of one strategy for one
problem. The reference solution stands in for a missing rationale as
``Answer: <answer>``, so every strategy can serve any problem with an answer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from reasonloop.core.records import Message

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext
    from reasonloop.core.records import Problem
    from reasonloop.plugins.guidance.settings import GuidanceSettings, GuidanceTemplates

__all__ = [
    "fill",
    "hint_messages",
    "reference_lines",
    "reference_solution",
    "revise_messages",
    "state_reset_prefix",
    "teacher_messages",
]

_WORD = re.compile(r"\S+")


def fill(template: str, **values: str) -> str:
    """Replace ``{name}`` placeholders; other braces (LaTeX, code) are left alone."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def reference_solution(problem: Problem) -> str:
    """The reference rationale, or ``Answer: <answer>`` when the data has none."""
    ref = problem.reference
    if ref is None:
        return ""
    if ref.rationale and ref.rationale.strip():
        return ref.rationale.strip()
    return f"Answer: {ref.answer}" if ref.answer else ""


def reference_lines(problem: Problem) -> list[str]:
    return [line.rstrip() for line in reference_solution(problem).splitlines() if line.strip()]


def _values(run: RunContext, problem: Problem) -> dict[str, str]:
    ref = problem.reference
    return {
        "problem": run.format_problem(problem),
        "question": problem.prompt,
        "answer": (ref.answer or "") if ref else "",
        "rationale": reference_solution(problem),
    }


def hint_messages(
    run: RunContext, problem: Problem, strategy: str, templates: GuidanceTemplates
) -> list[Message]:
    """The actor's messages for ``answer``, ``rationale``, ``state_reset`` or ``brute_force``.

    State reset and brute force ask the plain question; state reset's help
    is its prefill (see :func:`state_reset_prefix`).
    """
    if strategy in ("answer", "rationale"):
        template = templates.answer if strategy == "answer" else templates.rationale
        return run.problem_messages(problem, fill(template, **_values(run, problem)))
    return run.problem_messages(problem)


def _answer_at(text: str, answer: str) -> int | None:
    """Where the final answer first appears in ``text`` (as a whole number, if numeric)."""
    answer = answer.strip()
    if not answer:
        return None
    plain = answer.replace(",", "")
    if re.fullmatch(r"-?\d+(\.\d+)?", plain):
        # Digits may be grouped with commas in the text: 1500 is also 1,500.
        number = ",?".join(re.escape(ch) for ch in plain)
        m = re.search(r"(?<![\d.,])" + number + r"(?:\.0+)?(?![\d]|\.\d)", text)
        return m.start() if m else None
    found = text.find(answer)
    return found if found >= 0 else None


#: A line that states the final answer: ``Answer: 18``, ``The answer is 18``, ``#### 18``, or
#: one holding ``\\boxed{...}`` (MATH's last sentence).
_ANSWER_LINE = re.compile(
    r"^\s*(?:####|(?:so,?\s+)?the\s+(?:final\s+)?answer\s+is\b|(?:final\s+)?answer\s*[:\uff1a])"
    r"|\\boxed\s*\{",
    re.IGNORECASE,
)


def state_reset_prefix(problem: Problem, index: int, settings: GuidanceSettings) -> str | None:
    """The start of the reference solution to pre-fill on a problem's ``index``-th reset.

    ``state_reset_stop: final_line`` (the default, as in the GSI paper): with
    ``lines``, the first k lines, k = 1 .. L-1 over the attempts, then from 1
    again, where the reference counts its final-answer statement as its last
    line (GSM8K's rationale gets ``Answer: N`` for the ``#### N`` its loader
    strips), so every working line may be given but never the statement of
    the answer. With ``shares``, or when the working is one line: that share
    of the reference's words (rounded down, at least one, never all). ``state_reset_stop: answer``
    stops before where the final answer first appears instead
    (:func:`_prefix_before_answer`). ``None``: nothing to give.
    """
    if settings.state_reset_stop == "answer":
        return _prefix_before_answer(problem, index, settings)
    lines = reference_lines(problem)
    if not lines:
        return None
    answer = (problem.reference.answer or "").strip() if problem.reference else ""
    if answer and not _ANSWER_LINE.search(lines[-1]):
        lines = [*lines, f"Answer: {answer}"]
    # One working line and the answer: a share of the words, not the whole working.
    if settings.state_reset_unit == "lines" and len(lines) >= 3:
        k = 1 + index % (len(lines) - 1)
        return "\n".join(lines[:k]) + "\n"
    text = reference_solution(problem)
    words = list(_WORD.finditer(text))
    if len(words) < 2:
        return None
    share = settings.state_reset_shares[index % len(settings.state_reset_shares)]
    cut = min(max(1, int(share * len(words))), len(words) - 1)
    return text[: words[cut - 1].end()]


def _prefix_before_answer(problem: Problem, index: int, settings: GuidanceSettings) -> str | None:
    """``state_reset_stop: answer``: the prefix never reaches where the final answer appears.

    It never holds the final line, nor anything from where the final answer
    first appears: the model must still do the step that reaches it. With
    ``lines``: the first k whole lines before that point, k = 1, 2, ... then
    from 1 again. With ``shares``, or when no whole line comes before the
    answer (a one-step solution): that share of the words before it, at least
    one word and never all.
    """
    lines = reference_lines(problem)
    if not lines:
        return None
    body = lines[:-1] if len(lines) >= 2 else lines
    ref = problem.reference
    text = "\n".join(body)
    at = _answer_at(text, ref.answer or "") if ref else None
    if at is not None:
        text = text[:at]
        whole = text.count("\n")  # lines that end before the answer appears
    else:
        whole = len(body) if len(lines) >= 2 else 0
    if settings.state_reset_unit == "lines" and whole >= 1:
        k = 1 + index % whole
        return "\n".join(text.split("\n")[:k]) + "\n"
    words = list(_WORD.finditer(text))
    # All the words before the answer is a fine last step ("12 + 30 =");
    # the whole of a solution without the answer in it is not.
    top = len(words) if at is not None else len(words) - 1
    if top < 1:
        return None
    share = settings.state_reset_shares[index % len(settings.state_reset_shares)]
    cut = min(max(1, round(share * len(words))), top)
    return text[: words[cut - 1].end()]


def teacher_messages(
    run: RunContext, problem: Problem, attempt: str, templates: GuidanceTemplates
) -> list[Message]:
    """The teacher's messages: the question, the wrong attempt and the reference."""
    user = fill(templates.teacher, **_values(run, problem), attempt=attempt.strip())
    return [
        Message(role="system", content=templates.teacher_system),
        Message(role="user", content=user),
    ]


def revise_messages(
    run: RunContext, problem: Problem, attempt: str, feedback: str, templates: GuidanceTemplates
) -> list[Message]:
    """The actor's revision turn: its question, its wrong attempt, then the feedback."""
    return [
        *run.problem_messages(problem),
        Message(role="assistant", content=attempt.strip()),
        Message(
            role="user",
            content=fill(
                templates.revise,
                **_values(run, problem),
                attempt=attempt.strip(),
                feedback=feedback.strip(),
            ),
        ),
    ]
