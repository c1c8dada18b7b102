"""The curriculum settings: errors naming the key, defaults, and the trainer they need."""

from __future__ import annotations

import pytest

from reasonloop.errors import RecipeError
from reasonloop.trainers.base import TrainResult

STRONG = {"strong_model": "big-model"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**STRONG, "preferense": "linear"}, r"curriculum\.preferense: unknown key"),
        ({**STRONG, "preference": "cubic"}, r"plugins\.settings\.curriculum\.preference: "),
        ({**STRONG, "steepness": 0}, r"plugins\.settings\.curriculum\.steepness: "),
        ({**STRONG, "high_share": 1}, r"plugins\.settings\.curriculum\.high_share: "),
        ({**STRONG, "same_model": "skip"}, r"plugins\.settings\.curriculum\.same_model: "),
        ({}, r"plugins\.settings\.curriculum\.strong_model: name the strong reference model"),
        ({"strong_model": None}, r"plugins\.settings\.curriculum\.strong_model: name the"),
        ({"strong_model": " "}, r"plugins\.settings\.curriculum\.strong_model: name the"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, run_context, raw, message, recipe):
    with pytest.raises(RecipeError, match=message):
        run_context(recipe(tmp_path, raw))


def test_a_missing_strong_model_says_how_to_choose_one(tmp_path, run_context, recipe):
    # Never the circular measure by default: the message offers both choices.
    with pytest.raises(RecipeError) as info:
        run_context(recipe(tmp_path, {}))
    assert "a previous run's final model" in str(info.value)
    assert "'current'" in str(info.value)


def test_settings_absent_means_off_and_a_strong_model_is_enough(run_context):
    off = run_context()
    assert off.settings_for("curriculum") is None
    assert off.pm.get_plugin("curriculum.run") is None
    on = run_context(settings={"curriculum": STRONG})
    settings = on.settings_for("curriculum")
    assert (settings.preference, settings.high_share, settings.same_model) == (
        "linear",
        0.5,
        "perplexity",
    )
    assert (settings.weak_model, settings.strong_model, settings.backend) == (
        None,
        "big-model",
        "transformers",
    )
    assert not settings.strong_is_current
    assert on.pm.get_plugin("curriculum.run").settings is settings
    assert (
        run_context(settings={"curriculum": {"strong_model": "current"}})
        .settings_for("curriculum")
        .strong_is_current
    )


def test_scoring_backend_options_default_to_the_old_cpu_scorer(run_context):
    def options(**raw):
        run = run_context(settings={"curriculum": {**STRONG, **raw}}, start=False)
        return run.settings_for("curriculum").backend_options_for()

    assert options() == {"dtype": "float32", "batch_size": 8}
    assert options(batch_size=2, backend_options={"dtype": "bfloat16"}) == {
        "dtype": "bfloat16",
        "batch_size": 2,
    }
    assert options(backend="openai", backend_options={"base_url": "http://h/v1"}) == {
        "score_batch_size": 8,
        "base_url": "http://h/v1",
    }
    assert options(backend="vllm") == {}


def test_scoring_backend_is_checked_at_run_start(tmp_path, run_context, recipe):
    from reasonloop import hookimpl

    def start(raw, **kw):
        run = run_context(recipe(tmp_path, {**STRONG, **raw}), start=False, **kw)
        run.hooks.run_start(run)

    with pytest.raises(RecipeError, match=r"curriculum\.backend: unknown backend 'vlm'"):
        start({"backend": "vlm"})
    with pytest.raises(
        RecipeError, match=r"curriculum\.backend_options\.tensor_paralel_size: unknown key"
    ):
        start({"backend": "vllm", "backend_options": {"tensor_paralel_size": 2}})
    with pytest.raises(RecipeError, match=r"curriculum\.backend_options\.score_batch_size: "):
        start({"backend": "openai", "backend_options": {"score_batch_size": 0}})

    class Writer:
        """A backend that only generates (no scores_tokens)."""

        def __init__(self, model, options):
            pass

    class Plugin:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("writer", Writer)

    with pytest.raises(RecipeError, match=r"curriculum\.backend: backend 'writer' cannot score"):
        start({"backend": "writer"}, extra_plugins=[Plugin()], run_dir=tmp_path / "r2")
    start({"backend": "openai", "backend_options": {"base_url": "http://127.0.0.1:1/v1"}})


def test_trainer_that_shuffles_or_cannot_keep_the_order_fails_at_run_start(
    tmp_path, run_context, recipe, stage
):
    from reasonloop import hookimpl

    with pytest.raises(RecipeError, match=r"trainer\.options\.shuffle: true contradicts"):
        ctx = stage(
            run_context,
            tmp_path,
            STRONG,
            trainer={"name": "trl-sft", "options": {"shuffle": True}},
        )
        ctx.run.hooks.run_start(ctx.run)
    # shuffle: false, or left out, is fine: the loop tells trl-sft to keep the order.
    ctx = stage(
        run_context, tmp_path, STRONG, trainer={"name": "trl-sft", "options": {"shuffle": False}}
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
        recipe(tmp_path, STRONG, trainer={"name": "old"}),
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
