"""``reasonloop critic-data``: step-labelled solutions of a critic run, to train a critic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reasonloop.core.plugins import make_plugin_manager
from reasonloop.core.recipe import load_run_recipe
from reasonloop.core.settings import validate_plugin_settings
from reasonloop.errors import UsageError
from reasonloop.plugins.critic.data import export_critic_data
from reasonloop.plugins.critic.settings import NAME, CriticSettings

__all__ = ["critic_data", "register"]

FORMATS = ("stepwise", "critique")


def critic_data(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of a critic recipe.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The JSON-lines file to write.")],
    format_: Annotated[
        str, typer.Option("--format", help="stepwise (TRL stepwise supervision) or critique.")
    ] = "stepwise",
    threshold: Annotated[
        float | None,
        typer.Option(help="A step is wrong when at most this share of its rollouts succeed."),
    ] = None,
    correct: Annotated[
        bool, typer.Option(help="Also export correct plain samples, every step correct.")
    ] = True,
) -> None:
    """Export step-labelled solutions (Monte-Carlo rollouts) to train a critic."""
    if format_ not in FORMATS:
        raise UsageError(f"--format {format_!r}: expected stepwise or critique")
    recipe = load_run_recipe(run_dir)
    # The same validation a run does, so a bad block gets the same message.
    pm = make_plugin_manager(disable=recipe.plugins.disable)
    cfg = validate_plugin_settings(recipe, pm).values.get(NAME) or CriticSettings()
    counts = export_critic_data(run_dir, output, format_, threshold, correct, cfg)  # type: ignore[arg-type]
    typer.echo(
        f"wrote {counts['rows']} rows to {output}: {counts['rolled_out']} rolled-out solutions, "
        f"{counts['correct']} correct ones; {counts['wrong_steps']} of {counts['steps']} "
        "steps labelled wrong"
    )


def register(cli: typer.Typer) -> None:
    """Add ``critic-data`` to the ``reasonloop`` command."""
    cli.command("critic-data")(critic_data)
