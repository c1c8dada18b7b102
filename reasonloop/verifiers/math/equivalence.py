"""Decide whether two parsed answers are the same, by structure then by value.

The rules follow math-verify where it is right: an equation ``x = 5`` matches
``5``; a bare list or set matches in any order, a tuple in order, an interval
only with the same brackets; a number written with a decimal point matches
after rounding to 6 places (``0.333333`` = 1/3); a percent matches its own
number or that number divided by 100 (``50%`` = 50 = 0.5).

Answers are three-valued: True, False, or None when the checks in this process
cannot tell, and the symbolic check (:mod:`~reasonloop.verifiers.math.worker`) must decide.
"""

from __future__ import annotations

from collections import Counter

from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.numeric import (
    PointFailure,
    Undecidable,
    close,
    evaluate,
    exclusive,
    round_scaled,
    sample_point,
)
from reasonloop.verifiers.math.relations import relation_set, union_normal_form
from reasonloop.verifiers.math.tree import LimitExceeded

__all__ = ["NumericCheck", "values_equal"]

_EQUATION_OPS = frozenset(["=", "in"])
_SETS = frozenset(["", "{"])
_INVERSE = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!="}
_POINTS = 3
#: Matching in any order compares every pair: beyond this many items it is refused.
MAX_UNORDERED = 100
_ROUND = 10**6


class NumericCheck:
    """Compare two scalar trees exactly, or by evaluation at sample points."""

    def equal(self, a: A.Node, b: A.Node) -> bool | None:
        """Return whether ``a`` equals ``b`` (None: cannot tell by evaluation)."""
        if a == b:
            return True
        for x, y in ((a, b), (b, a)):
            if isinstance(x, A.Num) and x.percent and not (isinstance(y, A.Num) and y.percent):
                as_written = A.Num(x.value, x.inexact)
                return _any(self.equal(as_written, y), self.equal(A.Num(x.amount, x.inexact), y))
        rounded = _is_decimal(a) or _is_decimal(b)
        if isinstance(a, A.Num) and isinstance(b, A.Num):
            if rounded:
                return round(a.amount * _ROUND) == round(b.amount * _ROUND)
            return a.amount == b.amount
        with exclusive():
            return self._compare_values(a, b, rounded)

    def _compare_values(self, a: A.Node, b: A.Node, rounded: bool) -> bool | None:
        try:
            values = self._values(a, b)
        except Undecidable:
            return None
        except PointFailure:
            return False
        if values is None:
            return None
        if rounded and len(values) == 1:
            ((va, vb),) = values
            ra, rb = round_scaled(va, _ROUND), round_scaled(vb, _ROUND)
            if ra is not None and rb is not None:
                return ra == rb
        return all(close(va, vb) for va, vb in values)

    def proportional(self, f: A.Node, g: A.Node) -> int | None:
        """Return the sign of ``f / g`` when it is a nonzero constant, 0 when it is not.

        None means evaluation cannot tell.
        """
        with exclusive():
            return self._ratio_sign(f, g)

    def _ratio_sign(self, f: A.Node, g: A.Node) -> int | None:
        try:
            values = self._values(f, g)
        except Undecidable:
            return None
        except PointFailure:
            return 0
        if values is None:
            return None
        ratios = []
        for vf, vg in values:
            if vg == 0 or vf == 0:
                if vf != vg:
                    return 0
                continue
            ratios.append(vf / vg)
        if not ratios:
            return None
        first = ratios[0]
        if first.imag != 0 or not all(close(r, first) for r in ratios):
            return 0
        return 1 if first.real > 0 else -1

    def _values(self, a: A.Node, b: A.Node) -> list[tuple] | None:
        names = A.free_symbols(a) | A.free_symbols(b)
        points = [{}] if not names else [sample_point(names, k) for k in range(_POINTS)]
        values = []
        for env in points:
            try:
                values.append((evaluate(a, env), evaluate(b, env)))
            except PointFailure:
                if not names:
                    raise  # a constant that is undefined (1/0) equals nothing
                continue
        # With variables, one surviving point is too little evidence either way.
        return values if len(values) >= (2 if names else 1) else None


def values_equal(gold: A.Node, pred: A.Node, check: NumericCheck) -> bool | None:
    """Return whether ``pred`` is the same answer as ``gold`` (None: undecided)."""
    if gold == pred:
        return True
    gold_assigns, pred_assigns = _is_assignment(gold), _is_assignment(pred)
    gold_equation, pred_equation = _is_equation(gold), _is_equation(pred)
    if gold_assigns:
        gold = A.Rel(gold.ops[:1], (gold.parts[0], gold.parts[-1]))
    if pred_assigns:
        pred = A.Rel(pred.ops[:1], (pred.parts[0], pred.parts[-1]))
    # "x = 5" answers "5"; "2 + 3 = 5" does too. The gold's form decides.
    if pred_equation and not gold_equation:
        pred = pred.parts[-1]
    elif gold_assigns and not pred_equation:
        gold = gold.parts[-1]
    return _same(gold, pred, check)


def _same(g: A.Node, p: A.Node, check: NumericCheck) -> bool | None:
    if g == p:
        return True
    if isinstance(g, A.Rel) and isinstance(p, (A.Seq, A.SetUnion)):
        # "0 < x < 1" is the interval (0, 1); "1 <= |z| <= 2" is [-2, -1] U [1, 2].
        # Only a gold inequality is read as a set (math-verify's default): a predicted
        # inequality against a gold interval stays a relation, and does not match.
        as_set = relation_set(g)
        if as_set is not None:
            return _same(as_set, p, check)
    if isinstance(g, A.Rel) or isinstance(p, A.Rel):
        if isinstance(g, A.Rel) and isinstance(p, A.Rel) and len(g.ops) == len(p.ops):
            steps = zip(g.ops, p.ops, range(len(g.ops)), strict=True)
            return _all(
                _relation(g.parts[i : i + 2], gop, p.parts[i : i + 2], pop, check)
                for gop, pop, i in steps
            )
        return False
    if isinstance(g, A.Matrix) or isinstance(p, A.Matrix):
        if not (isinstance(g, A.Matrix) and isinstance(p, A.Matrix)):
            return False
        if len(g.rows) != len(p.rows) or len(g.rows[0]) != len(p.rows[0]):
            return False
        pairs = zip(_flat(g), _flat(p), strict=True)
        return _all(_same(x, y, check) for x, y in pairs)
    if isinstance(g, A.SetUnion) or isinstance(p, A.SetUnion):
        g, p = _union_normal(g), _union_normal(p)
        if isinstance(g, A.SetUnion) and isinstance(p, A.SetUnion):
            return _match_unordered(g.items, p.items, check)
        if isinstance(g, A.SetUnion) or isinstance(p, A.SetUnion):
            return False
        return _same(g, p, check)
    if isinstance(g, A.Seq) or isinstance(p, A.Seq):
        return _sequences(_as_seq(g), _as_seq(p), check)
    return check.equal(g, p)


def _sequences(g: A.Seq, p: A.Seq, check: NumericCheck) -> bool | None:
    if g.opener in _SETS and p.opener in _SETS:
        # A set or list of answers names each member once: a repeat adds nothing.
        g, p = _distinct(g), _distinct(p)
    if len(g.items) != len(p.items):
        return False
    brackets = {g.opener, g.closer, p.opener, p.closer}
    if "[" in brackets or "]" in brackets:
        # An interval: the brackets say which ends are included.
        if (g.opener, g.closer) != (p.opener, p.closer):
            return False
        return _all(values_equal(x, y, check) for x, y in zip(g.items, p.items, strict=True))
    if g.opener == "(":
        # A gold tuple keeps its order, even against "1, 3" or "{1, 3}" (as math-verify);
        # a gold set or list is matched in any order, even by a tuple.
        return _all(values_equal(x, y, check) for x, y in zip(g.items, p.items, strict=True))
    return _match_unordered(g.items, p.items, check)


def _union_normal(node: A.Node) -> A.Node:
    return union_normal_form(node) if isinstance(node, A.SetUnion) else node


def _distinct(seq: A.Seq) -> A.Seq:
    return A.Seq(seq.opener, seq.closer, tuple(dict.fromkeys(seq.items)))


def _match_unordered(gold: tuple, pred: tuple, check: NumericCheck) -> bool | None:
    if len(gold) != len(pred):
        return False
    if Counter(gold) == Counter(pred):
        return True  # the same items, reordered: no need to compare pairs
    if all(_is_exact(x) for x in gold + pred):
        return Counter(x.value for x in gold) == Counter(x.value for x in pred)
    if len(gold) > MAX_UNORDERED:
        raise LimitExceeded("too many items to match in any order")
    unused = list(pred)
    undecided = False
    for g in gold:
        verdicts = [values_equal(g, p, check) for p in unused]
        if True in verdicts:
            unused.pop(verdicts.index(True))
        elif None in verdicts:
            undecided = True
        else:
            return False
    return None if undecided else True


def _relation(gold: tuple, gop: str, pred: tuple, pop: str, check: NumericCheck) -> bool | None:
    (gl, gr), (pl, pr) = gold, pred
    gop, pop = ("=" if gop == "in" else gop), ("=" if pop == "in" else pop)
    if gop == pop and _same(gl, pl, check) is True and _same(gr, pr, check) is True:
        return True
    if not all(isinstance(x, A.SCALARS) for x in (gl, gr, pl, pr)):
        return False
    if gop != pop and _INVERSE.get(gop) != pop:
        return False
    # Same relation when (gl - gr) = c (pl - pr) with c > 0, or c < 0 for the flipped one.
    sign = check.proportional(A.add(gl, A.neg(gr)), A.add(pl, A.neg(pr)))
    if sign is None:
        return None
    if gop in ("=", "!="):
        return sign != 0
    return sign == (1 if gop == pop else -1)


def _is_equation(node: A.Node) -> bool:
    return isinstance(node, A.Rel) and all(op in _EQUATION_OPS for op in node.ops)


def _is_assignment(node: A.Node) -> bool:
    return _is_equation(node) and _names_only(node.parts[0])


def _names_only(node: A.Node) -> bool:
    # "x", "AB", "(p, q)", "|AB|", "f(x)", "A:B", "\frac{NO}{BO}": a name, not a value.
    if isinstance(node, A.Sym):
        return True
    if isinstance(node, A.Mul):
        return all(_names_only(f) for f in node.factors)
    if isinstance(node, A.Pow):
        return _names_only(node.base) and node.exp == A.MINUS_ONE
    if isinstance(node, A.Func) and node.name == "Abs":
        return _names_only(node.args[0])
    if isinstance(node, A.Seq) and node.opener == "(":
        return all(_names_only(x) for x in node.items)
    return False


def _as_seq(node: A.Node) -> A.Seq:
    return node if isinstance(node, A.Seq) else A.Seq("", "", (node,))


def _flat(m: A.Matrix) -> list[A.Node]:
    return [x for row in m.rows for x in row]


def _is_exact(node: A.Node) -> bool:
    return isinstance(node, A.Num) and not (node.inexact or node.percent)


def _is_decimal(node: A.Node) -> bool:
    return isinstance(node, A.Num) and node.inexact and not node.percent


def _all(verdicts) -> bool | None:
    undecided = False
    for verdict in verdicts:
        if verdict is False:
            return False
        undecided |= verdict is None
    return None if undecided else True


def _any(*verdicts: bool | None) -> bool | None:
    if True in verdicts:
        return True
    return None if None in verdicts else False
