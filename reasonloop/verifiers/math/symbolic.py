"""The symbolic check: sympy objects built from a parsed tree, compared with ``simplify``.

Sympy is reached only through its constructors (``Rational``, ``Symbol``,
``Add``, ``Pow``, ``sin``...), never through ``sympify`` or a parser, so no
answer text is ever evaluated as code. ``simplify`` can still take unbounded
time, which is why this module runs only in the worker process
(:mod:`~reasonloop.verifiers.math.worker`).
"""

from __future__ import annotations

import sympy

from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.equivalence import NumericCheck
from reasonloop.verifiers.math.tree import MAX_BITS, MAX_EXPONENT, LimitExceeded

__all__ = ["SymbolicCheck", "to_sympy"]

_FUNCTIONS = {
    name: getattr(sympy, name)
    for name in str.split(
        "sin cos tan cot sec csc sinh cosh tanh asin acos atan exp Abs floor ceiling"
    )
}
_CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "oo": sympy.oo}
_MAX_FACTORIAL = 2000


def to_sympy(node: A.Node) -> sympy.Basic:
    """Return the sympy expression of a scalar tree; raise LimitExceeded if it is too big."""
    kind = type(node)
    if kind is A.Num:
        return sympy.Rational(node.amount.numerator, node.amount.denominator)
    if kind is A.Sym:
        return sympy.Symbol(node.name)
    if kind is A.Const:
        return _CONSTANTS[node.name]
    if kind is A.Add:
        return sympy.Add(*(to_sympy(t) for t in node.terms))
    if kind is A.Mul:
        return sympy.Mul(*(to_sympy(f) for f in node.factors))
    if kind is A.Pow:
        return _power(to_sympy(node.base), to_sympy(node.exp))
    if kind is A.Func and node.name == "Sum":
        term, variable, low, high = (to_sympy(a) for a in node.args)
        return sympy.Sum(term, (variable, low, high))
    if kind is A.Func:
        return _function(node.name, [to_sympy(a) for a in node.args])
    raise ValueError(f"{kind.__name__} is not a scalar")


def _bits(expr: sympy.Basic) -> int:
    sizes = [max(abs(r.p).bit_length(), r.q.bit_length()) for r in expr.atoms(sympy.Rational)]
    return max(sizes, default=1) + 1


def _power(base: sympy.Basic, exp: sympy.Basic) -> sympy.Basic:
    # Sympy expands numeric powers eagerly: 10**(10**10) would never finish.
    numeric = exp.is_Rational and not base.free_symbols
    if numeric and (abs(exp.p) > MAX_EXPONENT or abs(exp.p) * _bits(base) > 4 * MAX_BITS):
        raise LimitExceeded("power too large to expand")
    return sympy.Pow(base, exp)


def _function(name: str, args: list[sympy.Basic]) -> sympy.Basic:
    if name in ("factorial", "binomial"):
        if any(a.is_Integer and abs(a) > _MAX_FACTORIAL for a in args):
            raise LimitExceeded(f"{name} too large to expand")
        return sympy.factorial(*args) if name == "factorial" else sympy.binomial(*args)
    if name == "log":
        return sympy.log(*args)
    return _FUNCTIONS[name](*args)


class SymbolicCheck(NumericCheck):
    """Decide what evaluation cannot, with ``sympy.simplify`` (unbounded: run it in a worker)."""

    def equal(self, a: A.Node, b: A.Node) -> bool | None:
        verdict = super().equal(a, b)
        if verdict is not None:
            return verdict
        try:
            difference = sympy.simplify(to_sympy(a) - to_sympy(b))
        except LimitExceeded:
            raise
        except Exception:
            return False  # sympy cannot combine them: not shown equal
        return bool(difference == 0 or difference.is_zero)

    def proportional(self, f: A.Node, g: A.Node) -> int | None:
        verdict = super().proportional(f, g)
        if verdict is not None:
            return verdict
        try:
            ratio = sympy.simplify(to_sympy(f) / to_sympy(g))
        except LimitExceeded:
            raise
        except Exception:
            return 0
        if ratio.free_symbols or not ratio.is_extended_real or ratio.is_zero:
            return 0
        return 1 if ratio.is_positive else -1
