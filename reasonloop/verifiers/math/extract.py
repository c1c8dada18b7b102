"""Find the final answer in a model's completion (or in a worked solution).

A ``<think>`` section is passed over when an answer follows it. Then, in
order of preference: the last ``\\boxed{...}`` (several boxes in a row make a
list, see :mod:`~reasonloop.verifiers.math.boxed`), unless a "final answer
is" sentence follows it; the last ``#### X`` line (GSM8K); the text after the
last "final answer" / "answer is" / "Answer:"; the whole text when it is one
answer (``$[0,1)$``, ``1 000``, ``$1$ and $2$``); and otherwise the last
number or LaTeX formula. Every search is a linear scan, so long completions
cost time in proportion to their length.
"""

from __future__ import annotations

import re

from reasonloop.verifiers.math.boxed import find_boxed, find_boxes
from reasonloop.verifiers.math.normalize import clean_answer

__all__ = ["TAIL", "extract_answer", "find_boxed"]

#: Without a marker, the answer is looked for in this many final characters.
TAIL = 10_000

_ANCHOR = re.compile(r"(?i)\b(?:final\s+answer|answer)\b")
_FINAL = re.compile(r"(?i)\bfinal\s+answer\b")
_THINK_END = "</think>"
# "\\frac" written with its backslash doubled (text escaped once more than it should be).
_DOUBLED = re.compile(r"(?<!\\)\\\\(?=[a-zA-Z])")
_CONNECTOR = re.compile(r"\s*(?:,?\s*(?:and|or)\b|,)\s*")
#: Longer texts are never taken whole as one answer.
WHOLE = 1000
# What may sit between the anchor and the answer: "is", "would be", ":", "=".
_LEAD_IN = re.compile(
    r"(?i)^(?:(?!\.\s)[^\n]){0,60}?(?:\b(?:is|are|was|will\s+be|would\s+be|should\s+be|equals)\b|[:=])"
)
_MARKUP = " \t*_:\"'`"
_WORD = re.compile(r"[A-Za-z]{3,}")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d+ (?=\d+/\d))?"  # the whole of a mixed number "2 1/4"
    r"(?:\d{1,3}(?:,\d{3})+(?!\d)|[1-9]\d{0,2}(?: \d{3})+(?![\d/])|\d+(?:,\d{1,2}(?!\d))?)"
    r"(?:\.\d+)?"
    r"(?:\s*/\s*\d+(?!\d|\.\d))?(?:\s*\\?%)?"
    r"|(?<![\w.])-?\.\d+"
)
_LATEX = re.compile(
    r"\$\$(?P<a>[^$]{1,1000})\$\$|\\\[(?P<b>.{1,1000}?)\\\]|\\\((?P<c>[^\n]{1,1000}?)\\\)"
    r"|(?<![\\\d])\$(?P<d>(?:\\\$|[^$\n]){1,500}?)(?<!\\)\$"
    r"|(?P<e>-?\\[dt]?frac\{[^{}]{1,50}\}\{[^{}]{1,50}\})",
    re.DOTALL,
)


def extract_answer(text: str) -> str | None:
    """Return the final answer written in ``text``, cleaned, or None when there is none."""
    if "\\\\" in text and r"\begin" not in text:
        text = _DOUBLED.sub(r"\\", text)
    think = text.rfind(_THINK_END)
    if think >= 0:
        answer = _find(text[think + len(_THINK_END) :])
        if answer is not None:
            return answer
    return _find(text)


def _find(text: str) -> str | None:
    for find in (_boxed, _after_hashes, _after_anchor, _whole, _last_value):
        raw = find(text)
        if raw is not None:
            answer = clean_answer(raw)
            if answer:
                return answer
    return None


def _boxed(text: str) -> str | None:
    found = find_boxes(text)
    if found is None:
        return None
    final = None
    for final in _FINAL.finditer(text, found.end):  # noqa: B007 - the last one is wanted
        pass
    # "\\boxed{255} ... Final Answer: The final answer is $10,455$": the sentence is later.
    if final is not None:
        after = _after_anchor(text[final.start() :])
        if after is not None and any(c.isdigit() for c in after) and clean_answer(after):
            return after
    return found.text


def _after_hashes(text: str) -> str | None:
    start = text.rfind("####")
    if start < 0:
        return None
    line = text[start + 4 :].lstrip("# ").split("\n", 1)[0]
    return line.strip() or None


def _after_anchor(text: str) -> str | None:
    match = None
    for match in _ANCHOR.finditer(text):  # noqa: B007 - the last one is wanted
        pass
    if match is None:
        return None
    rest = text[match.end() : match.end() + 1000]
    lead = _LEAD_IN.match(rest)
    if lead:
        rest = rest[lead.end() :]
    rest = rest.lstrip(_MARKUP + "\n")
    run = _latex_run(rest)
    if run is not None:
        return run[0]
    end = _SENTENCE_END.search(rest)
    answer = (rest[: end.start()] if end else rest).strip(_MARKUP)
    if not answer:
        return None
    # "the answer is 18 because ..." : a clause that is not math gives way to its first number.
    if _looks_like_math(clean_answer(answer)):
        return answer
    number = _NUMBER.search(answer)
    return number.group() if number else answer


def _latex_run(text: str, pos: int = 0) -> tuple[str, int] | None:
    """Return the formulas at ``pos`` joined by commas ("$1$, $2$ and $3$"), and their end."""
    bodies = []
    while len(bodies) < 6:
        latex = _LATEX.match(text, pos)
        if latex is None:
            break
        bodies.append(_body(latex))
        pos = latex.end()
        connector = _CONNECTOR.match(text, pos)
        if connector is None or _LATEX.match(text, connector.end()) is None:
            break
        pos = connector.end()
    return (",".join(bodies), pos) if bodies else None


def _body(latex: re.Match[str]) -> str:
    return next(g for g in latex.groups() if g is not None)


def _whole(text: str) -> str | None:
    # A completion that is nothing but its answer: "$[0,1)$", "1 000", "$1$ and $2$".
    s = text.strip().rstrip(".").strip()
    if not s or len(s) > WHOLE:
        return None
    run = _latex_run(s)
    if run is not None:
        return run[0] if run[1] == len(s) else None
    if "$" in s or r"\(" in s or r"\[" in s:
        return None
    answer = clean_answer(s)
    words = _LETTERS.findall(_COMMAND.sub("", answer))
    if _parses(answer) and (not words or (len(words) == 1 and words[0] == answer.strip())):
        return s
    return None


def _parses(answer: str) -> bool:
    from reasonloop.verifiers.math.parse import parse_answer

    try:
        parse_answer(answer)
    except ValueError:
        return False
    return True


def _looks_like_math(answer: str) -> bool:
    from reasonloop.verifiers.math.parse import parse_answer

    try:
        parse_answer(answer)
    except ValueError:
        return False
    # Plain words parse as products of letters, but two words make a clause, not math.
    return len(_WORD.findall(_COMMAND.sub("", answer))) < 2


def _last_value(text: str) -> str | None:
    # The final answer sits at the end; scanning only the tail bounds the work.
    text = text[-TAIL:]
    number = latex = None
    for number in _NUMBER.finditer(text):  # noqa: B007 - the last one is wanted
        pass
    for candidate in reversed(list(_LATEX.finditer(text))):
        body = _body(candidate)
        # "$5 and $6" pairs currency signs: a formula is written tight to its "$" signs.
        tight = candidate.group("d") is None or body == body.strip()
        if "\\" in body or "=" in body or "^" in body or (tight and _parses(clean_answer(body))):
            latex = candidate
            break
    if latex is not None and (number is None or latex.end() >= number.end()):
        return _run_ending_at(text, latex)
    return number.group() if number is not None else None


def _run_ending_at(text: str, last: re.Match[str]) -> str:
    # "$21,16$ or $11$": formulas joined by "and", "or" or commas make one list answer.
    bodies = [_body(last)]
    start = last.start()
    while len(bodies) < 6:
        before = text[max(0, start - 8) : start]
        connector = re.search(r"(?:,?\s*(?:and|or)|,)\s*$", before)
        if connector is None:
            break
        cut = start - (len(before) - connector.start())
        previous = None
        for previous in _LATEX.finditer(text, max(0, cut - 1000), cut):  # noqa: B007
            pass
        if previous is None or previous.end() != cut:
            break
        bodies.append(_body(previous))
        start = previous.start()
    return ",".join(reversed(bodies))
