"""Intervals and paired tests against hand-computed values and against simulated coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasonloop.core.statistics import (
    bootstrap_interval,
    mcnemar_exact,
    paired_bootstrap_interval,
    paired_comparison,
    wilson_interval,
)


def test_wilson_matches_the_formula_worked_by_hand() -> None:
    # 8/10, z = 1.959964: centre (0.8 + z^2/20) / (1 + z^2/10), half-width z*sqrt(...)/(1 + z^2/10).
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)


def test_wilson_stays_inside_zero_and_one_at_the_edges() -> None:
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_lower_confidence_and_rejects_bad_counts() -> None:
    wide, narrow = wilson_interval(26, 100), wilson_interval(26, 100, confidence=0.8)
    assert wide[0] < narrow[0] < 0.26 < narrow[1] < wide[1]
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=1.0)


def test_mcnemar_exact_is_the_binomial_tail_on_discordant_pairs() -> None:
    # 1 vs 9 discordant: 2 * (C(10,0) + C(10,1)) / 2^10 = 22 / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    # Large counts stay exact (integers), no overflow or underflow to nonsense.
    assert 0 < mcnemar_exact(400, 600) < 1e-9
    assert mcnemar_exact(400, 600) == pytest.approx(
        2 * sum(math.comb(1000, i) for i in range(401)) / 2**1000
    )


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = [1.0, 0.0, 0.5, 1.0, 0.25] * 20
    a = bootstrap_interval(values, seed=3)
    assert a == bootstrap_interval(values, seed=3)
    assert a != bootstrap_interval(values, seed=4)
    assert a[0] < np.mean(values) < a[1]
    median = bootstrap_interval(values, statistic=np.median, resamples=200)
    assert median[0] <= 0.5 <= median[1]
    with pytest.raises(ValueError, match="at least one problem"):
        bootstrap_interval([])


def test_paired_bootstrap_is_tighter_than_treating_the_sides_as_independent() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.3).astype(int)
    b = a.copy()
    b[:10] = 1  # the same problems, a few more solved: strongly correlated sides
    lo, hi = paired_bootstrap_interval(a, b)
    assert 0 < lo <= b.mean() - a.mean() <= hi
    wa, wb = wilson_interval(int(a.sum()), 200), wilson_interval(int(b.sum()), 200)
    assert wa[1] > wb[0]  # unpaired intervals overlap, the paired one still excludes zero
    with pytest.raises(ValueError, match="same problems"):
        paired_bootstrap_interval([1, 0], [1])


def test_paired_comparison_counts_gained_and_lost_on_shared_ids() -> None:
    a = {"p1": True, "p2": False, "p3": False, "p4": True, "only-a": True}
    b = {"p1": True, "p2": True, "p3": True, "p4": False, "only-b": False}
    c = paired_comparison(a, b)
    assert (c.problems, c.gained, c.lost) == (4, 2, 1)
    assert (c.accuracy_a, c.accuracy_b, c.difference) == (0.5, 0.75, 0.25)
    assert c.p_value == 1.0
    assert c.interval[0] <= 0 <= c.interval[1] and not c.distinguishable
    assert c.model_dump()["distinguishable"] is False
    many = paired_comparison(
        {str(i): i < 20 for i in range(100)}, {str(i): i < 60 for i in range(100)}
    )
    assert many.distinguishable and many.p_value < 1e-9 and (many.gained, many.lost) == (40, 0)
    with pytest.raises(ValueError, match="share no problems"):
        paired_comparison({"x": True}, {"y": True})


def test_the_verdict_needs_both_tests_and_says_borderline_when_they_disagree() -> None:
    a = {str(i): False for i in range(100)}
    # 5 gained, 0 lost: a resample keeps no gain with probability 0.95**100 < 1%, so the
    # bootstrap interval excludes zero, while McNemar's exact p is 2 / 2**5 = 0.0625.
    b = {**a, **{str(i): True for i in range(5)}}
    c = paired_comparison(a, b)
    assert c.interval[0] > 0 and c.p_value == pytest.approx(0.0625)
    assert c.interval_excludes_zero and c.verdict == "borderline" and not c.distinguishable
    six = paired_comparison(a, {**a, **{str(i): True for i in range(6)}})
    assert six.p_value == pytest.approx(2 / 64) and six.verdict == "distinguishable"
    assert paired_comparison(a, a).verdict == "not distinguishable"
    assert c.model_dump()["verdict"] == "borderline"


def test_wilson_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1234)
    draws, n = 4000, 60
    rates = rng.uniform(0.05, 0.95, size=draws)
    successes = rng.binomial(n, rates)
    covered = 0
    for p, s in zip(rates, successes, strict=True):
        lo, hi = wilson_interval(int(s), n)
        covered += lo <= p <= hi
    assert 0.93 <= covered / draws <= 0.97


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(99)
    draws, n, p = 400, 100, 0.3
    covered = 0
    for i in range(draws):
        values = (rng.random(n) < p).astype(float)
        lo, hi = bootstrap_interval(values, resamples=1000, seed=i)
        covered += lo <= p <= hi
    # The percentile bootstrap runs a little narrow at n=100; 400 draws carry ~1 point of error.
    assert 0.91 <= covered / draws <= 0.98
