"""Read an inequality on one quantity as the set it describes: ``0 < x <= 1`` is ``(0, 1]``.

So that an answer written as an inequality matches the same answer written
as an interval or a union of intervals: ``-2 \\le x \\le 7`` and
``x \\in [-2, 7]``, ``k > 2`` and ``(2, \\infty)``, ``1 \\le |z| \\le 2`` and
``[-2, -1] \\cup [1, 2]``. Only a single quantity between constant bounds is
read; anything else is left to the relation rules.
"""

from __future__ import annotations

from reasonloop.verifiers.math import tree as A

__all__ = ["relation_set"]

_LOWER = {"<": "(", "<=": "["}
_UPPER = {"<": ")", "<=": "]"}
_FLIP = {">": "<", ">=": "<="}
_INFINITY = A.Const("oo")


def relation_set(rel: A.Rel) -> A.Node | None:
    """Return the interval (or union) that ``rel`` describes, or None when it is not one."""
    ops, parts = rel.ops, rel.parts
    if all(op in _FLIP for op in ops):
        ops, parts = tuple(_FLIP[op] for op in reversed(ops)), tuple(reversed(parts))
    if not all(op in _LOWER for op in ops) or not all(isinstance(x, A.SCALARS) for x in parts):
        return None
    if len(ops) == 2:
        low, quantity, high = parts
        lower, upper = ops
    elif len(ops) == 1 and not A.free_symbols(parts[1]):
        low, quantity, high = A.neg(_INFINITY), parts[0], parts[1]
        lower, upper = "<", ops[0]
    elif len(ops) == 1 and not A.free_symbols(parts[0]):
        low, quantity, high = parts[0], parts[1], _INFINITY
        lower, upper = ops[0], "<"
    else:
        return None
    if A.free_symbols(low) or A.free_symbols(high) or not A.free_symbols(quantity):
        return None
    interval = A.Seq(_LOWER[lower], _UPPER[upper], (low, high))
    if isinstance(quantity, A.Func) and quantity.name == "Abs":
        if not (isinstance(low, A.Num) and low.amount > 0 and len(ops) == 2):
            return None
        # a <= |x| <= b: the same interval and its mirror image.
        mirror = A.Seq(_LOWER[upper], _UPPER[lower], (A.neg(high), A.neg(low)))
        return A.SetUnion((mirror, interval))
    return interval
