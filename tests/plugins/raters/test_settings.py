"""The raters settings: each bad value is named by its dotted key."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keep": 1.5}, r"plugins\.settings\.raters\.keep: .*share must be in \(0, 1\]"),
        ({"keep": 0}, r"plugins\.settings\.raters\.keep: .*at least 1"),
        ({"kep": 0.5}, r"plugins\.settings\.raters\.kep: unknown key"),
        ({"rounds": 0}, r"plugins\.settings\.raters\.rounds: "),
        ({"control": "shuffle"}, r"plugins\.settings\.raters\.control: "),
        ({"raters": ["lenght"]}, r"plugins\.settings\.raters\.raters: unknown rater 'lenght'"),
        (
            {"raters": ["length"], "weights": {"level": 1.0}},
            r"plugins\.settings\.raters\.weights\.level: 'level' is not one of the raters",
        ),
        ({"weights": {"length": -1}}, r"plugins\.settings\.raters\.weights: .*>= 0"),
        (
            {"options": {"perplexity": {"batch": 4}}},
            r"plugins\.settings\.raters\.options\.perplexity\.batch: unknown key",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path, settings, message, run_context, make_run):
    with pytest.raises(RecipeError, match=message):
        make_run(run_context, tmp_path, settings)
