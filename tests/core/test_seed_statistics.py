"""The pooled interval over seeds and problems: hand-worked values and simulated coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reasonloop.core.seed_statistics import pooled_estimate, t_quantile


def test_t_quantile_matches_the_tables() -> None:
    # Student's t, two-sided 95% (and one 90%) critical values from any statistics table.
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-3)
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 7) == pytest.approx(2.3646, abs=1e-4)
    assert t_quantile(0.975, 30) == pytest.approx(2.0423, abs=1e-4)
    assert t_quantile(0.95, 5) == pytest.approx(2.0150, abs=1e-4)
    assert t_quantile(0.975, 1e7) == pytest.approx(1.95996, abs=1e-4)
    assert t_quantile(0.025, 7) == -t_quantile(0.975, 7)
    # Fractional degrees of freedom fall between their neighbours.
    assert t_quantile(0.975, 3) < t_quantile(0.975, 2.5) < t_quantile(0.975, 2)
    with pytest.raises(ValueError, match="strictly between"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="positive"):
        t_quantile(0.9, 0)


def test_one_seed_gives_the_textbook_t_interval_over_problems() -> None:
    # mean 5, sd sqrt(32/7), se 0.7559, t_7 = 2.3646: 5 -+ 1.7875.
    est = pooled_estimate([[2, 4, 4, 4, 5, 5, 7, 9]], bounds=(-100, 100))
    assert est.mean == 5 and est.std == 0 and est.per_seed == [5.0]
    assert est.df == pytest.approx(7)
    assert est.interval == pytest.approx((3.2125, 6.7875), abs=1e-3)


def test_two_way_components_and_satterthwaite_worked_by_hand() -> None:
    # y = seed effect + problem effect, no residual. Seed means 3 and 5 (grand 4):
    # MS_seeds = 3 * (1 + 1) / 1 = 6; problem means 2, 3, 7: MS_problems = 2 * 14 / 2 = 14;
    # MS_residual = 0. se^2 = (6 + 14 - 0) / (2 * 3) = 10/3;
    # Satterthwaite df = 20^2 / (6^2 / 1 + 14^2 / 2) = 400 / 134.
    est = pooled_estimate([[1, 2, 6], [3, 4, 8]], bounds=(-100, 100))
    assert est.mean == 4 and est.per_seed == [3.0, 5.0]
    assert est.std == pytest.approx(math.sqrt(2))
    assert (est.min, est.max) == (3.0, 5.0)
    assert est.seed_variance == pytest.approx(2.0)  # (6 - 0) / 3 problems
    assert est.problem_variance == pytest.approx(7.0)  # (14 - 0) / 2 seeds
    assert est.residual_variance == pytest.approx(0.0)
    assert est.df == pytest.approx(400 / 134)
    half = t_quantile(0.975, 400 / 134) * math.sqrt(10 / 3)
    assert est.interval == pytest.approx((4 - half, 4 + half))


def test_a_seed_variance_below_the_residual_is_clipped_to_zero() -> None:
    # Both seeds solve 2 of 4, but different problems: no seed effect, all residual.
    est = pooled_estimate([[1, 1, 0, 0], [0, 1, 1, 0]])
    assert est.seed_variance == 0.0 and est.std == 0.0
    assert est.mean == 0.5
    # Without a seed component the interval is the one over problem means (df = N - 1).
    assert est.df == pytest.approx(3)
    lo, hi = est.interval
    assert lo == 0.0 and 0.5 < hi <= 1.0


def test_degenerate_tables() -> None:
    solved = pooled_estimate([[1, 1, 1], [1, 1, 1]])
    assert solved.interval == (1.0, 1.0) and solved.problems_interval == (1.0, 1.0)
    one_problem = pooled_estimate([[0.0], [1.0], [1.0]])
    assert one_problem.df == pytest.approx(2) and one_problem.std == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="seeds x problems"):
        pooled_estimate([[]])
    diff = pooled_estimate([[1, 0, 1, 1, 1], [1, 1, 1, 0, 1]], bounds=(-1, 1))
    assert diff.interval[0] >= -1 and diff.interval[1] <= 1


def _coverage(
    seeds: int, problems: int, seed_sd: float, reps: int, rng: np.random.Generator
) -> tuple[float, float]:
    """How often the pooled and the problems-only intervals cover the recipe's true accuracy.

    Each replicate draws new seeds and new problems: correctness is Bernoulli
    with logit = -1 + seed effect + problem difficulty (sd 1), as when a
    recipe's seeds train models of different skill on problems of varied
    difficulty. The truth is the accuracy averaged over both populations.
    """
    truth = float(
        np.mean(1 / (1 + np.exp(1 - rng.normal(0, seed_sd, 10**6) - rng.normal(0, 1, 10**6))))
    )
    pooled = fixed = 0
    for _ in range(reps):
        a = rng.normal(0, seed_sd, (seeds, 1))
        b = rng.normal(0, 1.0, (1, problems))
        p = 1 / (1 + np.exp(1 - a - b))
        est = pooled_estimate((rng.random((seeds, problems)) < p).astype(float))
        pooled += est.interval[0] <= truth <= est.interval[1]
        fixed += est.problems_interval[0] <= truth <= est.problems_interval[1]
    return pooled / reps, fixed / reps


def test_pooled_interval_covers_near_95_percent_with_and_without_a_seed_effect() -> None:
    rng = np.random.default_rng(11)
    # A strong seed effect (seed-to-seed sd of about 7 points): the pooled
    # interval keeps its coverage, the interval over problems alone does not.
    pooled, fixed = _coverage(seeds=3, problems=100, seed_sd=0.5, reps=400, rng=rng)
    assert 0.91 <= pooled <= 0.98
    assert fixed < 0.8
    # No seed effect: both are about right (the pooled one a little conservative).
    pooled, fixed = _coverage(seeds=3, problems=100, seed_sd=0.0, reps=400, rng=rng)
    assert 0.92 <= pooled <= 0.99
    assert 0.91 <= fixed <= 0.98
