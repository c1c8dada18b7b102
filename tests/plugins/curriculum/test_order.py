"""Preference functions, perplexity difference and the offline order they give."""

from __future__ import annotations

import itertools
import random

import pytest

from reasonloop.plugins.curriculum.order import (
    PreferenceFunction,
    arrange,
    perplexity_difference,
    segment_shares,
)


@pytest.mark.parametrize("shape", ["linear", "sigmoid"])
@pytest.mark.parametrize("rho", [0.5, 0.3, 0.8])
def test_preference_function_rises_within_0_1_and_averages_the_high_share(shape, rho):
    f = PreferenceFunction(shape, rho, steepness=6)
    grid = [i / 400 for i in range(401)]
    values = [f(t) for t in grid]
    assert all(0 <= v <= 1 + 1e-12 for v in values)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(values))
    assert values[-1] - values[0] == pytest.approx(min(2 * rho, 2 * (1 - rho)))
    # The closed-form cumulative matches a numeric integral, and ends at rho:
    # the order uses every example exactly once.
    for t in (0.1, 0.37, 0.5, 0.9):
        steps = 2000
        numeric = sum(f((k + 0.5) * t / steps) for k in range(steps)) * t / steps
        assert f.cumulative(t) == pytest.approx(numeric, abs=1e-6)
    assert f.cumulative(1.0) == pytest.approx(rho)


def test_median_split_goes_from_no_high_pd_data_to_only_high_pd_data():
    for shape in ("linear", "sigmoid"):
        f = PreferenceFunction(shape, 0.5)
        assert f(0) == pytest.approx(0) and f(1) == pytest.approx(1)
        assert f(0.5) == pytest.approx(0.5)
    assert PreferenceFunction("linear", 0.5)(0.25) == pytest.approx(0.25)


def test_steeper_sigmoid_switches_more_sharply():
    shallow, steep = PreferenceFunction("sigmoid", 0.5, 2), PreferenceFunction("sigmoid", 0.5, 20)
    assert steep(0.25) < shallow(0.25) < 0.25 < 0.75 < shallow(0.75) < steep(0.75)


@pytest.mark.parametrize("shape", ["linear", "sigmoid"])
@pytest.mark.parametrize("high_share", [0.5, 0.25, 0.7])
def test_the_order_realises_the_schedule(shape, high_share):
    rng = random.Random(7)
    scores = [rng.uniform(-1, 1) for _ in range(300)]
    plan = arrange(scores, None, shape=shape, high_share=high_share, steepness=8, seed=1)
    n, h = 300, round(high_share * 300)
    assert sorted(plan.order) == list(range(n))
    # The high pool is exactly the h highest scores.
    top = set(sorted(range(n), key=lambda i: scores[i], reverse=True)[:h])
    assert {i for i, high in zip(plan.order, plan.high, strict=True) if high} == top
    assert plan.threshold == min(scores[i] for i in top)
    # Every prefix holds the planned number of high-PD examples, to rounding.
    f = PreferenceFunction(shape, h / n, 8)
    taken = 0
    for m, high in enumerate(plan.high, 1):
        taken += high
        assert abs(taken - n * f.cumulative(m / n)) <= 0.5 + 1e-9
    segments = segment_shares(plan.high, f)
    realised = [s["realised"] for s in segments]
    assert realised[0] < realised[-1]
    for s in segments:
        assert s["realised"] == pytest.approx(s["planned"], abs=1 / 30 + 1e-9)


def test_missing_scores_count_as_lowest_and_the_seed_only_shuffles_within_pools():
    scores = [0.9, None, 0.1, 0.5, None, 0.7, 0.3, 0.2]
    a = arrange(scores, None, seed=1)
    b = arrange(scores, None, seed=2)
    assert a.high == b.high  # the schedule does not depend on the seed
    assert {scores[i] for i, hi in zip(a.order, a.high, strict=True) if hi} == {0.9, 0.7, 0.5, 0.3}
    assert a.threshold == 0.3
    assert arrange(scores, None, seed=1).order == a.order
    orders = {tuple(arrange(scores, None, seed=s).order) for s in range(10)}
    assert len(orders) > 1
    assert arrange([], None).order == []


def test_perplexity_difference():
    assert perplexity_difference(10.0, 5.0) == pytest.approx(0.5)
    assert perplexity_difference(4.0, 4.0) == 0
    assert perplexity_difference(5.0, 10.0) == pytest.approx(-1.0)
    assert perplexity_difference(None, 3.0) is None
    assert perplexity_difference(3.0, None) is None


@pytest.mark.parametrize("shape", ["linear", "sigmoid"])
def test_falling_mirrors_the_schedule_in_time(shape):
    rising = PreferenceFunction(shape, 0.4, steepness=6)
    falling = PreferenceFunction(shape, 0.4, steepness=6, falling=True)
    for t in (0.0, 0.2, 0.5, 0.75, 1.0):
        assert falling(t) == pytest.approx(rising(1 - t))
    for t in (0.1, 0.37, 0.5, 0.9):
        steps = 2000
        numeric = sum(falling((k + 0.5) * t / steps) for k in range(steps)) * t / steps
        assert falling.cumulative(t) == pytest.approx(numeric, abs=1e-6)
    assert falling.cumulative(1.0) == pytest.approx(0.4)
    # Laid out, the high pool comes first, and every item is used once.
    scores = [float(i) for i in range(20)]
    plan = arrange(scores, None, shape=shape, falling=True, seed=1)
    assert sorted(plan.order) == list(range(20))
    assert sum(plan.high[:10]) > sum(plan.high[10:])
    assert plan.high[0] and not plan.high[-1]
