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
        ({"reliability": "oracle"}, r"plugins\.settings\.raters\.reliability: "),
        (
            {"reliability": "judge"},
            r"plugins\.settings\.raters\.reliability: judge needs roles\.judge",
        ),
        ({"judge": {"pairs": 0}}, r"plugins\.settings\.raters\.judge\.pairs: "),
        (
            {"judge": {"template": "Which is better? {first} {second}"}},
            r"plugins\.settings\.raters\.judge\.template: .*needs \{problem\}",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path, settings, message, run_context, make_run):
    with pytest.raises(RecipeError, match=message):
        make_run(run_context, tmp_path, settings)


JUDGE_ROLE = {"backend": "transformers", "model": "a-stronger-model"}


def test_fixed_weights_and_an_explicit_judge_contradict(tmp_path, run_context, make_run):
    roles = {"actor": {"backend": "transformers", "model": "unused"}, "judge": JUDGE_ROLE}
    settings = {"reliability": "judge", "weights": {"length": 1.0}}
    with pytest.raises(RecipeError, match=r"reliability: judge has no effect with fixed weights"):
        make_run(run_context, tmp_path, settings, roles=roles)


@pytest.mark.parametrize(
    ("settings", "judge_role", "expected"),
    [
        ({}, False, False),  # no judge: the consensus
        ({}, True, True),  # a judge role: used by default
        ({"reliability": "consensus"}, True, False),  # asked for the fallback
        ({"weights": {"length": 1.0}}, True, False),  # fixed weights replace reliability
    ],
)
def test_the_judge_is_used_when_the_recipe_has_one(
    tmp_path, run_context, make_run, settings, judge_role, expected
):
    from reasonloop.plugins.raters.judge import uses_judge
    from reasonloop.plugins.raters.settings import RatersSettings

    roles = {"actor": {"backend": "transformers", "model": "unused"}}
    if judge_role:
        roles["judge"] = JUDGE_ROLE
    run = make_run(run_context, tmp_path, settings, roles=roles)
    assert uses_judge(run, RatersSettings.model_validate(settings)) is expected
