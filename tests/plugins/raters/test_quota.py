"""Quotas keep every group in the selection; the global ranking decides the rest."""

from __future__ import annotations

import pytest

from reasonloop.plugins.raters.fusion import progressive_rank, progressive_select
from reasonloop.plugins.raters.quota import apply_quota


def test_a_group_the_ranking_leaves_out_gets_its_best_candidate_back():
    # Candidates 0-5: "hard" holds the two ranked last; "easy" the rest.
    groups = ["easy", "easy", "easy", "easy", "hard", "hard"]
    rank = [0, 1, 2, 3, 5, 4]  # 5 is hard's best
    kept, swapped = apply_quota(rank, 3, groups, 1)
    # The lowest-ranked easy candidate (2) gives its place to hard's best (5).
    assert (kept, swapped) == ([0, 1, 5], 1)
    # Two each: easy cannot spare a second place, so the selection grows by one.
    assert apply_quota(rank, 3, groups, 2) == ([0, 1, 4, 5], 2)


def test_quotas_never_cut_below_a_groups_own_minimum_and_grow_only_when_they_must():
    groups = ["a", "b", "c", "d"]
    # Four groups need four places: a selection of two grows to four.
    assert apply_quota([0, 1, 2, 3], 2, groups, 1) == ([0, 1, 2, 3], 2)
    # A group with fewer candidates than the minimum keeps what it has.
    assert apply_quota([0, 1, 2], 2, ["x", "x", "y"], 5) == ([0, 1, 2], 1)
    # Already satisfied: the plain top-k.
    assert apply_quota([3, 0, 1, 2], 2, ["p", "q", "p", "q"], 1) == ([0, 3], 0)
    with pytest.raises(ValueError, match="at least 1"):
        apply_quota([0], 1, ["a"], 0)


def test_the_full_ranking_starts_with_the_progressive_selection():
    scores = {"a": [float(i % 7) for i in range(40)], "b": [float(i % 5) for i in range(40)]}
    rank, _ = progressive_rank(scores, 10, rounds=2)
    kept, _ = progressive_select(scores, 10, rounds=2)
    assert sorted(rank) == list(range(40)) and sorted(rank[:10]) == kept
