"""Seed groups: the plan, the pooled summary, and compare taking a group as one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop.core.comparison import compare_runs, load_run_stage
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.rundir import RunDirectory, RunState, atomic_write_json
from reasonloop.core.seeds import SeedGroup, is_seed_group, parse_seeds
from reasonloop.errors import UsageError

RECIPE = {
    "version": 1,
    "name": "grp",
    "seed": 7,
    "roles": {"actor": {"model": "m"}},
    "data": {"eval": [{"name": "arithmetic"}]},
    "tracking": {"backends": ["tensorboard"]},
}


def write_seed_run(root: Path, stages: dict[str, set[int]], n: int = 10, ids: str = "p") -> None:
    """A finished run directory: per stage an eval.json with per-problem answers."""
    for name, solved in stages.items():
        answers = [{"problem_id": f"{ids}{i}", "correct": i in solved} for i in range(n)]
        atomic_write_json(
            root / name / "eval.json",
            {"accuracy": len(solved) / n, "problems": n, "by": {}, "answers": answers},
        )
    (root / "recipe.yaml").write_text("version: 1\n")
    RunDirectory(root).save_state(RunState())


def make_group(tmp_path: Path, per_seed: dict[int, dict[str, set[int]]]) -> SeedGroup:
    group = SeedGroup.create(tmp_path / "grp", recipe_from_dict(dict(RECIPE)), list(per_seed))
    for seed, stages in per_seed.items():
        write_seed_run(group.run_dir(seed), stages)
        group.mark_finished(seed)
    return group


def test_parse_seeds_and_the_recipe_key() -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds(" 3, 5 ") == [3, 5]
    with pytest.raises(UsageError, match="comma-separated integers"):
        parse_seeds("0,x")
    with pytest.raises(UsageError, match="given twice"):
        parse_seeds("1,1")
    with pytest.raises(UsageError, match="at least one seed"):
        parse_seeds(",")
    assert recipe_from_dict({**RECIPE, "seeds": [0, 1]}).seeds == [0, 1]
    with pytest.raises(Exception, match="only once"):
        recipe_from_dict({**RECIPE, "seeds": [0, 0]})


def test_each_seed_runs_the_recipe_with_its_seed_in_its_own_directory(tmp_path) -> None:
    group = SeedGroup.create(tmp_path / "grp", recipe_from_dict(dict(RECIPE)), [4, 9])
    assert is_seed_group(group.root) and not is_seed_group(tmp_path)
    r = group.seed_recipe(9)
    assert (r.seed, r.seeds, r.run_dir) == (9, None, str(tmp_path / "grp" / "seed-9"))
    assert r.tracking.run_name == "grp-seed9"  # one tracker run per seed
    assert group.pending() == [4, 9] and not group.started(4)
    (group.run_dir(4)).mkdir()
    (group.run_dir(4) / "recipe.yaml").write_text("version: 1\n")
    assert group.started(4)
    group.mark_finished(4)
    reopened = SeedGroup.open(group.root)
    assert reopened.finished == [4] and reopened.pending() == [9]
    with pytest.raises(UsageError, match="not a seed group"):
        SeedGroup.open(tmp_path)


def test_the_summary_pools_the_seeds_per_stage_and_base_vs_last(tmp_path) -> None:
    group = make_group(
        tmp_path,
        {
            0: {"base": {0, 1}, "iter-000": {0, 1, 2, 3}},
            1: {"base": {0, 1}, "iter-000": {0, 1, 2, 3, 4, 5}},
            2: {"base": {0, 1}, "iter-000": {0, 1, 2, 3, 4}},
        },
    )
    data = json.loads((group.root / "seeds.json").read_text())
    assert data["seeds"] == [0, 1, 2] and data["finished"] == [0, 1, 2]
    assert data["recipe"]["name"] == "grp"
    base, last = data["stages"]
    assert base["stage"] == "base" and base["mean"] == pytest.approx(0.2)
    assert base["std"] == 0.0
    assert last["per_seed"] == pytest.approx([0.4, 0.6, 0.5])
    assert last["mean"] == pytest.approx(0.5) and last["std"] == pytest.approx(0.1)
    assert (last["min"], last["max"]) == pytest.approx((0.4, 0.6))
    assert last["seeds"] == 3 and last["problems"] == 10
    lo, hi = last["interval"]
    assert lo < 0.5 < hi
    d = data["difference"]
    assert (d["from"], d["to"]) == ("base", "iter-000")
    assert d["mean"] == pytest.approx(0.3) and d["per_seed"] == pytest.approx([0.2, 0.4, 0.3])
    md = (group.root / "seeds.md").read_text()
    assert "| iter-000 | 3 | 10 | 50.0% [" in md and "| 40.0, 60.0, 50.0 |" in md
    assert "iter-000 - base" in md and "+30.0 points" in md


def test_seeds_evaluated_on_different_problems_are_refused(tmp_path) -> None:
    group = SeedGroup.create(tmp_path / "grp", recipe_from_dict(dict(RECIPE)), [0, 1])
    write_seed_run(group.run_dir(0), {"base": {1}})
    write_seed_run(group.run_dir(1), {"base": {1}}, ids="q")
    group._data["finished"] = [0, 1]
    with pytest.raises(UsageError, match=r"seed 1 was evaluated on different problems"):
        group.write_summary()


def test_compare_takes_a_group_as_one_run_of_per_problem_fractions(tmp_path) -> None:
    group = make_group(
        tmp_path, {0: {"base": {0, 1}, "iter-000": {0, 1, 2}}, 1: {"base": {0, 1}, "iter-000": {0}}}
    )
    plain = tmp_path / "plain"
    write_seed_run(plain, {"base": {0, 1}, "iter-000": {0, 1}})
    arm = load_run_stage(group.root)
    assert arm.row.stage == "iter-000" and arm.seeds == [0, 1]
    assert arm.answers["p0"] == 1.0 and arm.answers["p1"] == 0.5 and arm.answers["p2"] == 0.5
    assert arm.row.accuracy == pytest.approx(0.2)
    text = compare_runs([load_run_stage(plain), arm])
    row = next(line for line in text.splitlines() if line.startswith(f"| {group.root} |"))
    # Against plain (p0, p1 solved): p1 fell to 0.5, p2 rose to 0.5: one gained, one lost.
    assert "20.0% [" in row and "2 seeds, std 14.1" in row
    assert "+0.0 points [" in row and "| 1 | 1 |" in row
    assert "A seed group is one run" in text
    with pytest.raises(UsageError, match=r"no stage 'iter-004' evaluated in every seed"):
        load_run_stage(group.root, "iter-004")
    other = tmp_path / "other"
    write_seed_run(other, {"base": {0}}, ids="q")
    with pytest.raises(UsageError, match="different held-out problems"):
        compare_runs([load_run_stage(group.root, "base"), load_run_stage(other)])
    empty = SeedGroup.create(tmp_path / "empty", recipe_from_dict(dict(RECIPE)), [0])
    with pytest.raises(UsageError, match="no seed of the group has finished"):
        load_run_stage(empty.root)
