"""Intervals of ``reasonloop attribute``: known values, a coverage simulation, the checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reasonloop.attribution import Attribution
from reasonloop.attribution.intervals import (
    player_values,
    resampled_worths,
    spans_zero,
    value_intervals,
)
from reasonloop.attribution.problems import ProblemValues, problem_values
from reasonloop.attribution.report import format_value, write_markdown
from reasonloop.attribution.subsets import plan_subsets
from reasonloop.attribution.summary import RunEntry, attribution_data
from reasonloop.attribution.values import all_coalitions, banzhaf_values, shapley_values
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.statistics import bootstrap_interval
from reasonloop.errors import UsageError

PLAYERS = ["a", "b", "c"]


def per_problem(players, worth, problems):
    """``(coalitions, 1, problems)``: ``worth(coalition, problem)`` for every pair."""
    return np.array([[[worth(c, p) for p in range(problems)]] for c in all_coalitions(players)])


# -- known values ------------------------------------------------------------------


def test_player_values_match_the_definitions_on_every_resample():
    rng = np.random.default_rng(3)
    worths = rng.random((8, 5))  # 8 coalitions, 5 resamples
    shapley, banzhaf = player_values(PLAYERS, worths)
    for b in range(5):
        game = {c: worths[i, b] for i, c in enumerate(all_coalitions(PLAYERS))}
        assert dict(zip(PLAYERS, shapley[:, b], strict=True)) == pytest.approx(
            shapley_values(PLAYERS, game)
        )
        assert dict(zip(PLAYERS, banzhaf[:, b], strict=True)) == pytest.approx(
            banzhaf_values(PLAYERS, game)
        )


def test_constant_gains_give_zero_width_intervals_and_a_null_player_exactly_zero():
    # Problems differ in difficulty, but a adds 0.3 and b 0.1 on every one; c adds nothing.
    base = np.linspace(0.0, 0.5, 30)
    gain = {"a": 0.3, "b": 0.1, "c": 0.0}
    data = per_problem(PLAYERS, lambda s, p: base[p] + sum(gain[x] for x in s), 30)
    found = value_intervals(PLAYERS, data)
    for player, g in gain.items():
        assert found.shapley[player] == pytest.approx((g, g), abs=1e-12)
        assert found.banzhaf[player] == pytest.approx((g, g), abs=1e-12)
    assert found.shapley["c"] == (0.0, 0.0) and spans_zero(found.shapley["c"])
    assert not spans_zero(found.shapley["b"])
    # The subsets' worths do vary with the problems drawn.
    lo, hi = found.worths[0]
    assert lo < base.mean() < hi


def test_two_problems_give_the_range_of_their_per_problem_values():
    # Resampling 2 problems gives means phi_1, (phi_1 + phi_2)/2, phi_2 with
    # probability 1/4, 1/2, 1/4: the 2.5th and 97.5th percentiles are the two ends.
    outcomes = {  # per coalition of a, b: outcome on problem 0 and problem 1
        frozenset(): (0, 0),
        frozenset({"a"}): (1, 0),
        frozenset({"b"}): (0, 1),
        frozenset({"a", "b"}): (1, 1),
    }
    data = np.array([[outcomes[c]] for c in all_coalitions(["a", "b"])], dtype=float)
    found = value_intervals(["a", "b"], data)
    # a gains 1 on problem 0 and 0 on problem 1, whatever b does.
    assert found.shapley["a"] == (0.0, 1.0)
    assert found.banzhaf["b"] == (0.0, 1.0)
    assert found.worths[1] == (0.0, 1.0)


def test_one_seed_resamples_exactly_as_the_accuracy_bootstrap_does():
    rng = np.random.default_rng(7)
    data = (rng.random((8, 1, 50)) < 0.4).astype(float)
    worths = resampled_worths(data, resamples=500, seed=5)
    for c in range(8):
        expected = bootstrap_interval(data[c, 0], resamples=500, seed=5)
        assert tuple(np.quantile(worths[c], [0.025, 0.975])) == pytest.approx(expected)
    # Shapley is linear in v: its interval is the bootstrap of per-problem Shapley values.
    per = [
        shapley_values(PLAYERS, {c: data[i, 0, p] for i, c in enumerate(all_coalitions(PLAYERS))})
        for p in range(50)
    ]
    found = value_intervals(PLAYERS, data, resamples=500, seed=5)
    for player in PLAYERS:
        expected = bootstrap_interval([row[player] for row in per], resamples=500, seed=5)
        assert found.shapley[player] == pytest.approx(expected)


def test_identical_seeds_change_nothing_and_seed_effects_widen_the_interval():
    rng = np.random.default_rng(11)
    one = (rng.random((4, 1, 40)) < 0.5).astype(float)
    same = value_intervals(["a", "b"], np.repeat(one, 3, axis=1))
    single = value_intervals(["a", "b"], one)
    for player in ("a", "b"):
        assert same.shapley[player] == pytest.approx(single.shapley[player])
    # a adds 0.2 on every problem, plus -0.1, 0 or +0.1 under seeds 0, 1, 2. Problems
    # then carry no variance; resampled seeds give a mean of -0.1 with probability
    # 1/27 > 2.5%, so the interval's ends are exactly 0.2 -/+ 0.1.
    base = np.linspace(0.1, 0.6, 40)
    offsets = [-0.1, 0.0, 0.1]
    data = np.array(
        [
            [[base[p] + ("a" in c) * (0.2 + d) for p in range(40)] for d in offsets]
            for c in all_coalitions(["a", "b"])
        ]
    )
    found = value_intervals(["a", "b"], data)
    assert found.shapley["a"] == pytest.approx((0.1, 0.3))
    assert found.shapley["b"] == (0.0, 0.0)


def test_resampling_is_seeded():
    data = (np.random.default_rng(1).random((4, 2, 20)) < 0.5).astype(float)
    assert value_intervals(["a", "b"], data) == value_intervals(["a", "b"], data)
    assert value_intervals(["a", "b"], data, seed=1) != value_intervals(["a", "b"], data)


def test_shapley_interval_covers_the_true_value_about_95_percent_of_the_time():
    # Each problem has a difficulty u; it is solved by subset S when u < p(S),
    # so outcomes are correlated across subsets as on a real held-out set.
    truth = dict(
        zip(all_coalitions(PLAYERS), [0.20, 0.40, 0.25, 0.30, 0.50, 0.45, 0.30, 0.60], strict=True)
    )
    true_shapley = shapley_values(PLAYERS, truth)
    true_banzhaf = banzhaf_values(PLAYERS, truth)
    p = np.array(list(truth.values()))
    rng = np.random.default_rng(2026)
    reps, problems = 400, 80
    hits = {(kind, player): 0 for kind in ("shapley", "banzhaf") for player in PLAYERS}
    for rep in range(reps):
        u = rng.random(problems)
        data = (u[None, None, :] < p[:, None, None]).astype(float)
        found = value_intervals(PLAYERS, data, resamples=1000, seed=rep)
        for player in PLAYERS:
            lo, hi = found.shapley[player]
            hits["shapley", player] += lo <= true_shapley[player] <= hi
            lo, hi = found.banzhaf[player]
            hits["banzhaf", player] += lo <= true_banzhaf[player] <= hi
    coverage = {k: v / reps for k, v in hits.items()}
    # Binomial noise on 400 repetitions is about +-1.1 points; the percentile
    # bootstrap on 80 problems runs a little narrow.
    assert all(0.91 <= c <= 0.985 for c in coverage.values()), coverage


def test_value_intervals_refuse_a_wrong_number_of_coalitions():
    with pytest.raises(ValueError, match="3 players need 8 coalitions, got 4"):
        value_intervals(PLAYERS, np.zeros((4, 1, 3)))


# -- per-problem values from eval.json ---------------------------------------------

ANSWERS = [
    {"problem_id": "p1", "correct": True, "source": "arithmetic"},
    {"problem_id": "p2", "correct": False, "source": "arithmetic"},
    {"problem_id": "p3", "correct": True, "source": "gsm8k.test"},
]
EVAL = {
    "accuracy": 2 / 3,
    "by": {
        "source": {
            "arithmetic": {"accuracy": 0.5, "problems": 2},
            "gsm8k.test": {"accuracy": 1.0, "problems": 1},
        }
    },
    "verdicts": {"correct": 2},
    "answers": ANSWERS,
}


def test_accuracy_and_group_accuracy_come_from_the_answers():
    found = problem_values(EVAL, "eval.accuracy", Path("e/eval.json"))
    assert isinstance(found, ProblemValues) and found.proportion
    assert found.ids == ("p1", "p2", "p3") and list(found.values) == [1.0, 0.0, 1.0]
    group = problem_values(EVAL, "eval.by.source.arithmetic.accuracy", Path("e/eval.json"))
    assert isinstance(group, ProblemValues) and group.ids == ("p1", "p2")
    dotted = problem_values(EVAL, "eval.by.source.gsm8k.test.accuracy", Path("e/eval.json"))
    assert isinstance(dotted, ProblemValues) and dotted.ids == ("p3",)


def test_metrics_without_per_problem_values_say_why():
    reason = problem_values(EVAL, "eval.verdicts.correct", Path("e/eval.json"))
    assert isinstance(reason, str) and "has no per-problem values" in reason
    old = {k: v for k, v in EVAL.items() if k != "answers"}
    reason = problem_values(old, "eval.accuracy", Path("e/eval.json"))
    assert isinstance(reason, str) and "no per-problem answers" in reason
    edited = {**EVAL, "accuracy": 0.9}
    reason = problem_values(edited, "eval.accuracy", Path("e/eval.json"))
    assert (
        reason == "the per-problem records next to e/eval.json do not reproduce its eval.accuracy"
    )
    reason = problem_values(EVAL, "eval.tokens", Path("nowhere/eval.json"))
    assert reason == "nowhere/eval_samples.jsonl: missing"


# -- attribution.json --------------------------------------------------------------


def entry(run_dir, metric, values=None, ids=None, tokens=10):
    row = {
        "key": run_dir,
        "run_dir": run_dir,
        "status": "done",
        "metric": metric,
        "tokens": tokens,
        "seconds": 1.0,
    }
    if values is None:
        return RunEntry(row, "no per-problem values here")
    ids = ids or tuple(f"p{i}" for i in range(len(values)))
    return RunEntry(row, ProblemValues(tuple(ids), np.array(values, float), proportion=True))


SUBSETS = [
    {"plugins": [], "disabled": ["a"]},
    {"plugins": ["a"], "disabled": []},
]


def test_attribution_json_carries_intervals_and_labels():
    grid = [[entry("none", 0.25, [0, 0, 1, 0])], [entry("a", 0.75, [1, 1, 1, 0])]]
    data = attribution_data({"metric": "eval.accuracy"}, ["a"], SUBSETS, grid, None)
    assert data["complete"] and data["seeds"] is None
    assert data["intervals"]["subsets"] == "Wilson score interval"
    assert data["intervals"]["values"] == "paired bootstrap over problems"
    none = data["subsets"][0]
    assert none["problems"] == 4 and none["interval"] == pytest.approx([0.0456, 0.6994], abs=1e-4)
    a = data["values"]["a"]
    assert a["shapley"] == pytest.approx(0.5)
    # a's per-problem gains are 1, 1, 0, 0: resampled means run from 0 to 1.
    assert a["shapley_interval"] == [0.0, 1.0] and not a["shapley_distinguishable"]
    assert format_value(a, "shapley") == "+0.5000 [+0.0000, +1.0000] not distinguishable from zero"


def test_a_metric_without_per_problem_values_keeps_its_values_and_says_why(tmp_path):
    grid = [[entry("none", 3.0)], [entry("a", 5.0)]]
    header = {"recipe": "r", "mode": "eval", "metric": "eval.verdicts.correct"}
    data = attribution_data(header, ["a"], SUBSETS, grid, None)
    assert data["values"]["a"] == {"shapley": 2.0, "banzhaf": 2.0}
    assert data["intervals"] == {"unavailable": "no per-problem values here"}
    assert data["subsets"][0]["interval"] is None
    write_markdown(data, tmp_path / "attribution.md")
    assert "No intervals: no per-problem values here." in (tmp_path / "attribution.md").read_text()


def test_subsets_scored_on_different_problems_are_refused():
    grid = [
        [entry("runs/none", 0.5, [1, 0], ids=("p1", "p2"))],
        [entry("runs/a", 0.5, [1, 0], ids=("p1", "p9"))],
    ]
    with pytest.raises(UsageError) as info:
        attribution_data({}, ["a"], SUBSETS, grid, None)
    assert str(info.value).startswith(
        "runs/a scored different held-out problems from runs/none: "
        "1 only in the first (p2), 1 only in the second (p9)"
    )


def test_seeds_average_each_subset_and_resample_seeds_too(tmp_path):
    grid = [
        [entry("n0", 0.25, [0, 0, 1, 0]), entry("n1", 0.5, [1, 0, 1, 0])],
        [entry("a0", 0.75, [1, 1, 1, 0]), entry("a1", 1.0, [1, 1, 1, 1])],
    ]
    header = {"recipe": "r", "mode": "eval", "metric": "eval.accuracy"}
    data = attribution_data(header, ["a"], SUBSETS, grid, [0, 1])
    none = data["subsets"][0]
    assert none["metric"] == pytest.approx(0.375) and none["tokens"] == 20
    assert [s["seed"] for s in none["seeds"]] == [0, 1] and none["seeds"][1]["run_dir"] == "n1"
    assert data["intervals"]["values"] == "two-way bootstrap over seeds and problems"
    assert data["values"]["a"]["shapley"] == pytest.approx(0.5)
    lo, hi = data["values"]["a"]["shapley_interval"]
    assert lo <= 0.5 <= hi
    assert data["total"]["runs"] == 4
    write_markdown(data, tmp_path / "attribution.md")
    text = (tmp_path / "attribution.md").read_text()
    assert "under seeds 0, 1 (the mean over seeds)" in text
    assert "| 0: 0.2500, 1: 0.5000 |" in text and "n0<br>n1" in text


# -- seeds: one run per subset and seed --------------------------------------------

RECIPE = {
    "version": 1,
    "name": "seeded",
    "roles": {"actor": {"model": "some/model"}},
    "data": {"eval": [{"name": "arithmetic", "options": {"count": 4}}]},
    "plugins": {"settings": {"guidance": {}}},
}


def test_seeds_plan_one_run_per_subset_and_seed_reusing_the_recipe_seed(tmp_path):
    recipe = recipe_from_dict(json.loads(json.dumps(RECIPE)))
    job = Attribution(recipe, ["guidance"], tmp_path, mode="eval", seeds=[0, 3])
    assert [[s.recipe.seed for s in runs] for runs in job.grid] == [[0, 3], [0, 3]]
    plain = plan_subsets(recipe, ["guidance"], "eval")
    # Seed 0 is the recipe's own: the same runs as an attribution without seeds.
    assert [runs[0].key for runs in job.grid] == [s.key for s in plain]
    assert len({s.key for runs in job.grid for s in runs}) == 4


def test_bad_seeds_are_usage_errors(cli, write_recipe, tmp_path):
    path = write_recipe(json.dumps(RECIPE))
    out = tmp_path / "out"
    outcome = cli("attribute", path, "--plugins", "guidance", "--seeds", "0,1,1", "-o", out)
    assert outcome.exit_code == 2 and "--seeds: 1 named more than once" in outcome.stderr
    outcome = cli("attribute", path, "--plugins", "guidance", "--seeds", "0,x", "-o", out)
    assert outcome.exit_code == 2 and "--seeds '0,x': expected integers" in outcome.stderr
    outcome = cli("attribute", path, "--plugins", "guidance", "--seeds", ",", "-o", out)
    assert outcome.exit_code == 2 and "--seeds: name at least one seed" in outcome.stderr
    assert not out.exists()
