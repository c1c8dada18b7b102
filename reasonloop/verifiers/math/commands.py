"""The LaTeX commands and environments a math answer may use, parsed into tree nodes.

``\\frac``, ``\\sqrt``, ``\\binom``, functions such as ``\\sin`` and ``\\log_2``,
constants, Greek letters, floor and ceiling, ``\\text{...}`` and matrix
environments. The expression grammar itself lives in :mod:`~reasonloop.verifiers.math.parse`,
whose parser class builds on :class:`LatexCommands`.
"""

from __future__ import annotations

import math
from fractions import Fraction

from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.tokens import Token, TokenCursor, tokenize
from reasonloop.verifiers.math.tree import Node

__all__ = ["ATOM_COMMANDS", "FUNCTIONS", "LatexCommands", "factorial_of"]

#: Factorials of larger integers are left as trees rather than computed.
MAX_FOLDED_FACTORIAL = 400
MAX_FOLDED_BINOMIAL = 2000


def _words(text: str) -> list[str]:
    return text.split()


#: LaTeX function commands and the function names the tree uses for them.
FUNCTIONS = {
    **{f"\\{n}": n for n in _words("sin cos tan cot sec csc sinh cosh tanh exp")},
    **{f"\\arc{n}": f"a{n}" for n in _words("sin cos tan")},
    r"\ln": "log",
    r"\log": "log",
}
_GREEK = frozenset(
    _words(
        "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu"
        " nu xi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma"
        " Phi Psi Omega"
    )
)
_MATRICES = frozenset(_words("pmatrix bmatrix Bmatrix matrix smallmatrix array"))
#: Commands that begin a value, so that "2\pi" is a product.
ATOM_COMMANDS = frozenset(
    [
        *FUNCTIONS,
        *(f"\\{g}" for g in _GREEK),
        *_words(
            r"\frac \sqrt \binom \dbinom \tbinom \pi \infty \lfloor \lceil \emptyset \varnothing"
            r" \sum"
        ),
    ]
)


class LatexCommands(TokenCursor):
    """Parse commands and environments; the grammar methods come from the subclass.

    A subclass provides ``sequence``, ``relation``, ``expr``, ``factor``,
    ``power``, ``atom``, ``group`` and ``starts_atom``.
    """

    def command(self, name: str) -> Node:
        if name == r"\frac":
            num = self.argument()
            return A.divide(num, self.argument())
        if name == r"\sqrt":
            index: Node = A.Num(Fraction(2))
            if self.accept("["):
                index = self.nested(self.expr)
                self.expect("]")
            return A.power(self.argument(), A.divide(A.Num(Fraction(1)), index))
        if name in (r"\binom", r"\dbinom", r"\tbinom"):
            n = self.argument()
            return _binomial(n, self.argument())
        if name == r"\pi":
            return A.Const("pi")
        if name == r"\infty":
            return A.Const("oo")
        if name in (r"\emptyset", r"\varnothing"):
            return A.Seq("{", "}", ())
        if name in (r"\lfloor", r"\lceil"):
            inner = self.nested(self.expr)
            self.expect(r"\rfloor" if name == r"\lfloor" else r"\rceil", "cmd")
            return A.Func("floor" if name == r"\lfloor" else "ceiling", (inner,))
        if name in FUNCTIONS:
            return self.function(FUNCTIONS[name])
        if name == r"\sum":
            return self.summation()
        if name[1:] in _GREEK:
            return A.Sym(name[1:].lower())
        raise ValueError(f"unsupported command {name}")

    def argument(self) -> Node:
        # \frac12 and \sqrt2 take a single digit when no braces are given.
        tok = self.peek()
        if tok.kind == "op" and tok.text == "{":
            self.i += 1
            return self.nested(self.group)
        if tok.kind == "num" and len(tok.text) > 1:
            self.tokens[self.i] = Token("num", tok.text[1:])
            return A.Num(Fraction(tok.text[0]))
        return self.nested(self.atom)

    def function(self, name: str) -> Node:
        exp = base = None
        if name == "log" and self.accept("_"):
            base = self.argument()
        if self.accept("^"):
            exp = self.nested(self.group) if self.accept("{") else self.nested(self.factor)
        tok = self.peek()
        arg = self.power()
        if not (tok.kind == "op" and tok.text in ("(", "{")):
            # \sin 2x is sin(2x): the argument runs over implicit products.
            while self.starts_atom(self.peek()) and self.peek().text not in FUNCTIONS:
                arg = A.mul(arg, self.power())
        node = A.Func(name, (arg,) if base is None else (arg, base))
        return node if exp is None else A.power(node, exp)

    def summation(self) -> Node:
        # \sum_{k=a}^{b} term: the term runs over implicit products, as a function's does.
        if not self.accept("_"):
            raise ValueError("a sum without its index")
        index = self.argument()
        if not (
            isinstance(index, A.Rel) and index.ops == ("=",) and isinstance(index.parts[0], A.Sym)
        ):
            raise ValueError("a sum's index must read k = a")
        if not self.accept("^"):
            raise ValueError("a sum without its upper bound")
        high = self.argument()
        term = self.power()
        while self.starts_atom(self.peek()):
            term = A.mul(term, self.power())
        variable, low = index.parts
        return A.Func("Sum", (term, variable, low, high))

    def text(self, content: str) -> Node:
        words = content.strip().strip("()").strip()
        if not words:
            raise ValueError("empty text")
        if all(c.isalpha() or c.isspace() for c in words):
            return A.Sym(words.lower().replace(" ", ""))
        # "\text{5}" holds math: parse it with the same limits, one level deeper.
        inner = type(self)(tokenize(content), self.depth + 1)
        node = inner.sequence()
        if inner.peek().kind != "eof":
            raise ValueError("unexpected text")
        return node

    def matrix(self, env: str) -> Node:
        if env not in _MATRICES:
            raise ValueError(f"unsupported environment {env}")
        if env == "array" and self.accept("{"):
            while not self.accept("}"):  # the column layout, e.g. {cc}
                if self.take().kind == "eof":
                    raise ValueError("unterminated array")
        rows: list[tuple[Node, ...]] = []
        while True:
            row = [self.relation()]
            while self.accept("&"):
                row.append(self.relation())
            rows.append(tuple(row))
            if not self.accept("\\\\", "rowsep") or self.peek().kind == "end":
                break
        end = self.take()
        if end.kind != "end" or end.text != env:
            raise ValueError(f"unterminated {env}")
        if len({len(r) for r in rows}) != 1:
            raise ValueError("ragged matrix")
        return A.Matrix(tuple(rows))


def _small_int(node: Node, limit: int) -> int | None:
    if isinstance(node, A.Num) and node.amount.denominator == 1 and 0 <= node.amount <= limit:
        return int(node.amount)
    return None


def factorial_of(node: Node) -> Node:
    """Return ``node!``, computed when ``node`` is a small non-negative integer."""
    n = _small_int(node, MAX_FOLDED_FACTORIAL)
    return A.Num(Fraction(math.factorial(n))) if n is not None else A.Func("factorial", (node,))


def _binomial(n: Node, k: Node) -> Node:
    ni, ki = _small_int(n, MAX_FOLDED_BINOMIAL), _small_int(k, MAX_FOLDED_BINOMIAL)
    if ni is not None and ki is not None:
        return A.Num(Fraction(math.comb(ni, ki)))
    return A.Func("binomial", (n, k))
