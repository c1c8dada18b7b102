from __future__ import annotations

import re
from collections import Counter

import pytest

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import Problem
from reasonloop.datasets.arithmetic import KINDS, evaluate_chain, load_arithmetic, split_of
from reasonloop.errors import UsageError


def generate(split: str | None = None, **options: object) -> list[Problem]:
    return load_arithmetic(DatasetSpec(name="arithmetic", split=split, options=options))


def fact(p: Problem) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    return p.metadata["kind"], tuple(p.metadata["operands"]), tuple(p.metadata["operations"])


def test_same_options_give_the_same_problems() -> None:
    first = [p.model_dump() for p in generate(count=80, seed=7)]
    assert first == [p.model_dump() for p in generate(count=80, seed=7)]


def test_a_smaller_count_is_a_prefix_of_a_larger_one() -> None:
    assert generate(count=30, seed=3) == generate(count=90, seed=3)[:30]


def test_different_seeds_give_different_problems() -> None:
    a = {p.prompt for p in generate(count=200, seed=0)}
    b = {p.prompt for p in generate(count=200, seed=1)}
    assert len(a & b) <= 5


def test_train_and_eval_never_share_a_problem_or_an_arithmetic_fact() -> None:
    train = generate("train", count=2000, seed=0)
    evaluation = generate("eval", count=400, seed=0)
    assert not {p.prompt for p in train} & {p.prompt for p in evaluation}
    assert not {p.id for p in train} & {p.id for p in evaluation}
    # Even with the same wording changed, an eval fact never shows up in train.
    assert all(split_of(*fact(p)) == "train" for p in train)
    assert all(split_of(*fact(p)) == "eval" for p in evaluation)
    # Seeds do not matter: another train seed still avoids the eval facts.
    other = generate("train", count=2000, seed=5)
    assert not {fact(p) for p in other} & {fact(p) for p in evaluation}
    assert {p.metadata["split"] for p in train} == {"train"}
    assert generate("test", count=10) == generate("eval", count=10)


def test_answers_follow_from_the_operands_and_are_never_negative() -> None:
    for p in generate(count=400, seed=2):
        operands, operations = p.metadata["operands"], p.metadata["operations"]
        value = evaluate_chain(operands, operations)
        assert p.reference is not None
        assert p.reference.answer == str(value)
        assert value >= 0
        # Every operand is written in the question.
        numbers = re.findall(r"\d+", p.prompt)
        assert all(str(x) in numbers for x in operands if not _spelled_factor(p, x))


def _spelled_factor(p: Problem, x: int) -> bool:
    # "doubles them" and "triples them" state a factor in words.
    return ("doubles" in p.prompt and x == 2) or ("triples" in p.prompt and x == 3)


def test_the_rationale_shows_each_step_then_the_answer() -> None:
    for p in generate(count=200, seed=4):
        assert p.reference is not None and p.reference.rationale is not None
        *steps, last = p.reference.rationale.splitlines()
        assert last == f"Answer: {p.reference.answer}"
        assert len(steps) == len(p.metadata["operations"])
        for line in steps:
            left, op, right, result = re.fullmatch(r"(\d+) ([-+*]) (\d+) = (\d+)\.", line).groups()
            assert evaluate_chain((int(left), int(right)), (op,)) == int(result)


def test_balanced_kinds_and_difficulties() -> None:
    problems = generate(count=120)
    assert Counter(p.metadata["kind"] for p in problems) == dict.fromkeys(KINDS, 30)
    cells = Counter((p.metadata["kind"], p.metadata["difficulty"]) for p in problems)
    assert set(cells.values()) == {10}
    assert all(p.metadata["source"] == "arithmetic" for p in problems)
    assert all(isinstance(p.metadata["difficulty"], int) for p in problems)


def test_unbalanced_still_draws_every_kind() -> None:
    problems = generate(count=200, balanced=False)
    counts = Counter(p.metadata["kind"] for p in problems)
    assert set(counts) == set(KINDS)
    assert len(set(counts.values())) > 1


def test_difficulty_sets_operand_size_and_number_of_steps() -> None:
    problems = generate(count=600, seed=9)
    for p in problems:
        kind, level, operands = p.metadata["kind"], p.metadata["difficulty"], p.metadata["operands"]
        if kind == "multistep":
            assert len(p.metadata["operations"]) == level + 1
        elif level == 1:
            assert max(operands) <= 20
    single = [p for p in problems if p.metadata["kind"] in ("addition", "multiplication")]
    # Level 1 stays within sums of small numbers and the times tables; level 3 does not.
    assert all(int(p.reference.answer) <= 108 for p in single if p.metadata["difficulty"] == 1)
    assert all(int(p.reference.answer) > 100 for p in single if p.metadata["difficulty"] == 3)


def test_kinds_and_difficulties_can_be_chosen() -> None:
    problems = generate(count=20, kinds=["subtraction"], difficulties=[2])
    assert {fact(p)[0] for p in problems} == {"subtraction"}
    assert {p.metadata["difficulty"] for p in problems} == {2}


def test_ids_are_deterministic_and_unique() -> None:
    problems = generate(count=50, seed=3)
    assert problems[0].id == "arith-s3-00000"
    assert generate("eval", count=1, seed=3)[0].id == "arith-eval-s3-00000"
    assert len({p.id for p in problems}) == 50
    assert len({p.prompt for p in problems}) == 50


def test_limit_and_offset_select_a_window() -> None:
    spec = DatasetSpec(name="arithmetic", offset=5, limit=10, options={"count": 40})
    assert load_arithmetic(spec) == generate(count=40)[5:15]


@pytest.mark.parametrize(
    "options",
    [{"kinds": ["division"]}, {"difficulties": [4]}, {"counts": 3}, {"split": "validation"}],
)
def test_bad_options_are_usage_errors(options: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="arithmetic"):
        generate(**options)
