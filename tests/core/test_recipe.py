from __future__ import annotations

import pytest

from reasonloop.core.recipe import Recipe, apply_overrides, load_recipe
from reasonloop.errors import RecipeError

MINIMAL = """\
version: 1
name: tiny
roles:
  actor:
    model: some/model
data:
  eval:
    - name: arithmetic
"""


def test_minimal_recipe_gets_defaults(write_recipe):
    recipe = load_recipe(write_recipe(MINIMAL))
    assert isinstance(recipe, Recipe)
    assert recipe.roles["actor"].backend == "transformers"
    assert recipe.sampling.n == 4
    assert recipe.resolved_run_dir().as_posix() == "runs/tiny"


def test_unknown_key_names_file_and_dotted_key(write_recipe):
    path = write_recipe(MINIMAL + "sampling:\n  nn: 3\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert f"{path}: sampling.nn: unknown key" in str(info.value)


def test_wrong_type_says_what_was_expected(write_recipe):
    path = write_recipe(MINIMAL + "iterations: many\n")
    with pytest.raises(RecipeError, match=r"iterations: Input should be a valid integer.*'many'"):
        load_recipe(path)


def test_missing_version_and_missing_actor(write_recipe):
    with pytest.raises(RecipeError, match="version: missing"):
        load_recipe(write_recipe(MINIMAL.replace("version: 1\n", "")))
    broken = MINIMAL.replace("  actor:\n", "  critic:\n")
    with pytest.raises(RecipeError, match="roles must define an 'actor'"):
        load_recipe(write_recipe(broken))


def test_yaml_syntax_error_has_line(write_recipe):
    with pytest.raises(RecipeError, match=r"not valid YAML \(line \d+"):
        load_recipe(write_recipe("version: 1\nroles: [\n"))


def test_missing_file():
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe("does/not/exist.yaml")


def test_overrides_parse_yaml_values_and_create_keys(write_recipe):
    recipe = load_recipe(
        write_recipe(MINIMAL),
        ["iterations=3", "roles.actor.sampling.temperature=0.9", "plugins.settings.x.k=[1, 2]"],
    )
    assert recipe.iterations == 3
    assert recipe.roles["actor"].sampling.temperature == 0.9
    assert recipe.plugins.settings["x"]["k"] == [1, 2]


def test_override_errors():
    with pytest.raises(RecipeError, match=r"expected dotted\.key=value"):
        apply_overrides({}, ["novalue"], "r.yaml")
    with pytest.raises(RecipeError, match="name is not a mapping or list"):
        apply_overrides({"name": "x"}, ["name.sub=1"], "r.yaml")


def test_shipped_recipes_validate():
    from pathlib import Path

    recipes = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        load_recipe(path)


def test_override_into_a_list(write_recipe):
    text = MINIMAL + "  train:\n    - name: arithmetic\n"
    recipe = load_recipe(write_recipe(text), ["data.eval.0.limit=5", "data.train.0.name=gsm8k"])
    assert recipe.data.eval[0].limit == 5
    assert recipe.data.train[0].name == "gsm8k"
    with pytest.raises(RecipeError, match=r"data.eval.3: no item 3 in a list of 1"):
        load_recipe(write_recipe(MINIMAL), ["data.eval.3.limit=5"])


@pytest.mark.parametrize(
    ("restart", "examples", "all_iterations"),
    [
        (False, "auto", False),
        (True, "auto", True),
        (True, "iteration", False),
        (False, "all", True),
    ],
)
def test_what_each_iteration_trains_on(write_recipe, restart, examples, all_iterations):
    trainer = f"trainer:\n  restart_from_base: {str(restart).lower()}\n  examples: {examples}\n"
    recipe = load_recipe(write_recipe(MINIMAL + trainer))
    assert recipe.trainer.trains_on_all_iterations is all_iterations


def test_a_bad_training_regime_names_the_choices(write_recipe):
    with pytest.raises(RecipeError, match=r"trainer\.examples: .*'auto', 'iteration' or 'all'"):
        load_recipe(write_recipe(MINIMAL + "trainer:\n  examples: latest\n"))
