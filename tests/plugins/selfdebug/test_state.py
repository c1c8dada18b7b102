"""The self-debugging settings: each bad value is named by its dotted key."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError


def test_settings_are_validated_with_their_key(tmp_path, code_data, run_context, scripted):
    with pytest.raises(RecipeError, match=r"plugins\.settings\.selfdebug\.feedbak: unknown key"):
        scripted.run_loop(run_context, tmp_path, code_data, feedbak="detail")
    with pytest.raises(RecipeError, match=r"plugins\.settings\.selfdebug\.mode"):
        scripted.run_loop(run_context, tmp_path, code_data, mode="sideways")


def test_in_execution_needs_two_rounds_per_revision(tmp_path, code_data, run_context, scripted):
    recipe = scripted.recipe(tmp_path, code_data, mode="in", rounds=2)
    recipe["eval"]["max_rounds"] = 4
    with pytest.raises(RecipeError, match=r"need eval\.max_rounds >= 5 \(it is 4\)"):
        run_context(recipe, extra_plugins=[scripted.ScriptedPlugin()])
    recipe["plugins"]["settings"]["selfdebug"]["mode"] = "post"
    run_context(recipe, extra_plugins=[scripted.ScriptedPlugin()])  # 3 suffice


def test_gate_and_feedback_options_are_validated(tmp_path, code_data, run_context, scripted):
    for key, bad in (("trace", "passing"), ("all_correct", "maybe"), ("feedback_tests", "two")):
        with pytest.raises(RecipeError, match=rf"plugins\.settings\.selfdebug\.{key}"):
            scripted.run_loop(run_context, tmp_path, code_data, **{key: bad})
