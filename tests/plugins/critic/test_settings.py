"""The critic's settings: each bad value is named by its dotted key."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"refinments": 2}, r"plugins\.settings\.critic\.refinments: unknown key"),
        ({"refinements": 0}, r"plugins\.settings\.critic\.refinements: .*greater than or equal"),
        ({"test_time": "vote"}, r"plugins\.settings\.critic\.test_time: .*'refine', 'select'"),
        ({"refine_template": "Try again."}, r"refine_template: .*\{critique\}"),
        ({"critique_template": "{question}"}, r"critique_template: .*\{steps\}"),
        ({"refine_rounds": 4}, r"refine_rounds: 4 revisions need eval\.max_rounds >= 9"),
    ],
)
def test_settings_errors_name_the_key(tmp_path, settings, message, run_context, critic_run):
    with pytest.raises(RecipeError, match=message):  # at load, or at run start
        run, _ = critic_run(run_context, tmp_path, settings)
        run.hooks.run_start(run)
