"""``reasonloop guidance-compare``: coverage by difficulty across finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reasonloop.errors import UsageError
from reasonloop.plugins.guidance.report import compare_runs, comparison_table

__all__ = ["guidance_compare", "register"]


def guidance_compare(
    runs: Annotated[
        list[Path], typer.Argument(help="Run directories to compare (plain, brute force, GSI).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The PNG to write.")] = Path(
        "guidance_compare.png"
    ),
) -> None:
    """Plot coverage by difficulty across iterations, one line per run, and print the table."""
    missing = [str(d) for d in runs if not (d / "state.json").exists()]
    if missing:
        raise UsageError(f"not run directories (no state.json): {', '.join(missing)}")
    metrics = compare_runs(runs, output)
    typer.echo("\n".join(comparison_table(metrics)))
    typer.echo(f"plot: {output}")


def register(cli: typer.Typer) -> None:
    """Add ``guidance-compare`` to the ``reasonloop`` command."""
    cli.command("guidance-compare")(guidance_compare)
