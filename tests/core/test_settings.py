"""Plugin settings: declared by plugins, validated once by the core, in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from reasonloop import hookimpl
from reasonloop.core.plugins import make_plugin_manager
from reasonloop.core.settings import settings_models
from reasonloop.errors import PluginError, RecipeError

REPO = Path(__file__).resolve().parents[2]

#: Per built-in plugin: a misspelt plugin name, and a misspelt key with the key meant.
MISSPELT = {
    "critic": ("critc", "refinments", "refinements"),
    "curriculum": ("curriculm", "preferense", "preference"),
    "guidance": ("guidanse", "atempts", "attempts"),
    "raters": ("rater", "kep", "keep"),
    "resample": ("resampel", "token_budgt", "token_budget"),
    "selfdebug": ("selfdebg", "feedbak", "feedback"),
}

RECIPE = """\
version: 1
name: t
roles: {actor: {model: m}}
data: {}
trainer: {name: none}
"""


def builtin_names() -> list[str]:
    return settings_models(make_plugin_manager(load_entrypoints=False)).names()


def test_every_builtin_plugin_with_settings_declares_them():
    # A new built-in plugin with settings must get a row in MISSPELT.
    assert builtin_names() == sorted(MISSPELT)


@pytest.mark.parametrize("plugin", sorted(MISSPELT))
def test_validate_rejects_a_misspelt_plugin_name(cli, write_recipe, plugin):
    wrong, _, _ = MISSPELT[plugin]
    path = write_recipe(RECIPE)
    outcome = cli("validate", path, "--set", f"plugins.settings.{wrong}={{}}")
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    message = " ".join(outcome.stderr.split())
    assert f"{path}: plugins.settings.{wrong}: no plugin declares settings '{wrong}'" in message
    assert "known: critic, curriculum, guidance, raters, resample, selfdebug" in message
    assert f"did you mean '{plugin}'?" in message


@pytest.mark.parametrize("plugin", sorted(MISSPELT))
def test_validate_rejects_a_misspelt_key_in_a_plugins_settings(cli, write_recipe, plugin):
    _, wrong, meant = MISSPELT[plugin]
    path = write_recipe(RECIPE)
    outcome = cli("validate", path, "--set", f"plugins.settings.{plugin}.{wrong}=1")
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    message = " ".join(outcome.stderr.split())
    assert f"{path}: plugins.settings.{plugin}.{wrong}: unknown key" in message
    assert f"did you mean '{meant}'?" in message
    assert "expected one of: " in message and meant in message.split("expected one of: ")[1]


def test_the_misspelt_guidance_of_the_gsi_recipe_is_an_error(cli):
    recipe = REPO / "recipes" / "gsi-math.yaml"
    outcome = cli("validate", recipe, "--set", "plugins.settings.guidanse.attempts=4")
    assert outcome.exit_code == 2
    assert "did you mean 'guidance'?" in " ".join(outcome.stderr.split())
    outcome = cli("validate", recipe, "--set", "plugins.settings.guidance.atempts=4")
    assert outcome.exit_code == 2
    assert "plugins.settings.guidance.atempts: unknown key; did you mean 'attempts'?" in (
        " ".join(outcome.stderr.split())
    )
    assert cli("validate", recipe).exit_code == 0


def test_a_wrong_type_names_the_dotted_key_and_what_was_expected(cli, write_recipe):
    path = write_recipe(RECIPE)
    outcome = cli(
        "validate",
        path,
        "--set",
        "plugins.settings.guidance.attempts=many",
        "--set",
        "plugins.settings.guidance.templates.answr=x",
        "--set",
        "plugins.settings.critic.test_time=vote",
    )
    assert outcome.exit_code == 2
    lines = " ".join(outcome.stderr.split())
    assert (
        f"{path}: plugins.settings.guidance.attempts: Input should be a valid integer" in lines
        and "(got 'many')" in lines
    )
    # Nested sections suggest their own keys.
    assert "plugins.settings.guidance.templates.answr: unknown key; did you mean 'answer'?" in lines
    assert "plugins.settings.critic.test_time: Input should be 'refine', 'select' or 'off'" in lines


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--no-progress"],
        ["eval", "--no-progress"],
        ["attribute", "--plugins", "critic", "--no-progress"],
    ],
)
def test_run_eval_and_attribute_reject_before_any_work(cli, write_recipe, tmp_path, command):
    path = write_recipe(RECIPE + f"run_dir: {tmp_path / 'run'}\n")
    name, *options = command
    outcome = cli(name, path, *options, "--set", "plugins.settings.critc={}")
    assert outcome.exit_code == 2
    assert "no plugin declares settings 'critc'" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    # At most the log of the attempt: no stage started, no recipe saved.
    run = tmp_path / "run"
    assert [p.name for p in run.rglob("*") if p.is_file()] in ([], ["run.log"])
    assert not (tmp_path / "run-attribution").exists()


def test_a_disabled_plugins_settings_are_reported_as_ignored(cli, write_recipe, tmp_path):
    path = write_recipe(
        RECIPE + "plugins: {disable: [critic], settings: {critic: {refinments: 2}}}\n"
    )
    outcome = cli("validate", path)
    assert outcome.exit_code == 0
    out = " ".join(outcome.stdout.split())
    assert "plugins.settings.critic: ignored, plugin 'critic' is disabled" in out


def test_schema_holds_every_plugins_settings(cli):
    outcome = cli("schema")
    assert outcome.exit_code == 0
    schema = json.loads(outcome.stdout)
    settings = schema["$defs"]["PluginsConfig"]["properties"]["settings"]
    assert settings["additionalProperties"] is False
    assert sorted(settings["properties"]) == sorted(MISSPELT)
    for name, (_, _, key) in MISSPELT.items():
        ref = settings["properties"][name]["$ref"].rsplit("/", 1)[-1]
        model = schema["$defs"][ref]
        assert key in model["properties"] and model["additionalProperties"] is False
    guidance = schema["$defs"][settings["properties"]["guidance"]["$ref"].rsplit("/", 1)[-1]]
    templates = guidance["properties"]["templates"]["$ref"].rsplit("/", 1)[-1]
    assert "answer" in schema["$defs"][templates]["properties"]


# -- a third-party plugin's settings ---------------------------------------------------


class ShoutSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volume: int = Field(default=1, ge=1)


class Shout:
    @hookimpl
    def reasonloop_register_settings(self, register):
        register("shout", ShoutSettings)


def test_reasonloop_register_settings_gives_the_plugin_its_validated_model(run_context):
    run = run_context(settings={"shout": {"volume": 3}}, extra_plugins=[Shout()])
    assert run.settings_for("shout") == ShoutSettings(volume=3)
    assert run.settings_for("critic") is None
    off = run_context(extra_plugins=[Shout()], run_dir=run.run_dir.root / "off")
    assert off.settings_for("shout") is None


def test_a_third_party_models_errors_name_the_file_and_key(run_context):
    with pytest.raises(RecipeError) as info:
        run_context(settings={"shout": {"volum": 3}}, extra_plugins=[Shout()])
    assert "recipe.yaml: plugins.settings.shout.volum: unknown key; did you mean 'volume'?" in (
        str(info.value)
    )
    with pytest.raises(RecipeError, match=r"plugins\.settings\.shout\.volume: .*greater than"):
        run_context(settings={"shout": {"volume": 0}}, extra_plugins=[Shout()])
    with pytest.raises(RecipeError, match=r"known: critic, .*shout.*; did you mean 'shout'\?"):
        run_context(settings={"shuot": {}}, extra_plugins=[Shout()])


def test_settings_registered_twice_or_not_a_model_are_plugin_errors(run_context):
    class Again:
        @hookimpl
        def reasonloop_register_settings(self, register):
            register("critic", ShoutSettings)

    with pytest.raises(PluginError, match=r"settings 'critic' is registered by both 'critic'"):
        run_context(extra_plugins=[Again()])

    class NotAModel:
        @hookimpl
        def reasonloop_register_settings(self, register):
            register("loose", dict)

    with pytest.raises(PluginError, match=r"registers settings 'loose' with .*not a pydantic"):
        run_context(extra_plugins=[NotAModel()])


# -- one formatter for options too -----------------------------------------------------


def test_trainer_and_recipe_errors_name_the_file_and_suggest_the_key(cli, write_recipe):
    path = write_recipe(RECIPE.replace("{name: none}", "{name: trl-sft, options: {epohcs: 2}}"))
    outcome = cli("validate", path)
    assert outcome.exit_code == 2
    message = " ".join(outcome.stderr.split())
    assert f"{path}: trainer.options.epohcs: unknown key; did you mean 'epochs'?" in message
    path = write_recipe(RECIPE)
    outcome = cli("validate", path, "--set", "roles.actor.sampling.temprature=0.5")
    message = " ".join(outcome.stderr.split())
    assert f"{path}: roles.actor.sampling.temprature: unknown key; did you mean" in message
    assert "'temperature'?" in message
