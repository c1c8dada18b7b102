"""The curriculum settings: errors naming the key, defaults, and the trainer they need."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError
from reasonloop.trainers.base import TrainResult


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"preferense": "linear"}, r"plugins\.settings\.curriculum\.preferense: unknown key"),
        ({"preference": "cubic"}, r"plugins\.settings\.curriculum\.preference: "),
        ({"steepness": 0}, r"plugins\.settings\.curriculum\.steepness: "),
        ({"high_share": 1}, r"plugins\.settings\.curriculum\.high_share: "),
        ({"same_model": "skip"}, r"plugins\.settings\.curriculum\.same_model: "),
    ],
)
def test_bad_settings_name_the_key(tmp_path, run_context, raw, message, recipe):
    with pytest.raises(RecipeError, match=message):
        run_context(recipe(tmp_path, raw))


def test_settings_absent_means_off_and_empty_means_defaults(run_context):
    off = run_context()
    assert off.settings_for("curriculum") is None
    assert off.pm.get_plugin("curriculum.run") is None
    on = run_context(settings={"curriculum": {}})
    settings = on.settings_for("curriculum")
    assert (settings.preference, settings.high_share, settings.same_model) == (
        "linear",
        0.5,
        "perplexity",
    )
    assert on.pm.get_plugin("curriculum.run").settings is settings


def test_trainer_that_shuffles_or_cannot_keep_the_order_fails_at_run_start(
    tmp_path, run_context, recipe, stage
):
    from reasonloop import hookimpl

    with pytest.raises(RecipeError, match=r"trainer\.options\.shuffle: true contradicts"):
        ctx = stage(
            run_context, tmp_path, {}, trainer={"name": "trl-sft", "options": {"shuffle": True}}
        )
        ctx.run.hooks.run_start(ctx.run)
    # shuffle: false, or left out, is fine: the loop tells trl-sft to keep the order.
    ctx = stage(
        run_context, tmp_path, {}, trainer={"name": "trl-sft", "options": {"shuffle": False}}
    )
    ctx.run.hooks.run_start(ctx.run)

    class OldTrainer:
        def __init__(self, options):
            pass

        def train(self, data_path, base_model, output_dir, on_progress=None):
            return TrainResult(model_path=None)

    class Plugin:
        @hookimpl
        def reasonloop_register_trainers(self, register):
            register("old", OldTrainer)

    run = run_context(
        recipe(tmp_path, {}, trainer={"name": "old"}),
        extra_plugins=[Plugin()],
        run_dir=tmp_path / "run2",
        start=False,
    )
    with pytest.raises(RecipeError, match=r"trainer\.name: trainer 'old' cannot be told"):
        run.hooks.run_start(run)


def test_a_run_with_a_bad_setting_stops_before_any_work(tmp_path, cli, write_recipe):
    path = write_recipe(
        f"""\
        version: 1
        name: bad
        run_dir: {tmp_path / "run"}
        roles: {{actor: {{model: no-such-model}}}}
        data: {{train: [{{name: arithmetic, options: {{count: 4}}}}]}}
        plugins: {{settings: {{curriculum: {{preference: cubic}}}}}}
        """
    )
    outcome = cli("run", path, "--no-progress")
    assert outcome.exit_code == 2
    assert "plugins.settings.curriculum.preference: " in outcome.stderr
    assert not (tmp_path / "run" / "iter-000").exists()
