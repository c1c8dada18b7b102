"""Clean an answer string so that the same answer written differently reads the same.

Removes what carries no value: math delimiters, currency signs, degree marks,
spacing commands, unit words after a number, thousands separators and a
closing full stop. Applied to both the extracted answer and the gold answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["clean_answer", "text_key", "unwrap_boxed"]

_DELIMITERS = (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]"))
_FRACTIONS = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\^\s*\{?\\degree\s*\}?|\\degree")
# "10,\!080" is a thousands separator: a negative thin space joins, other spacing separates.
_JOIN = re.compile(r"\\!\s*")
# "\quadx_2" (no space after \quad) is still spacing before x; "\ " is a space,
# but not the second backslash of a row break "\\ ".
_SPACING = re.compile(r"\\[,;:](?![a-zA-Z])|~|\\q?quad|\\displaystyle(?![a-zA-Z])|(?<!\\)\\ ")
_CURRENCY = re.compile(r"\\\$|\$(?=\s*-?\s*[\d.])|[€£¥₹]|\bUSD\b|\bRs\.?(?=\s*\d)")
_PERCENT_WORD = re.compile(r"\s*\b(?:percent(?:age)?|pct)\b|\\text\{\s*%\s*\}")
_AND_OR = re.compile(r"(?<=[\d})\]])\s*,?\s*\b(?:and|or)\b\s*(?=[-\d\\(\[])")
# "6 \text{ and } 8", "(5, 8) \quad \text{or} \quad (8, 5)": alternatives, read as a list.
_TEXT_AND_OR = re.compile(r"\s*,?\s*\\(?:text|textrm|mbox)\s*\{\s*(?:and|or)\s*\}\s*")
# "14{,}916": a comma in braces is a thousands separator.
_BRACED_COMMA = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)")
_SPACED_THOUSANDS = re.compile(r"^(-?\d{1,3})((?: \d{3})+)(\.\d+)?$")
# "1000,99", "0,111", "2,74": a decimal comma, where it cannot be a thousands separator.
_DECIMAL_COMMA = re.compile(r"^(\d+),(\d+)$")
_TRAILING_TEXT = re.compile(
    r"(?<=\S)\s*\\(?:text|mbox|textrm|mathrm|textnormal|textit|textbf)\s*"
    r"\{\s*[A-Za-z][A-Za-z .'/-]*\}\s*(?:\^\s*\{?\d\}?)?\s*$"
)
# A number (plain or LaTeX, no bare letters) followed by unit words: "5 dollars", "3\sqrt2 cm^2".
_TRAILING_WORDS = re.compile(
    r"^(?P<value>(?:[^a-zA-Z\\]|\\[a-zA-Z]+)*[\d}%])\s+"
    r"(?P<unit>[a-zA-Z]{2,}\.?(?:\s+[a-zA-Z]+\.?)*)\s*(?:\^\s*\{?\d\}?)?$"
)
_ATTACHED_UNIT = re.compile(
    r"(?<=\d)\s*(?:cm|mm|km|kg|mg|ml|ft|yd|hrs?|mins?|secs?|lbs?|oz|mph|kph|kmh)(?:\^\{?\d\}?)?$"
)
_THOUSANDS = re.compile(r"^([-+]?)(\d{1,3}(?:,\d{3})+)(\.\d+)?(%?)$")
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textrm|textit|textnormal|mathrm|mathbf|mbox)\s*\{([^{}]*)\}"
)
_NOT_IN_KEY = re.compile(r"[\s(){}.*\"'`]+")


def unwrap_boxed(text: str) -> str:
    """Return the contents of ``\\boxed{...}`` when the whole string is one box."""
    s = text.strip()
    for command in (r"\boxed", r"\fbox"):
        if s.startswith(command):
            rest = s[len(command) :].lstrip()
            if rest.startswith("{") and rest.endswith("}") and _balanced(rest[1:-1]):
                return rest[1:-1].strip()
    return s


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += (char == "{") - (char == "}")
        if depth < 0:
            return False
    return depth == 0


def _strip_delimiters(s: str) -> str:
    for _ in range(3):  # "$$x$$" or "\($x$\)"; a bound, since "$" * 10**5 is not math
        for left, right in _DELIMITERS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left) : len(s) - len(right)].strip()
                break
        else:
            return s
    return s


@lru_cache(maxsize=4096)  # gold answers repeat across the samples of a problem
def clean_answer(text: str) -> str:
    """Return ``text`` without delimiters, units, currency, spacing and a final full stop."""
    s = unwrap_boxed(text)
    s = _strip_delimiters(s.strip().rstrip(".").strip())
    s = _FRACTIONS.sub(r"\\frac", s)
    s = _DEGREES.sub("", s)
    s = _SPACING.sub(" ", _JOIN.sub("", s))
    s = _CURRENCY.sub("", s)
    s = s.replace(r"\%", "%")
    s = _PERCENT_WORD.sub("%", s)
    s = _BRACED_COMMA.sub(",", s)
    s = _TEXT_AND_OR.sub(", ", s)
    s = _AND_OR.sub(", ", s)
    s = " ".join(s.split())
    # Unit stripping scans the string; answers longer than this are not parsed anyway.
    for _ in range(2 if len(s) <= 2000 else 0):
        s = s.rstrip(" .,;:").strip()
        s = _TRAILING_TEXT.sub("", s)
        m = _TRAILING_WORDS.match(s)
        if m:
            s = m.group("value")
        s = _ATTACHED_UNIT.sub("", s)
    s = _strip_delimiters(s.rstrip(" .,;:").strip())
    return _plain_number(s)


def _plain_number(s: str) -> str:
    m = _DECIMAL_COMMA.match(s)
    if m and _is_decimal_comma(m.group(1), m.group(2)):
        return f"{m.group(1)}.{m.group(2)}"
    m = _THOUSANDS.match(s)
    if m:
        return m.group(1) + m.group(2).replace(",", "") + (m.group(3) or "") + m.group(4)
    m = _SPACED_THOUSANDS.match(s)
    if m:
        return m.group(1) + m.group(2).replace(" ", "") + (m.group(3) or "")
    return s


def _is_decimal_comma(whole: str, fraction: str) -> bool:
    # "1,234" groups thousands and "-2,1" or "3,4" lists two answers; these cannot.
    if len(fraction) == 3:
        return whole == "0" or len(whole) > 3
    return len(fraction) == 2 or whole == "0" or len(whole) > 3


def text_key(text: str) -> str | None:
    """Return the lowercased letters of a word answer ("\\text{(C)}" gives "c"), else None."""
    s = _TEXT_WRAPPER.sub(r"\1", text)
    s = _NOT_IN_KEY.sub("", s).lower()
    return s if s.isascii() and s.isalpha() else None
