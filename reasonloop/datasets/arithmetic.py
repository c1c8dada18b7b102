"""A seeded generator of one-sentence arithmetic word problems with worked answers.

Every problem is a left-to-right chain over ``metadata["operands"]`` and
``metadata["operations"]`` (``+``, ``-``, ``*``), so its answer can be
recomputed from the metadata alone. Problems for the ``train`` and ``eval``
splits come from disjoint seed streams *and* from disjoint sets of
arithmetic facts, so no eval question is ever seen, in any wording, during
training.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import Problem, Reference, stable_id
from reasonloop.errors import UsageError

__all__ = [
    "DIFFICULTIES",
    "KINDS",
    "evaluate_chain",
    "load_arithmetic",
    "split_of",
    "worked_solution",
]

KINDS = ("addition", "subtraction", "multiplication", "multistep")
DIFFICULTIES = (1, 2, 3)
_OPTIONS = {"count", "seed", "kinds", "difficulties", "balanced", "split"}
_SPLITS = {None: None, "all": None, "train": "train", "eval": "eval", "test": "eval"}
#: One arithmetic fact in this many belongs to the eval split.
_EVAL_SHARE = 4
_ATTEMPTS = 1000

_NAMES = (
    *[(n, "she") for n in ("Mia", "Ava", "Lena", "Zoe", "Nora", "Emma", "Ruby", "Sofia", "Hana")],
    *[(n, "he") for n in ("Leo", "Omar", "Sam", "Ben", "Ravi", "Tom", "Jack", "Eli", "Hugo")],
)
_OBJECTS = (
    "stickers", "marbles", "apples", "pencils", "cookies", "crayons", "shells", "buttons",
    "cards", "beads", "stamps", "coins", "books", "balloons", "oranges", "toy cars", "eggs",
    "candies", "blocks", "ribbons",
)  # fmt: skip
_CONTAINERS = (("box", "boxes"), ("bag", "bags"), ("jar", "jars"), ("basket", "baskets"))

_ADDITION = (
    "{name} has {a} {obj} and gets {b} more. How many {obj} does {pron} have now?",
    "{name} found {a} {obj} on Monday and {b} {obj} on Tuesday. "
    "How many {obj} did {pron} find altogether?",
    "There are {a} {obj} in a {box} and {name} puts in {b} more. "
    "How many {obj} are in the {box} now?",
    "{name} has {a} {obj}, and {friend} gives {objpron} {b} more. "
    "How many {obj} does {name} have now?",
)
_SUBTRACTION = (
    "{name} has {a} {obj} and gives {b} to {friend}. How many {obj} does {pron} have left?",
    "{name} had {a} {obj} but lost {b} of them. How many {obj} does {pron} have now?",
    "There are {a} {obj} in a {box} and {name} takes out {b}. "
    "How many {obj} are left in the {box}?",
    "{name} wants {a} {obj} and already has {b}. How many more {obj} does {pron} need?",
)
_MULTIPLICATION = (
    "{name} has {a} {boxes} with {b} {obj} in each. How many {obj} does {pron} have in total?",
    "{name} buys {a} {boxes} of {obj}, and each one holds {b} {obj}. "
    "How many {obj} does {pron} buy?",
    "There are {a} rows of {obj} with {b} {obj} in each row. How many {obj} are there in all?",
    "{name} gets {b} {obj} every day for {a} days. How many {obj} does {pron} get?",
)
_MORE = ("gets {x} more", "finds {x} more", "buys {x} more")
_FEWER = ("gives {x} to {friend}", "loses {x}", "uses {x}")
_TIMES = {2: "doubles them", 3: "triples them"}

#: Operand ranges per difficulty: difficulty 1 stays within small two-digit numbers
#: and the times tables.
_ADD_RANGES = {1: ((2, 20), (2, 20)), 2: ((10, 99), (10, 99)), 3: ((100, 999), (10, 999))}
_SUB_TOP = {1: (3, 20), 2: (21, 99), 3: (100, 999)}
_MUL_RANGES = {1: ((2, 9), (2, 12)), 2: ((2, 9), (11, 99)), 3: ((11, 99), (11, 99))}
#: Multistep: (start range, step operand range, largest factor); it has difficulty + 1 steps.
_CHAIN = {1: ((2, 20), (1, 9), 3), 2: ((10, 50), (2, 30), 4), 3: ((10, 99), (5, 60), 5)}


@dataclass(frozen=True)
class _Draft:
    text: str
    operands: tuple[int, ...]
    operations: tuple[str, ...]


def evaluate_chain(
    operands: list[int] | tuple[int, ...], operations: list[str] | tuple[str, ...]
) -> int:
    """Return the value of ``operands`` combined left to right by ``operations``."""
    value = operands[0]
    for op, x in zip(operations, operands[1:], strict=True):
        value = value + x if op == "+" else value - x if op == "-" else value * x
    return value


def split_of(kind: str, operands: tuple[int, ...], operations: tuple[str, ...]) -> str:
    """Return the split (``train`` or ``eval``) an arithmetic fact belongs to."""
    # Order does not matter for a single sum or product: 3 + 5 and 5 + 3 are one fact.
    key = tuple(sorted(operands)) if kind in ("addition", "multiplication") else operands
    return "eval" if int(stable_id(kind, key, operations), 16) % _EVAL_SHARE == 0 else "train"


def _words(rng: random.Random) -> dict[str, str]:
    (name, pron), (friend, _) = rng.sample(_NAMES, 2)
    box, boxes = rng.choice(_CONTAINERS)
    objpron = "her" if pron == "she" else "him"
    return dict(name=name, pron=pron, objpron=objpron, friend=friend, box=box, boxes=boxes,
                obj=rng.choice(_OBJECTS))  # fmt: skip


def _addition(rng: random.Random, difficulty: int) -> _Draft:
    (lo_a, hi_a), (lo_b, hi_b) = _ADD_RANGES[difficulty]
    a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
    return _Draft(rng.choice(_ADDITION).format(a=a, b=b, **_words(rng)), (a, b), ("+",))


def _subtraction(rng: random.Random, difficulty: int) -> _Draft:
    a = rng.randint(*_SUB_TOP[difficulty])
    # Never negative, never zero: b is strictly below a.
    b = rng.randint(1, min(a - 1, 9)) if difficulty == 1 else rng.randint(10, a - 1)
    return _Draft(rng.choice(_SUBTRACTION).format(a=a, b=b, **_words(rng)), (a, b), ("-",))


def _multiplication(rng: random.Random, difficulty: int) -> _Draft:
    (lo_a, hi_a), (lo_b, hi_b) = _MUL_RANGES[difficulty]
    a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
    return _Draft(rng.choice(_MULTIPLICATION).format(a=a, b=b, **_words(rng)), (a, b), ("*",))


def _multistep(rng: random.Random, difficulty: int) -> _Draft:
    (lo, hi), (step_lo, step_hi), top_factor = _CHAIN[difficulty]
    words = _words(rng)
    if rng.random() < 0.4:
        # Start from a product, which counts as the first step.
        a, b = rng.randint(2, top_factor + 3), rng.randint(2, 9)
        start = "{name} buys {a} {boxes} with {b} {obj} in each".format(a=a, b=b, **words)
        operands, operations = [a, b], ["*"]
    else:
        operands, operations = [rng.randint(lo, hi)], []
        start = "{name} has {a} {obj}".format(a=operands[0], **words)
    events: list[str] = []
    used: set[str] = set()
    while len(operations) < difficulty + 1:
        value = evaluate_chain(operands, operations)
        op = _next_operation(rng, value, operations)
        if op == "*":
            x = rng.randint(2, top_factor)
            template = _TIMES.get(x, "ends up with {x} times as many")
        else:
            # Taking away leaves at least one, so the running total stays positive.
            top = step_hi if op == "+" else min(step_hi, value - 1)
            x = rng.randint(min(step_lo, top), top)
            pool = _MORE if op == "+" else _FEWER
            template = rng.choice([t for t in pool if t not in used] or pool)
        used.add(template)
        events.append(template.format(x=x, **words))
        operands.append(x)
        operations.append(op)
    if len(events) == 1:
        story = f"{start} and then {events[0]}."
    else:
        story = f"{start}, {', '.join(events[:-1])}, and then {events[-1]}."
    question = " How many {obj} does {pron} have now?".format(**words)
    return _Draft(story + question, tuple(operands), tuple(operations))


def _next_operation(rng: random.Random, value: int, operations: list[str]) -> str:
    # At most one product per problem, and only on small totals, keeps answers readable.
    if "*" not in operations and value <= 30 and rng.random() < 0.25:
        return "*"
    return "-" if value > 1 and rng.random() < 0.5 else "+"


_BUILDERS: dict[str, Callable[[random.Random, int], _Draft]] = {
    "addition": _addition,
    "subtraction": _subtraction,
    "multiplication": _multiplication,
    "multistep": _multistep,
}


def worked_solution(operands: tuple[int, ...], operations: tuple[str, ...]) -> str:
    """Return the step-by-step solution, one line per operation, then ``Answer: N``."""
    lines, value = [], operands[0]
    for op, x in zip(operations, operands[1:], strict=True):
        result = evaluate_chain((value, x), (op,))
        lines.append(f"{value} {op} {x} = {result}.")
        value = result
    return "\n".join([*lines, f"Answer: {value}"])


@dataclass(frozen=True)
class _Options:
    count: int
    seed: int
    kinds: tuple[str, ...]
    difficulties: tuple[int, ...]
    balanced: bool
    split: str | None


def _options(spec: DatasetSpec) -> _Options:
    opts: dict[str, Any] = dict(spec.options)
    unknown = sorted(set(opts) - _OPTIONS)
    if unknown:
        raise UsageError(
            f"arithmetic: unknown option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(sorted(_OPTIONS))}"
        )
    kinds = tuple(opts.get("kinds") or KINDS)
    bad_kinds = [k for k in kinds if k not in KINDS]
    difficulties = tuple(int(d) for d in opts.get("difficulties") or DIFFICULTIES)
    bad_levels = [d for d in difficulties if d not in DIFFICULTIES]
    if bad_kinds or bad_levels:
        raise UsageError(
            f"arithmetic: unknown kinds {bad_kinds} or difficulties {bad_levels}; "
            f"kinds are {list(KINDS)}, difficulties {list(DIFFICULTIES)}"
        )
    split_name = spec.split or opts.get("split")
    if split_name not in _SPLITS:
        raise UsageError(f"arithmetic: split must be train or eval (or test), not {split_name!r}")
    count = int(opts.get("count", 200))
    if count < 0:
        raise UsageError(f"arithmetic: count must be zero or more, not {count}")
    return _Options(count, int(opts.get("seed", 0)), kinds, difficulties,
                    bool(opts.get("balanced", True)), _SPLITS[split_name])  # fmt: skip


def load_arithmetic(spec: DatasetSpec) -> list[Problem]:
    """Generate ``count`` word problems; the same options always give the same problems.

    Options: ``count`` (200), ``seed`` (0), ``kinds`` (all four), ``difficulties``
    ([1, 2, 3]), ``balanced`` (true: kinds, and difficulties within a kind, take
    turns, so counts differ by at most one), ``split`` (or ``spec.split``):
    ``train`` and ``eval`` never share a problem, whatever their seeds and counts.
    A smaller ``count`` gives a prefix of a larger one.
    """
    o = _options(spec)
    rng = random.Random(int(stable_id("arithmetic", o.split, o.seed), 16))
    prefix = f"arith-{o.split}-s{o.seed}" if o.split else f"arith-s{o.seed}"
    seen: set[str] = set()
    problems = []
    for n in range(o.count):
        if o.balanced:
            kind = o.kinds[n % len(o.kinds)]
            difficulty = o.difficulties[(n // len(o.kinds)) % len(o.difficulties)]
        else:
            kind, difficulty = rng.choice(o.kinds), rng.choice(o.difficulties)
        draft = _draw(rng, kind, difficulty, o.split, seen)
        seen.add(draft.text)
        answer = evaluate_chain(draft.operands, draft.operations)
        problems.append(
            Problem(
                id=f"{prefix}-{n:05d}",
                prompt=draft.text,
                reference=Reference(
                    answer=str(answer),
                    rationale=worked_solution(draft.operands, draft.operations),
                ),
                metadata={
                    "source": "arithmetic",
                    "kind": kind,
                    "difficulty": difficulty,
                    "split": o.split or "all",
                    "seed": o.seed,
                    "operands": list(draft.operands),
                    "operations": list(draft.operations),
                },
            )
        )
    end = None if spec.limit is None else spec.offset + spec.limit
    return problems[spec.offset : end]


def _draw(
    rng: random.Random, kind: str, difficulty: int, split: str | None, seen: set[str]
) -> _Draft:
    for _ in range(_ATTEMPTS):
        draft = _BUILDERS[kind](rng, difficulty)
        if draft.text in seen:
            continue
        if split is None or split_of(kind, draft.operands, draft.operations) == split:
            return draft
    raise UsageError(
        f"arithmetic: could not find a new {kind} problem of difficulty {difficulty}; "
        "ask for fewer problems"
    )
