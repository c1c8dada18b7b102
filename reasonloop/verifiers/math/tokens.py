"""Split a math answer (LaTeX or plain text) into tokens for the parser.

One compiled regular expression, matched left to right, so the work is linear
in the length of the input; the input length itself is capped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from reasonloop.verifiers.math.tree import LimitExceeded

__all__ = ["MAX_LENGTH", "Token", "TokenCursor", "tokenize"]

#: Longer answers are not parsed (an exact string match can still accept them).
MAX_LENGTH = 2000
#: Longer numbers are not converted (Python refuses > 4300 digits anyway).
MAX_DIGITS = 1000

T = TypeVar("T")


class Token(NamedTuple):
    """One token: ``kind`` is num, letter, cmd, op, text, begin, end, rowsep."""

    kind: str
    text: str
    #: Whitespace came before it: "1 1/2" is a mixed number, "11/2" is not.
    space: bool = False


_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<num>\d+(?:\.\d+)?|\.\d+)
    |\\begin\s*\{(?P<begin>[a-zA-Z*]+)\}
    |\\end\s*\{(?P<end>[a-zA-Z*]+)\}
    |\\(?:text|textrm|textbf|textit|textnormal|textsf|mbox|mathrm|mathbf|mathit|mathsf
        |operatorname)\s*\{(?P<text>[^{}]*)\}
    |(?P<cmd>\\[a-zA-Z]+)
    |(?P<rowsep>\\\\)
    |(?P<esc>\\[{}|%,;:!\s])
    |(?P<letter>[a-zA-Z])
    |(?P<op><=|>=|!=|[-+*/^_(){}\[\],=<>!|&;%':])
    """,
    re.VERBOSE,
)

_UNICODE = str.maketrans(
    {
        "×": "*",
        "·": "*",
        "⋅": "*",
        "÷": "/",
        "−": "-",
        "–": "-",
        "≤": r"\le ",
        "≥": r"\ge ",
        "≠": r"\ne ",
        "∞": r"\infty ",
        "π": r"\pi ",
        "√": r"\sqrt ",
        "±": r"\pm ",
        "∪": r"\cup ",
        "°": "",
    }
)

# Commands that are only layout: dropping them never changes the value.
_LAYOUT = frozenset(
    str.split(
        r"\left \right \bigl \bigr \Bigl \Bigr \big \Big \bigg \Bigg \displaystyle \quad \qquad"
        r" \textstyle \limits \nolimits \circ \degree \boxed \fbox \mathbb \mathcal"
    )
)

# Commands that are operators, under the name the parser uses for them.
_OPERATORS = {
    r"\cdot": "*",
    r"\times": "*",
    r"\ast": "*",
    r"\div": "/",
    r"\le": "<=",
    r"\leq": "<=",
    r"\leqslant": "<=",
    r"\ge": ">=",
    r"\geq": ">=",
    r"\geqslant": ">=",
    r"\ne": "!=",
    r"\neq": "!=",
    r"\lt": "<",
    r"\gt": ">",
    r"\approx": "approx",
    r"\in": "in",
    r"\pm": "pm",
    r"\mp": "mp",
    r"\cup": "cup",
    r"\vert": "|",
    r"\lvert": "|",
    r"\rvert": "|",
    r"\mid": "|",
    r"\lbrace": r"\{",
    r"\rbrace": r"\}",
}

_ESCAPES = {r"\{": r"\{", r"\}": r"\}", r"\|": "|", r"\%": "%"}


def tokenize(text: str) -> list[Token]:
    """Return the tokens of ``text``; raise ``ValueError`` on a character it cannot read."""
    if len(text) > MAX_LENGTH:
        raise LimitExceeded(f"answer longer than {MAX_LENGTH} characters")
    text = text.translate(_UNICODE)
    tokens: list[Token] = []
    pos, end, space = 0, len(text), False
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "ws":
            space = True
            continue
        if kind == "num" and len(value) > MAX_DIGITS:
            raise LimitExceeded("number too long")
        if kind == "esc":
            if value not in _ESCAPES:
                space = True  # \, \; \! and friends are spacing
                continue
            kind, value = "op", _ESCAPES[value]
        elif kind == "cmd":
            if value in _LAYOUT:
                # "\left." and "\right." size an invisible delimiter.
                if value in (r"\left", r"\right") and text.startswith(".", pos):
                    pos += 1
                space = True
                continue
            if value in _OPERATORS:
                kind, value = "op", _OPERATORS[value]
        tokens.append(Token(kind, value, space))
        space = False
    return tokens


class TokenCursor:
    """A position in a token list, with the depth and size limits every parse obeys."""

    #: Brackets, braces and signs nested deeper than this are refused.
    MAX_DEPTH = 40
    #: Answers with more numbers, letters and commands than this are refused.
    MAX_ATOMS = 1500

    def __init__(self, tokens: list[Token], depth: int = 0) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = depth
        self.atoms = 0

    def peek(self, ahead: int = 0) -> Token:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else Token("eof", "")

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, text: str, kind: str = "op") -> bool:
        tok = self.peek()
        if tok.kind == kind and tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str, kind: str = "op") -> None:
        if not self.accept(text, kind):
            raise ValueError(f"expected {text!r}, got {self.peek().text!r}")

    def nested(self, method: Callable[..., T], *args: object) -> T:
        """Call ``method`` one level deeper; every bracket and sign goes through here."""
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise LimitExceeded("answer nested too deeply")
        try:
            return method(*args)
        finally:
            self.depth -= 1

    def count_atom(self) -> None:
        self.atoms += 1
        if self.atoms > self.MAX_ATOMS:
            raise LimitExceeded("answer too large")
