"""Find the boxed final answer of a completion: the last ``\\boxed{...}``, or several.

An answer split over boxes, ``\\boxed{1} and \\boxed{-2}`` or
``\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}``, is read as the
list of their contents. Boxes are joined, right to left, while the text
between two of them is short: under 10 characters, or under 70 with an
"and", "or", comma or semicolon in it and a box that differs from the one
after it. A box followed by a correction ("then, on reflection, \\boxed{2}")
stands alone. Every search is a linear scan of the text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["BoxedAnswer", "find_boxed", "find_boxes"]

_SEPARATOR = re.compile(r"\b(?:and|or)\b|[,;]")
# Words that take back an earlier box instead of adding to it.
_CORRECTION = re.compile(r"(?i)\b(?:then|actually|wait|instead|reflection|correct\w*|but|no)\b")
_CLOSE = 10
#: At most this many boxes are joined into one answer.
MAX_BOXES = 100
_NEAR = 70


class BoxedAnswer(NamedTuple):
    """The boxed answer: the contents joined by commas, and where the boxes lie."""

    text: str
    start: int
    end: int


def find_boxed(text: str) -> str | None:
    """Return the contents of the last box of ``text`` (boxes joined as a list), or None."""
    found = find_boxes(text)
    return found.text if found is not None else None


def find_boxes(text: str) -> BoxedAnswer | None:
    """Return the last run of boxes in ``text``, their contents joined by commas."""
    contents: list[str] = []
    limit = end = len(text)
    start = -1
    boxed, fbox = text.rfind(r"\boxed"), text.rfind(r"\fbox")
    while len(contents) < MAX_BOXES:
        # Each search resumes where the last one stopped, so the scan stays linear.
        if boxed >= limit:
            boxed = text.rfind(r"\boxed", 0, limit)
        if fbox >= limit:
            fbox = text.rfind(r"\fbox", 0, limit)
        at = max(boxed, fbox)
        if at < 0:
            break
        pos = at + (6 if at == boxed else 5)
        while pos < limit and text[pos] == " ":
            pos += 1
        if pos >= limit or text[pos] != "{":
            if not contents:
                # "\boxed 5": the box holds the next word.
                word = text[pos:limit].split(maxsplit=1)
                if word:
                    contents.append(word[0].rstrip("$."))
                    start, end = at, pos + len(word[0])
            break
        close = _closing_brace(text, pos, limit)
        if close is None:
            if not contents:
                contents.append(text[pos + 1 : limit])  # unclosed: keep what there is
                start = at
            break
        content = text[pos + 1 : close].strip()
        if contents and not _joins(text[close + 1 : start], content, contents[-1]):
            break
        if not contents:
            end = close + 1
        if not contents or contents[-1] != content:
            contents.append(content)
        start = limit = at
    if not contents:
        return None
    return BoxedAnswer(",".join(reversed(contents)), start, end)


def _joins(between: str, content: str, following: str) -> bool:
    if _CORRECTION.search(between):
        return False
    if len(between) < _CLOSE:
        return True
    return content != following and len(between) < _NEAR and bool(_SEPARATOR.search(between))


def _closing_brace(text: str, pos: int, limit: int) -> int | None:
    depth = 0
    for i in range(pos, limit):
        char = text[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
    return None
