"""``reasonloop critic-data``: critic training data from a critic run, and training the critic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reasonloop.core.plugins import Registry, build_checked, make_plugin_manager
from reasonloop.core.recipe import Recipe, load_run_recipe
from reasonloop.core.settings import validate_plugin_settings
from reasonloop.errors import UsageError
from reasonloop.plugins.critic.annotations import export_critique_examples
from reasonloop.plugins.critic.data import export_critic_data
from reasonloop.plugins.critic.settings import NAME, CriticSettings

__all__ = ["critic_data", "register", "train_critic"]

FORMATS = ("stepwise", "critique", "annotated")


def critic_data(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of a critic recipe.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The JSON-lines file to write.")],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="stepwise (TRL stepwise supervision from rollouts), critique (the same as "
            "target critiques) or annotated (the run's training critiques that a refinement "
            "proved right, as critic training rows).",
        ),
    ] = "stepwise",
    threshold: Annotated[
        float | None,
        typer.Option(help="A step is wrong when at most this share of its rollouts succeed."),
    ] = None,
    correct: Annotated[
        bool, typer.Option(help="Also export correct plain samples, every step correct.")
    ] = True,
    train: Annotated[
        Path | None,
        typer.Option(
            "--train",
            help="Then train the critic on the rows with the run's trainer; the model goes here.",
        ),
    ] = None,
    trainer: Annotated[
        str | None,
        typer.Option(
            help="The trainer for --train (default: the run's); with another name than the "
            "run's, its default options.",
        ),
    ] = None,
) -> None:
    """Export critic training data from a run (step labels or filtered critiques); train on it."""
    if format_ not in FORMATS:
        raise UsageError(f"--format {format_!r}: expected stepwise, critique or annotated")
    if train is not None and format_ == "stepwise":
        raise UsageError("--train trains a critique writer: use --format critique or annotated")
    recipe = load_run_recipe(run_dir)
    # The same validation a run does, so a bad block gets the same message.
    pm = make_plugin_manager(disable=recipe.plugins.disable)
    cfg = validate_plugin_settings(recipe, pm).values.get(NAME) or CriticSettings()
    if format_ == "annotated":
        examples, tally = export_critique_examples(run_dir, output, cfg)
        t = tally.as_dict()
        typer.echo(
            f"wrote {len(examples)} critic training rows to {output}: kept "
            f"{t['kept_wrong']} of {t['critiques_of_wrong']} critiques of wrong answers "
            f"(refinement correct) and {t['kept_correct']} of {t['critiques_of_correct']} "
            f"of correct ones; {t['unparsable']} unparsable, {t['wrong_verdict']} with a "
            f"wrong verdict; written by {t['written_by']}"
        )
        rows = len(examples)
    else:
        counts = export_critic_data(run_dir, output, format_, threshold, correct, cfg)  # type: ignore[arg-type]
        typer.echo(
            f"wrote {counts['rows']} rows to {output}: {counts['rolled_out']} rolled-out "
            f"solutions, {counts['correct']} correct ones; {counts['wrong_steps']} of "
            f"{counts['steps']} steps labelled wrong"
        )
        rows = counts["rows"]
    if train is not None:
        if rows == 0:
            raise UsageError(f"{output}: no rows to train the critic on")
        model = train_critic(recipe, pm, output, train, trainer)
        typer.echo(
            f"trained the critic: {model}; use it with --set roles.critic.model={model}"
            f" --set roles.critic.backend={_critic_backend(recipe)}"
        )


def _critic_backend(recipe: Recipe) -> str:
    return recipe.roles.get("critic", recipe.roles["actor"]).backend


def train_critic(
    recipe: Recipe, pm: object, data: Path, output_dir: Path, name: str | None = None
) -> str:
    """Train the run's critic model on ``data``; return the checkpoint.

    The trainer is ``name`` (default: the recipe's, with its options). The
    critic starts from ``roles.critic.model`` (the actor's base model when
    the recipe has no critic role), as the critic of the run was.
    """
    name = name or recipe.trainer.name
    if name == "none":
        raise UsageError("--train: the run's trainer is none; name one, e.g. --trainer trl-sft")
    trainers = Registry.collect(pm, "reasonloop_register_trainers", "trainer")  # type: ignore[arg-type]
    options = dict(recipe.trainer.options) if name == recipe.trainer.name else {}
    trainer = build_checked(trainers.get(name), "trainer.options", options, source=recipe.source)
    critic = recipe.roles.get("critic")
    base = critic.model if critic else (recipe.trainer.base_model or recipe.roles["actor"].model)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = trainer.train(data, base, output_dir)
    model = result.model_path or result.adapter_path
    if not model:
        raise UsageError(f"the trainer {name!r} wrote no model")
    return model


def register(cli: typer.Typer) -> None:
    """Add ``critic-data`` to the ``reasonloop`` command."""
    cli.command("critic-data")(critic_data)
