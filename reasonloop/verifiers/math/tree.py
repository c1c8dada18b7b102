"""The tree a parsed math answer becomes, with exact arithmetic under size limits.

Numbers stay exact (``fractions.Fraction``) and are folded while parsing, so
``1/2``, ``0.5`` and ``\\frac{2}{4}`` all become the same :class:`Num`. What
cannot be folded (roots, constants, symbols) stays a small tree that
:mod:`reasonloop.verifiers.math.numeric` evaluates and
:mod:`reasonloop.verifiers.math.symbolic` turns into sympy objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "SCALARS",
    "Add",
    "Const",
    "Func",
    "LimitExceeded",
    "Matrix",
    "Mul",
    "Node",
    "Num",
    "Pow",
    "Rel",
    "Seq",
    "SetUnion",
    "Sym",
    "add",
    "divide",
    "free_symbols",
    "mul",
    "neg",
    "power",
]

#: An exact number folded in-process never grows beyond this many bits.
MAX_BITS = 4096
#: Larger integer exponents are never folded (``10^{10^{10}}`` stays a tree).
MAX_EXPONENT = 10_000


class LimitExceeded(ValueError):
    """The answer is too large or too deep to check within the work bound."""


@dataclass(frozen=True, slots=True)
class Num:
    """An exact rational number."""

    value: Fraction
    #: Written with a decimal point, so compared after rounding (like 0.333333 = 1/3).
    inexact: bool = False
    #: Written with a percent sign: ``value`` is the number before the sign.
    percent: bool = False

    @property
    def amount(self) -> Fraction:
        """The number this stands for in arithmetic (a percent is divided by 100)."""
        return self.value / 100 if self.percent else self.value


@dataclass(frozen=True, slots=True)
class Sym:
    """A variable, or a word written as ``\\text{word}`` (lowercased)."""

    name: str


@dataclass(frozen=True, slots=True)
class Const:
    """A named constant: ``pi``, ``E`` or ``oo``."""

    name: str


@dataclass(frozen=True, slots=True)
class Add:
    terms: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Mul:
    factors: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Pow:
    base: Node
    exp: Node


@dataclass(frozen=True, slots=True)
class Func:
    """A function applied to arguments, by its sympy name (``sin``, ``log``...)."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    """Items between brackets: a tuple, an interval, a set, or a bare list."""

    #: ``(``, ``[``, ``{`` or empty for a bare ``a, b`` list.
    opener: str
    closer: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Matrix:
    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Rel:
    """A chain of relations ``parts[0] ops[0] parts[1] ...`` (``=``, ``<=``, ``in``...)."""

    ops: tuple[str, ...]
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class SetUnion:
    items: tuple[Node, ...]


Node = Num | Sym | Const | Add | Mul | Pow | Func | Seq | Matrix | Rel | SetUnion
SCALARS = (Num, Sym, Const, Add, Mul, Pow, Func)
MINUS_ONE = Num(Fraction(-1))


def _checked(value: Fraction, inexact: bool) -> Num:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise LimitExceeded("number too large")
    return Num(value, inexact)


def _require_scalar(*nodes: Node) -> None:
    for node in nodes:
        if not isinstance(node, SCALARS):
            raise ValueError(f"arithmetic on a {type(node).__name__}")


def add(a: Node, b: Node) -> Node:
    """Return ``a + b``, folded when both are numbers; matrices of one shape add up."""
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        return _matrix_sum(a, b)
    _require_scalar(a, b)
    if isinstance(a, Num) and isinstance(b, Num):
        return _checked(a.amount + b.amount, a.inexact or b.inexact)
    terms = (a.terms if isinstance(a, Add) else (a,)) + (b.terms if isinstance(b, Add) else (b,))
    return Add(terms)


def mul(a: Node, b: Node) -> Node:
    """Return ``a * b``, folded when both are numbers; matrices multiply as matrices."""
    if isinstance(a, Matrix) or isinstance(b, Matrix):
        return _matrix_product(a, b)
    _require_scalar(a, b)
    if isinstance(a, Num) and isinstance(b, Num):
        return _checked(a.amount * b.amount, a.inexact or b.inexact)
    fa = a.factors if isinstance(a, Mul) else (a,)
    fb = b.factors if isinstance(b, Mul) else (b,)
    return Mul(fa + fb)


def neg(a: Node) -> Node:
    """Return ``-a``; a negated number keeps how it was written (decimal, percent)."""
    if isinstance(a, Matrix):
        return _matrix_product(MINUS_ONE, a)
    _require_scalar(a)
    if isinstance(a, Num):
        return Num(-a.value, a.inexact, a.percent)
    return mul(MINUS_ONE, a)


def power(base: Node, exp: Node) -> Node:
    """Return ``base ** exp``, folded only when the result is exact and small."""
    _require_scalar(base, exp)
    if isinstance(base, Num) and isinstance(exp, Num) and exp.amount.denominator == 1:
        n = exp.amount.numerator
        b = base.amount
        size = max(b.numerator.bit_length(), b.denominator.bit_length())
        if abs(n) <= MAX_EXPONENT and abs(n) * size <= MAX_BITS and (b != 0 or n >= 0):
            return _checked(b**n, base.inexact or exp.inexact)
    return Pow(base, exp)


def divide(a: Node, b: Node) -> Node:
    """Return ``a / b`` (a division by an exact zero stays a tree and fails later)."""
    if isinstance(b, Num) and b.amount != 0:
        return mul(a, Num(1 / b.amount, b.inexact))
    return mul(a, power(b, MINUS_ONE))


#: A matrix product or sum builds at most this many scalar operations.
MAX_MATRIX_WORK = 1000


def _matrix_sum(a: Matrix, b: Matrix) -> Matrix:
    if (len(a.rows), len(a.rows[0])) != (len(b.rows), len(b.rows[0])):
        raise ValueError("sum of matrices of different shapes")
    if len(a.rows) * len(a.rows[0]) > MAX_MATRIX_WORK:
        raise LimitExceeded("matrix too large to add")
    return Matrix(
        tuple(
            tuple(add(x, y) for x, y in zip(ra, rb, strict=True))
            for ra, rb in zip(a.rows, b.rows, strict=True)
        )
    )


def _matrix_product(a: Node, b: Node) -> Matrix:
    if not isinstance(a, Matrix):
        _require_scalar(a)
        return Matrix(tuple(tuple(mul(a, x) for x in row) for row in b.rows))  # type: ignore[union-attr]
    if not isinstance(b, Matrix):
        _require_scalar(b)
        return Matrix(tuple(tuple(mul(x, b) for x in row) for row in a.rows))
    if not all(isinstance(x, Num) for m in (a, b) for row in m.rows for x in row):
        # Products of symbolic entries grow without bound when chained: numbers only.
        raise ValueError("product of matrices that are not all numbers")
    inner = len(a.rows[0])
    if inner != len(b.rows):
        raise ValueError("product of matrices whose shapes do not match")
    if len(a.rows) * inner * len(b.rows[0]) > MAX_MATRIX_WORK:
        raise LimitExceeded("matrix too large to multiply")
    columns = list(zip(*b.rows, strict=True))
    rows = []
    for row in a.rows:
        cells = []
        for column in columns:
            total = mul(row[0], column[0])
            for x, y in zip(row[1:], column[1:], strict=True):
                total = add(total, mul(x, y))
            cells.append(total)
        rows.append(tuple(cells))
    return Matrix(tuple(rows))


def free_symbols(node: Node) -> set[str]:
    """Return the names of the variables in ``node``."""
    found: set[str] = set()
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Sym):
            found.add(item.name)
        elif isinstance(item, (Add, Mul, Func, Seq, Rel, SetUnion)):
            stack.extend(_children(item))
        elif isinstance(item, Pow):
            stack.extend((item.base, item.exp))
        elif isinstance(item, Matrix):
            stack.extend(x for row in item.rows for x in row)
    return found


def _children(node: Add | Mul | Func | Seq | Rel | SetUnion) -> tuple[Node, ...]:
    if isinstance(node, Add):
        return node.terms
    if isinstance(node, Mul):
        return node.factors
    if isinstance(node, Func):
        return node.args
    if isinstance(node, Rel):
        return node.parts
    return node.items
