"""Parse a math answer into a :mod:`.tree`, without ever evaluating text as code.

A recursive-descent parser for the LaTeX and plain-text notation final answers
are written in: numbers, fractions, mixed numbers, roots, powers, functions,
tuples, intervals, sets, matrices, ``\\pm``, relations and ``\\text{words}``.
Nesting depth and tree size are capped; numbers are folded exactly under the
size limits of :mod:`~reasonloop.verifiers.math.tree`.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.commands import ATOM_COMMANDS, LatexCommands, factorial_of
from reasonloop.verifiers.math.tokens import Token, tokenize
from reasonloop.verifiers.math.tree import LimitExceeded, Node

__all__ = ["PLUS_MINUS", "parse_answer"]

#: The opener of the alternatives "a \pm b" stands for: an unordered pair.
PLUS_MINUS = "±"
_RELATIONS = frozenset(["=", "<", ">", "<=", ">=", "!=", "in"])
_CLOSERS = {"(": (")", "]"), "[": ("]", ")")}
_SIGNS = ("+", "-", "pm", "mp")


@lru_cache(maxsize=8192)
def parse_answer(text: str) -> Node:
    """Return the tree of a cleaned answer; raise ``ValueError`` when it is not math.

    Raises :class:`LimitExceeded` (a ``ValueError``) when the answer is too long,
    too deep or too large to check within the work bound.
    """
    parser = _Parser(tokenize(text))
    node = parser.sequence()
    if parser.peek().kind != "eof":
        raise ValueError(f"unexpected {parser.peek().text!r}")
    return node


class _Parser(LatexCommands):
    """The expression grammar, loosest binding first: lists, relations, sums, products."""

    def sequence(self) -> Node:
        groups: list[list[Node]] = [[self.relation()]]
        while True:
            if self.accept(";"):
                groups.append([self.relation()])
            elif self.accept(","):
                groups[-1].append(self.relation())
            else:
                break
        if len(groups) > 1 and any(len(g) > 1 for g in groups):
            # "p=5, q=2; p=7, q=2": semicolons part the solutions, commas their values.
            items = [g[0] if len(g) == 1 else A.Seq("(", ")", tuple(g)) for g in groups]
        else:
            items = [x for g in groups for x in g]
        return items[0] if len(items) == 1 else A.Seq("", "", _flatten(items))

    def relation(self) -> Node:
        parts, ops = [self.union()], []
        while self.peek().kind == "op" and self.peek().text in _RELATIONS:
            ops.append(self.take().text)
            parts.append(self.union())
        # "x = 1/3 \approx 0.33": what follows an approximation is not the answer,
        # unless nothing came before it ("x \approx 11").
        while self.accept("approx"):
            value = self.union()
            if not ops:
                ops.append("=")
                parts.append(value)
        return A.Rel(tuple(ops), tuple(parts)) if ops else parts[0]

    def union(self) -> Node:
        items = [self.expr()]
        while self.accept("cup"):
            items.append(self.expr())
        return items[0] if len(items) == 1 else A.SetUnion(tuple(items))

    def expr(self) -> Node:
        # \pm makes several alternatives: 1 \pm \sqrt{2} is the set {1+√2, 1-√2}.
        sign = self.take().text if self.peek().text in _SIGNS and self.peek().kind == "op" else "+"
        alts: list[Node] = []
        while True:
            term = self.term()
            if not alts:
                if sign == "+":
                    alts = [term]
                elif sign == "-":
                    alts = [A.neg(term)]
                else:
                    alts = [term, A.neg(term)] if sign == "pm" else [A.neg(term), term]
            elif sign in ("+", "-"):
                term = term if sign == "+" else A.neg(term)
                alts = [A.add(a, term) for a in alts]
            else:
                pairs = [(A.add(a, term), A.add(a, A.neg(term))) for a in alts]
                alts = [x for pair in pairs for x in (pair if sign == "pm" else pair[::-1])]
                if len(alts) > 16:
                    raise LimitExceeded("too many \\pm alternatives")
            tok = self.peek()
            if tok.kind != "op" or tok.text not in _SIGNS:
                return alts[0] if len(alts) == 1 else A.Seq(PLUS_MINUS, "", tuple(alts))
            sign = self.take().text

    def term(self) -> Node:
        start = self.i
        left = self.factor()
        literal_int = self.i == start + 1 and _is_int_literal(self.tokens[start])
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == "*":
                self.i += 1
                left = A.mul(left, self.factor())
            elif tok.kind == "op" and tok.text in ("/", ":"):  # 7:32 is a ratio
                self.i += 1
                left = A.divide(left, self.factor())
            elif self.starts_atom(tok):
                at = self.i
                right = self.power()
                mixed = literal_int and tok.text == r"\frac"
                if mixed and _proper(right, self.tokens[at : self.i]):
                    left = A.add(left, right)  # 1\frac{1}{2} is the mixed number 3/2
                else:
                    left = A.mul(left, right)
            else:
                return left
            literal_int = False

    def factor(self) -> Node:
        if self.accept("-"):
            return A.neg(self.nested(self.factor))
        if self.accept("+"):
            return self.nested(self.factor)
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.accept("^"):
            exp = self.nested(self.group) if self.accept("{") else self.nested(self.factor)
            return self.postfix_ops(A.power(base, exp))
        return base

    def postfix(self) -> Node:
        return self.postfix_ops(self.atom())

    def postfix_ops(self, node: Node) -> Node:
        while self.peek().kind == "op":
            op = self.peek().text
            if op == "!":
                self.i += 1
                node = factorial_of(node)
            elif op == "%":
                self.i += 1
                if isinstance(node, A.Num) and not node.percent:
                    node = A.Num(node.value, node.inexact, percent=True)
                else:
                    node = A.mul(node, A.Num(Fraction(1, 100)))
            elif op == "_":
                self.i += 1
                node = self.subscript(node)
            else:
                break
        return node

    def subscript(self, node: Node) -> Node:
        if self.accept("{"):
            parts = []
            while not self.accept("}"):
                tok = self.take()
                if tok.kind in ("eof", "begin", "end") or len(parts) > 20:
                    raise ValueError("bad subscript")
                parts.append(tok.text.lstrip("\\"))
            label = "".join(parts)
        else:
            label = self.take().text.lstrip("\\")
        if isinstance(node, A.Num):
            return node  # 52_8 names its base: the digits are the answer
        if isinstance(node, A.Sym):
            return A.Sym(f"{node.name}_{label.lower()}")
        raise ValueError("subscript on an expression")

    def starts_atom(self, tok: Token) -> bool:
        if tok.kind in ("num", "letter", "text", "begin"):
            return True
        if tok.kind == "cmd":
            return tok.text in ATOM_COMMANDS
        return tok.kind == "op" and tok.text in ("(", "{", r"\{")

    def atom(self) -> Node:
        self.count_atom()
        tok = self.take()
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "letter":
            name = tok.text.lower()
            return A.Const("E") if name == "e" else A.Sym(name)
        if tok.kind == "text":
            return self.text(tok.text)
        if tok.kind == "begin":
            return self.nested(self.matrix, tok.text)
        if tok.kind == "op":
            if tok.text in _CLOSERS:
                return self.nested(self.bracketed, tok.text)
            if tok.text == "{":
                return self.nested(self.group)
            if tok.text == r"\{":
                items = self.nested(self.items_until, r"\}")
                return A.Seq("{", "}", _flatten(items))
            if tok.text == "|":
                inner = self.nested(self.expr)
                self.expect("|")
                return A.Func("Abs", (inner,))
        if tok.kind == "cmd":
            return self.command(tok.text)
        raise ValueError(f"unexpected {tok.text!r}")

    def number(self, tok: Token) -> Node:
        nxt, slash, den = self.peek(), self.peek(1), self.peek(2)
        value = Fraction(tok.text)
        # "1 1/2" written in plain text is the mixed number 3/2.
        if (
            _is_int_literal(tok)
            and nxt.space
            and _is_int_literal(nxt)
            and slash.text == "/"
            and _is_int_literal(den)
            and 0 < int(nxt.text) < int(den.text)
            and self.peek(3).text not in ("^", "!", "_")
        ):
            self.i += 3
            return A.Num(value + Fraction(int(nxt.text), int(den.text)))
        return A.Num(value, inexact="." in tok.text)

    def group(self) -> Node:
        node = self.sequence()
        self.expect("}")
        return node

    def bracketed(self, opener: str) -> Node:
        items = [self.relation()]
        while self.accept(",") or self.accept(";"):  # (0;-2;6) is a triple
            items.append(self.relation())
        closer = self.take().text
        if closer not in _CLOSERS[opener]:
            raise ValueError(f"unbalanced {opener!r}")
        if len(items) == 1 and closer == _CLOSERS[opener][0]:
            return items[0]
        return A.Seq(opener, closer, tuple(items))

    def items_until(self, closer: str) -> tuple[Node, ...]:
        if self.accept(closer):
            return ()
        items = [self.relation()]
        while self.accept(","):
            items.append(self.relation())
        self.expect(closer)
        return tuple(items)


def _flatten(items: list[Node] | tuple[Node, ...]) -> tuple[Node, ...]:
    # In a list or set, "1 \pm \sqrt{5}, -2" has three members, as math-verify reads it.
    out: list[Node] = []
    for item in items:
        is_pm = isinstance(item, A.Seq) and item.opener == PLUS_MINUS
        out.extend(item.items if is_pm else (item,))
    return tuple(out)


def _is_int_literal(tok: Token) -> bool:
    return tok.kind == "num" and tok.text.isdigit()


def _proper(node: Node, tokens: list[Token]) -> bool:
    ints_only = all((t.kind == "num" and t.text.isdigit()) or t.text in "{}" for t in tokens[1:])
    return ints_only and isinstance(node, A.Num) and 0 < node.value < 1
