"""Sets written in different ways: inequalities as intervals, unions in a normal form.

An inequality on one quantity is the set it describes, so that it matches
the same answer written as an interval or a union of intervals:
``-2 \\le x \\le 7`` and ``x \\in [-2, 7]``, ``k > 2`` and ``(2, \\infty)``,
``1 \\le |z| \\le 2`` and ``[-2, -1] \\cup [1, 2]``. Only a single quantity
between constant bounds is read; anything else is left to the relation rules.

A union is brought to a normal form: finite sets merge into one
(``\\{1,3\\} \\cup \\{2,4\\}`` is ``\\{1,2,3,4\\}``) and numeric intervals
that overlap or touch at an included end merge (``[0,1] \\cup [1,2]`` is ``[0,2]``).
"""

from __future__ import annotations

from fractions import Fraction

from reasonloop.verifiers.math import tree as A

__all__ = ["relation_set", "union_normal_form"]

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


def union_normal_form(union: A.SetUnion) -> A.Node:
    """Return ``union`` with its finite sets merged and its touching intervals joined."""
    items: list[A.Node] = []
    stack = list(reversed(union.items))
    while stack:
        item = stack.pop()
        if isinstance(item, A.SetUnion):
            stack.extend(reversed(item.items))
        else:
            items.append(item)
    members = [x for x in items if _is_finite_set(x)]
    rest = [x for x in items if not _is_finite_set(x)]
    parts = _merge_intervals(rest)
    if members:
        merged = tuple(dict.fromkeys(m for s in members for m in s.items))  # type: ignore[union-attr]
        parts.append(A.Seq("{", "}", merged))
    return parts[0] if len(parts) == 1 else A.SetUnion(tuple(parts))


def _is_finite_set(node: A.Node) -> bool:
    # "{1,3}" written with plain braces is a group holding a list: a set here too.
    return isinstance(node, A.Seq) and node.opener in ("{", "")


def _end(node: A.Node) -> Fraction | float | None:
    if isinstance(node, A.Num):
        return node.amount
    if node == _INFINITY:
        return float("inf")
    if node == A.neg(_INFINITY):
        return float("-inf")
    return None


def _merge_intervals(items: list[A.Node]) -> list[A.Node]:
    spans = []
    for item in items:
        ends = None
        if isinstance(item, A.Seq) and item.opener in "([" and len(item.items) == 2:
            ends = (_end(item.items[0]), _end(item.items[1]))
        if ends is None or None in ends:
            return list(items)  # not all numeric intervals: left as written
        spans.append((ends[0], item.opener == "[", ends[1], item.closer == "]", item))
    spans.sort(key=lambda s: (s[0], not s[1]))
    merged: list[list] = []
    for low, low_in, high, high_in, item in spans:
        if merged:
            last = merged[-1]
            if low < last[2] or (low == last[2] and (low_in or last[3])):
                if high > last[2] or (high == last[2] and high_in):
                    last[2], last[3], last[5] = high, high_in, item.items[1]
                continue
        merged.append([low, low_in, high, high_in, item.items[0], item.items[1]])
    return [
        A.Seq("[" if low_in else "(", "]" if high_in else ")", (start, stop))
        for _, low_in, _, high_in, start, stop in merged
    ]
