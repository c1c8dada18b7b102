"""Find the final answer in a model's completion.

In order of preference: the last ``\\boxed{...}`` (or ``\\fbox``), the last
``#### X`` line (GSM8K), the text after the last "final answer" / "answer is"
/ "Answer:", and otherwise the last number or LaTeX formula. Every search is a
linear scan, so long completions cost time in proportion to their length.
"""

from __future__ import annotations

import re

from reasonloop.verifiers.math.normalize import clean_answer

__all__ = ["TAIL", "extract_answer", "find_boxed"]

#: Without a marker, the answer is looked for in this many final characters.
TAIL = 10_000

_ANCHOR = re.compile(r"(?i)\b(?:final\s+answer|answer)\b")
# What may sit between the anchor and the answer: "is", "would be", ":", "=".
_LEAD_IN = re.compile(
    r"(?i)^(?:(?!\.\s)[^\n]){0,60}?(?:\b(?:is|are|was|will\s+be|would\s+be|should\s+be|equals)\b|[:=])"
)
_MARKUP = " \t*_:\"'`"
_WORD = re.compile(r"[A-Za-z]{3,}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d+ (?=\d+/\d))?"  # the whole of a mixed number "2 1/4"
    r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?![\d.]))?(?:\s*\\?%)?"
    r"|(?<![\w.])-?\.\d+"
)
_LATEX = re.compile(
    r"\$\$(?P<a>[^$]{1,1000})\$\$|\\\[(?P<b>.{1,1000}?)\\\]|\\\((?P<c>.{1,1000}?)\\\)"
    r"|(?<![\\\d])\$(?P<d>(?:\\\$|[^$\n]){1,500}?)(?<!\\)\$"
    r"|(?P<e>-?\\[dt]?frac\{[^{}]{1,50}\}\{[^{}]{1,50}\})",
    re.DOTALL,
)


def extract_answer(text: str) -> str | None:
    """Return the final answer written in ``text``, cleaned, or None when there is none."""
    for find in (find_boxed, _after_hashes, _after_anchor, _last_value):
        raw = find(text)
        if raw is not None:
            answer = clean_answer(raw)
            if answer:
                return answer
    return None


def find_boxed(text: str) -> str | None:
    """Return the contents of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``text``."""
    start = max(text.rfind(r"\boxed"), text.rfind(r"\fbox"))
    if start < 0:
        return None
    pos = start + (6 if text.startswith(r"\boxed", start) else 5)
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos >= len(text) or text[pos] != "{":
        # "\boxed 5": the box holds the next word.
        word = text[pos:].split(maxsplit=1)
        return word[0].rstrip("$.") if word else None
    depth = 0
    for i in range(pos, len(text)):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1 : i]
    return text[pos + 1 :]  # unclosed: keep what there is


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
    latex = _LATEX.match(rest)
    if latex:
        return next(g for g in latex.groups() if g is not None)
    end = _SENTENCE_END.search(rest)
    answer = (rest[: end.start()] if end else rest).strip(_MARKUP)
    if not answer:
        return None
    # "the answer is 18 because ..." : a clause that is not math gives way to its first number.
    if _looks_like_math(clean_answer(answer)):
        return answer
    number = _NUMBER.search(answer)
    return number.group() if number else answer


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
    for candidate in _LATEX.finditer(text):
        body = next(g for g in candidate.groups() if g is not None)
        # "$5 and $6" pairs currency signs; only a formula with commands is LaTeX.
        if "\\" in body or "=" in body or "^" in body:
            latex = candidate
    if latex is not None and (number is None or latex.end() >= number.end()):
        return next(g for g in latex.groups() if g is not None)
    return number.group() if number is not None else None
