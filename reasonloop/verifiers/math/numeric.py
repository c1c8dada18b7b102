"""Evaluate a :mod:`~reasonloop.verifiers.math.tree` tree to a 50-digit number, with bounded work.

Variables take fixed pseudo-random values (the same name, the same value), so
two expressions can be compared at a few points without any algebra. Every
operation is checked: a magnitude beyond ``2**MAX_MAGNITUDE``, or an argument
that would need unbounded precision, stops the evaluation with
:class:`Undecidable` instead of running away.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction

import mpmath

from reasonloop.verifiers.math import tree as A

__all__ = [
    "PointFailure",
    "Undecidable",
    "close",
    "evaluate",
    "exclusive",
    "round_scaled",
    "sample_point",
]

#: Binary exponent bound on every intermediate value (|x| < 2**MAX_MAGNITUDE).
MAX_MAGNITUDE = 10**12
#: Trigonometric arguments beyond this need too much precision to reduce.
MAX_TRIG_ARGUMENT = 10**30
#: Two values closer than this (relative) are equal; 50 digits leave room for cancellation.
TOLERANCE = Fraction(1, 10**30)

_DIGITS = 50
_CTX = mpmath.MPContext()
_CTX.dps = _DIGITS
_TOL = _CTX.mpf(TOLERANCE.numerator) / TOLERANCE.denominator
_LOCK = threading.RLock()


class Undecidable(Exception):
    """The tree cannot be evaluated here (unsupported, or too large to evaluate safely)."""


class PointFailure(Exception):
    """The tree is undefined at this point (a pole, a division by zero)."""


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the shared context while evaluating and comparing values.

    Some mpmath functions raise the context's precision while they run, so two
    threads must not use it at once; the precision is also reset on entry.
    """
    with _LOCK:
        _CTX.dps = _DIGITS
        _SUM_BUDGET[0] = MAX_SUM_WORK
        yield


def sample_point(names: set[str], k: int) -> dict[str, object]:
    """Return values for ``names`` at sample point ``k`` (point 1 is negative)."""
    env: dict[str, object] = {}
    for name in names:
        h = zlib.crc32(f"{name}/{k}".encode()) % 1_000_003
        value = _CTX.mpf(350_000 + 1_700 * h // 1000) / 1_000_000
        env[name] = -value if k == 1 else value
    return env


def close(a, b) -> bool:
    """Return whether two evaluated values are equal up to the relative tolerance."""
    if a == b:
        return True
    if _CTX.isinf(a) or _CTX.isinf(b):
        return False
    scale = max(abs(a), abs(b), 1)
    return abs(a - b) <= scale * _TOL


def round_scaled(value, scale: int) -> int | None:
    """Return ``value * scale`` rounded to an integer, or None if not a finite real."""
    if _CTX.im(value) != 0 or _CTX.isinf(value):
        return None
    return int(_CTX.nint(_CTX.re(value) * scale))


def evaluate(node: A.Node, env: dict[str, object]):
    """Return the value of ``node`` with variables from ``env``."""
    kind = type(node)
    if kind is A.Num:
        value = node.amount
        return _CTX.mpf(value.numerator) / value.denominator
    if kind is A.Sym:
        if node.name not in env:
            raise Undecidable(f"no value for {node.name}")
        return env[node.name]
    if kind is A.Const:
        return {"pi": _CTX.pi, "E": _CTX.e, "oo": _CTX.inf}[node.name]
    if kind is A.Add:
        total = _CTX.mpf(0)
        for term in node.terms:
            total = _checked(total + evaluate(term, env))
        return total
    if kind is A.Mul:
        product = _CTX.mpf(1)
        for factor in node.factors:
            product = _checked(product * evaluate(factor, env))
        return product
    if kind is A.Pow:
        return _power(evaluate(node.base, env), evaluate(node.exp, env))
    if kind is A.Func:
        if node.name == "Sum":
            return _sum(node, env)
        args = [evaluate(arg, env) for arg in node.args]
        return _checked(_call(node.name, args))
    raise Undecidable(f"{kind.__name__} is not a number")


#: A sum with more terms than this, or a sum within a sum, is left to the symbolic check.
MAX_SUM_TERMS = 100
#: Sums evaluated in one comparison may evaluate this many tree nodes in all (terms x size).
MAX_SUM_WORK = 3000
_SUM_BUDGET = [MAX_SUM_WORK]  # reset by exclusive(), which every evaluation runs under


def _sum(node: A.Func, env: dict[str, object]):
    term, variable, low, high = node.args
    start, stop = evaluate(low, env), evaluate(high, env)
    if not (_CTX.isint(start) and _CTX.isint(stop)) or stop - start > MAX_SUM_TERMS:
        raise Undecidable("a sum over bounds that are not small integers")
    if _has_sum(term):
        raise Undecidable("a sum within a sum")
    _SUM_BUDGET[0] -= (int(stop) - int(start) + 1) * _size(term)
    if _SUM_BUDGET[0] < 0:
        raise Undecidable("sums too long to evaluate")
    total = _CTX.mpf(0)
    assert isinstance(variable, A.Sym)
    for k in range(int(start), int(stop) + 1):
        total = _checked(total + evaluate(term, {**env, variable.name: _CTX.mpf(k)}))
    return total


def _nodes(node: A.Node) -> Iterator[A.Node]:
    stack: list[A.Node] = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, A.Func):
            stack.extend(item.args)
        elif isinstance(item, A.Add):
            stack.extend(item.terms)
        elif isinstance(item, A.Mul):
            stack.extend(item.factors)
        elif isinstance(item, A.Pow):
            stack.extend((item.base, item.exp))


def _has_sum(node: A.Node) -> bool:
    return any(isinstance(x, A.Func) and x.name == "Sum" for x in _nodes(node))


def _size(node: A.Node) -> int:
    return sum(1 for _ in _nodes(node))


def _checked(value):
    if _CTX.isnan(value):
        raise PointFailure("undefined value")
    if not _CTX.isinf(value) and value != 0 and _CTX.mag(value) > MAX_MAGNITUDE:
        raise Undecidable("value too large to evaluate")
    return value


def _power(base, exp):
    if _CTX.isinf(base) or _CTX.isinf(exp):
        raise Undecidable("power of infinity")
    if base == 0:
        if _CTX.re(exp) > 0:
            return _CTX.mpf(0)
        raise PointFailure("zero to a non-positive power")
    # |base ** exp| = 2 ** (exp * log2|base|): refuse before computing a huge result.
    if abs(exp) * (abs(_CTX.mag(base)) + 1) > MAX_MAGNITUDE:
        raise Undecidable("power too large to evaluate")
    return _checked(_CTX.power(base, exp))


def _trig(fn: Callable) -> Callable:
    def bounded(x):
        if abs(x) > MAX_TRIG_ARGUMENT:
            raise Undecidable("trigonometric argument too large")
        return fn(x)

    return bounded


def _exp(x):
    if _CTX.re(x) > MAX_MAGNITUDE or abs(_CTX.im(x)) > MAX_TRIG_ARGUMENT:
        raise Undecidable("exponent too large")
    return _CTX.exp(x)


def _real(fn: Callable) -> Callable:
    def real_only(x):
        if _CTX.im(x) != 0:
            raise Undecidable("complex argument")
        return fn(_CTX.re(x))

    return real_only


def _factorial(x):
    if abs(x) > 10**6:
        raise Undecidable("factorial too large")
    return _CTX.factorial(x)


def _binomial(n, k):
    if abs(n) > 10**6 or abs(k) > 10**6:
        raise Undecidable("binomial too large")
    return _CTX.binomial(n, k)


def _log(x, base=None):
    return _CTX.log(x) if base is None else _CTX.log(x) / _CTX.log(base)


_FUNCTIONS: dict[str, Callable] = {
    **{
        name: _trig(getattr(_CTX, name))
        for name in str.split("sin cos tan cot sec csc sinh cosh tanh asin acos atan")
    },
    "exp": _exp,
    "log": _log,
    "Abs": abs,
    "floor": _real(_CTX.floor),
    "ceiling": _real(_CTX.ceil),
    "factorial": _factorial,
    "binomial": _binomial,
}


def _call(name: str, args: list):
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise Undecidable(f"cannot evaluate {name}")
    try:
        return fn(*args)
    except (ValueError, ZeroDivisionError, ArithmeticError) as exc:
        raise PointFailure(str(exc)) from exc
