"""The self-debugging settings: each bad value is named by its dotted key."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError


def test_settings_are_validated_with_their_key(tmp_path, code_data, run_context, scripted):
    with pytest.raises(RecipeError, match=r"plugins\.settings\.selfdebug\.feedbak: unknown key"):
        scripted.run_loop(run_context, tmp_path, code_data, feedbak="detail")
    with pytest.raises(RecipeError, match=r"plugins\.settings\.selfdebug\.mode"):
        scripted.run_loop(run_context, tmp_path, code_data, mode="sideways")
