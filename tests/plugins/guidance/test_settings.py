"""The guidance settings: the default threshold, the round schedule, errors naming the key."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError
from reasonloop.plugins.guidance.settings import GuidanceSettings, schedule


def test_default_threshold_is_half_of_n_rounded_up():
    s = GuidanceSettings()
    assert (s.threshold_for(8), s.threshold_for(4), s.threshold_for(3), s.threshold_for(1)) == (
        4, 2, 2, 1)  # fmt: skip
    assert GuidanceSettings(threshold=5).threshold_for(8) == 5


def test_interactive_takes_two_rounds_per_attempt_in_the_schedule():
    s = GuidanceSettings(strategy=["interactive", "answer"], attempts=3)
    assert [(x.attempt, x.strategy, x.phase) for x in schedule(s)] == [
        (0, "interactive", "ask"),
        (0, "interactive", "revise"),
        (1, "answer", "ask"),
        (2, "interactive", "ask"),
        (2, "interactive", "revise"),
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"strategy": "hints"}, r"plugins\.settings\.guidance\.strategy\.0: Input should be"),
        ({"treshold": 3}, r"plugins\.settings\.guidance\.treshold: unknown key"),
        ({"attempts": 0}, r"plugins\.settings\.guidance\.attempts: Input should be greater"),
        ({"templates": {"hint": "x"}}, r"plugins\.settings\.guidance\.templates\.hint: unknown"),
        ({"state_reset_shares": [0.5, 1.0]}, r"guidance\.state_reset_shares: .*between 0 and 1"),
        ({"attempts": 6, "strategy": "interactive"},
         r"sampling\.max_rounds: 12 rounds are too few .* need 13 \(6 interactive"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_key(tmp_path, settings, message, run_context, scripted):
    with pytest.raises(RecipeError, match=message):
        scripted.make_stage(run_context, tmp_path, settings)
