"""The ``reasonloop`` command."""

from __future__ import annotations

import json
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reasonloop.errors import ExitCode, ReasonloopError, UsageError

try:  # typer >= 0.20 carries its own copy of click, with its own exceptions
    from typer.exceptions import TyperException as _TyperUsage
except ImportError:  # pragma: no cover - older typer uses click itself
    _TyperUsage = click.ClickException
_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (KeyboardInterrupt, click.exceptions.Abort, typer.Abort)

__all__ = ["app", "main"]

app = typer.Typer(
    name="reasonloop",
    help="Make language models reason better by training them on their own verified work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe key: dotted.key=value (repeatable)."),
]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Log events without bars.")]


def _recipe(path: Path, overrides: list[str] | None) -> Any:
    from reasonloop.core.recipe import load_recipe

    return load_recipe(path, overrides or [])


def _start(recipe: Any, run_dir: Path, progress_bars: bool) -> Any:
    from reasonloop.core.hooks import stop_on_plugin_failure
    from reasonloop.core.loop import Loop, build_run_context
    from reasonloop.core.progress import RunProgress

    run_dir.mkdir(parents=True, exist_ok=True)
    progress = RunProgress(err, log_path=run_dir / "run.log", enabled=progress_bars)
    try:
        with stop_on_plugin_failure(lambda: "once the plugin is fixed, run the command again"):
            return Loop(build_run_context(recipe, run_dir, progress)), progress
    except BaseException:
        progress.close()
        raise


def _run_loop(recipe: Any, run_dir: Path, progress_bars: bool) -> None:
    loop, progress = _start(recipe, run_dir, progress_bars)
    try:
        rows = loop.run_all()
    except KeyboardInterrupt:
        progress.event(f"interrupted; continue with: reasonloop resume {run_dir}")
        raise
    finally:
        progress.close()
    _print_summary(rows)
    out.print(f"report: {run_dir / 'report.md'}")


def _print_summary(rows: list[dict[str, Any]]) -> None:
    table = Table(title="reasonloop run")
    for col in ("iteration", "held-out accuracy", "samples drawn", "kept", "tokens", "wall time"):
        table.add_column(col, justify="right")
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        table.add_row(
            r["stage"],
            acc,
            str(r["drawn"]),
            str(r["kept"]),
            str(r["tokens"]),
            f"{r['seconds']:.0f} s",
        )
    out.print(table)


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    set_: SetOption = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where to write (default runs/<name>).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Delete an existing run directory first.")
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Run a recipe: sample, verify, train and evaluate for its iterations."""
    r = _recipe(recipe, set_)
    target = run_dir or r.resolved_run_dir()
    if (target / "state.json").exists():
        if not overwrite:
            raise UsageError(
                f"{target} already holds a run; continue it with 'reasonloop resume {target}' "
                "or start again with --overwrite"
            )
        shutil.rmtree(target)
    _run_loop(r, target, not no_progress)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<name>).")],
    no_progress: NoProgress = False,
) -> None:
    """Continue an interrupted run without losing or repeating work."""
    _run_loop(_run_recipe(run_dir), run_dir, not no_progress)


def _run_recipe(run_dir: Path) -> Any:
    """The resolved recipe a run directory was started with."""
    from reasonloop.core.recipe import recipe_from_dict

    path = run_dir / "recipe.yaml"
    if not path.exists():
        raise UsageError(f"{run_dir}: not a run directory (no recipe.yaml)")
    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data.pop("_plugins", None)
    return recipe_from_dict(data, str(path))


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    set_: SetOption = None,
) -> None:
    """Check a recipe and the names it uses, without running anything."""
    from reasonloop.core.loop import build_run_context
    from reasonloop.core.progress import RunProgress

    r = _recipe(recipe, set_)
    build_run_context(r, r.resolved_run_dir(), RunProgress(err, enabled=False))
    out.print(f"{recipe}: ok ({r.iterations} iterations, roles: {', '.join(r.roles)})")


@app.command()
def schema() -> None:
    """Print the recipe's JSON Schema (for editors)."""
    from reasonloop.core.recipe import Recipe

    print(json.dumps(Recipe.model_json_schema(), indent=2))


@app.command("eval")
def eval_(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    model: Annotated[
        str | None, typer.Option(help="Model to evaluate (default: the actor's).")
    ] = None,
    set_: SetOption = None,
    run_dir: Annotated[Path | None, typer.Option(help="Where to write.")] = None,
    no_progress: NoProgress = False,
) -> None:
    """Evaluate a model on the recipe's held-out problems, with its plugins on."""
    from reasonloop.core.records import stable_id

    overrides = list(set_ or [])
    if model:
        overrides.append(f"roles.actor.model={json.dumps(model)}")
    r = _recipe(recipe, overrides)
    actor = r.roles["actor"].model
    target = run_dir or r.resolved_run_dir() / "eval" / stable_id(actor, r.model_dump_json())
    loop, progress = _start(r, target, not no_progress)
    try:
        metrics = loop.evaluate_only()
    finally:
        progress.close()
    table = Table(title=f"held-out evaluation of {actor}")
    table.add_column("group")
    table.add_column("accuracy", justify="right")
    table.add_column("problems", justify="right")
    table.add_row("all", f"{metrics['accuracy']:.1%}", str(metrics["problems"]))
    for key, groups in metrics["by"].items():
        for value, g in groups.items():
            table.add_row(f"{key}={value}", f"{g['accuracy']:.1%}", str(g["problems"]))
    out.print(table)
    out.print(f"tokens: {metrics['tokens']}  eval.json: {target / 'base' / 'eval.json'}")


@app.command()
def attribute(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    plugins_: Annotated[
        str, typer.Option("--plugins", help="Comma-separated plugins to attribute.")
    ],
    metric: Annotated[
        str, typer.Option(help="A dotted key of the final stage's eval.json.")
    ] = "eval.accuracy",
    eval_mode: Annotated[
        bool, typer.Option("--eval", help="Evaluate each subset (test time) instead of running.")
    ] = False,
    set_: SetOption = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Output directory (default runs/<name>-attribution)."),
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Run every subset of some plugins; print each one's Shapley and Banzhaf value."""
    from reasonloop.attribution import Attribution
    from reasonloop.attribution.report import format_metric, subset_label

    r = _recipe(recipe, set_)
    mode = "eval" if eval_mode else "run"
    suffix = "-eval-attribution" if eval_mode else "-attribution"
    target = output or r.resolved_run_dir().with_name(r.resolved_run_dir().name + suffix)
    names = [p.strip() for p in plugins_.split(",") if p.strip()]
    job = Attribution(
        r,
        names,
        target,
        metric=metric,
        mode=mode,
        console=err,
        progress_bars=not no_progress,
    )
    data = job.run()
    values = Table(title=f"{metric}: contribution per plugin ({r.name}, {mode})")
    for col in ("plugin", "Shapley value", "Banzhaf value"):
        values.add_column(col, justify="left" if col == "plugin" else "right")
    for name, v in data["values"].items():
        values.add_row(
            name, format_metric(v["shapley"], signed=True), format_metric(v["banzhaf"], signed=True)
        )
    out.print(values)
    subsets = Table(title="subsets")
    for col in ("plugins on", metric, "tokens", "wall time", ""):
        subsets.add_column(col, justify="left" if col == "plugins on" else "right")
    for row in data["subsets"]:
        mark = "best" if row == data["best"] else "worst" if row == data["worst"] else ""
        subsets.add_row(
            subset_label(row),
            format_metric(row["metric"]),
            str(row["tokens"]),
            f"{row['seconds']:.0f} s",
            mark,
        )
    out.print(subsets)
    out.print(
        f"best: {subset_label(data['best'])} ({format_metric(data['best']['metric'])}), "
        f"worst: {subset_label(data['worst'])} ({format_metric(data['worst']['metric'])}); "
        f"cost {data['total']['tokens']} tokens, {data['total']['seconds']:.0f} s"
    )
    out.print(f"attribution: {target / 'attribution.md'}", soft_wrap=True)


@app.command()
def verify(
    file: Annotated[
        Path, typer.Argument(help="JSON lines: id, completion and answer (math) or tests (code).")
    ],
    domain: Annotated[str, typer.Option(help="math or code")] = "math",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write rows here.")] = None,
) -> None:
    """Verify completions in a JSON-lines file; print or write one verdict per row."""
    from reasonloop.verifiers.jsonl import verify_file

    counts = verify_file(file, domain, output, err)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    err.print(f"{sum(counts.values())} rows ({summary})")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Rewrite a run's report.md and plot, and print its summary."""
    from reasonloop.core.loop import build_run_context
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.report import write_report

    if not (run_dir / "state.json").exists():
        raise UsageError(f"{run_dir}: not a run directory (no state.json)")
    run = build_run_context(_run_recipe(run_dir), run_dir, RunProgress(err, enabled=False))
    rows = write_report(run)
    _print_summary(rows)
    out.print(f"report: {run_dir / 'report.md'}")


@app.command("critic-data")
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
    from reasonloop.plugins.critic.data import export_critic_data
    from reasonloop.plugins.critic.settings import NAME, CriticSettings

    if format_ not in ("stepwise", "critique"):
        raise UsageError(f"--format {format_!r}: expected stepwise or critique")
    recipe = _run_recipe(run_dir)
    cfg = CriticSettings.model_validate(recipe.plugins.settings.get(NAME) or {})
    counts = export_critic_data(run_dir, output, format_, threshold, correct, cfg)  # type: ignore[arg-type]
    out.print(
        f"wrote {counts['rows']} rows to {output}: {counts['rolled_out']} rolled-out solutions, "
        f"{counts['correct']} correct ones; {counts['wrong_steps']} of {counts['steps']} "
        "steps labelled wrong"
    )


@app.command()
def convert(
    model: Annotated[str, typer.Argument(help="A .gguf file, pkg:PACKAGE/FILE or checkpoint.")],
    output: Annotated[Path, typer.Argument(help="Directory for the safetensors checkpoint.")],
) -> None:
    """Save a model (GGUF included) as a safetensors checkpoint any engine can load."""
    from reasonloop.hf.models import load_causal_lm, load_tokenizer, save_checkpoint

    if output.exists() and any(output.iterdir()):
        raise UsageError(f"{output}: exists and is not empty")
    save_checkpoint(load_causal_lm(model), load_tokenizer(model), output)
    out.print(f"saved {model} to {output}")


@app.command()
def serve(
    model: Annotated[str, typer.Argument(help="A checkpoint, .gguf file or pkg:PACKAGE/FILE.")],
    backend: Annotated[str, typer.Option(help="The backend that generates.")] = "transformers",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8000,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A backend option: key=value (YAML value)."),
    ] = None,
    served_name: Annotated[
        str | None, typer.Option(help="The model name clients send; default MODEL.")
    ] = None,
    max_batch: Annotated[int, typer.Option(help="Requests per batched call.")] = 64,
    max_pending: Annotated[int, typer.Option(help="Waiting requests before answering 429.")] = 1024,
) -> None:
    """Serve a model over an OpenAI-compatible API (chat and completions)."""
    from reasonloop.core.plugins import Registry, build_checked, make_plugin_manager
    from reasonloop.serving import ModelServer

    options: dict[str, Any] = {}
    for item in option or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {item!r}: expected key=value")
        options[key] = yaml.safe_load(raw) if raw else ""
    registry = Registry.collect(make_plugin_manager(), "reasonloop_register_backends", "backend")
    factory = registry.get(backend)
    engine = build_checked(factory, "--option", model, options)
    try:
        server = ModelServer(
            engine,
            served_name or model,
            host=host,
            port=port,
            max_batch=max_batch,
            max_pending=max_pending,
            loader=lambda adapter: build_checked(factory, "--option", adapter, options),
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    err.print(f"serving {served_name or model} on {server.url}", soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


@app.command()
def plugins(
    json_: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List plugins: version, the names each registers and the hooks it implements."""
    from reasonloop.core.plugins import describe_plugins, make_plugin_manager

    rows = describe_plugins(make_plugin_manager(), registered=True)
    if json_:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="reasonloop plugins")
    for col in ("name", "version", "kind", "registers", "hooks"):
        table.add_column(col)
    for p in rows:
        kind = "installed"
        if p["builtin"]:
            kind = "built-in, essential" if p["essential"] else "built-in"
        registers = "\n".join(
            f"{what}: {', '.join(names)}" for what, names in sorted(p["registers"].items())
        )
        hooks = ", ".join(h.removeprefix("reasonloop_") for h in p["hooks"])
        table.add_row(p["name"], p["version"], kind, registers or "-", hooks)
    out.print(table)


@app.command()
def env() -> None:
    """Print versions of Python, the ML stack and plugins (for bug reports)."""
    from reasonloop.core.plugins import describe_plugins, make_plugin_manager

    lines = [
        f"python: {platform.python_version()} ({sys.executable})",
        f"platform: {platform.platform()}",
    ]
    for dist in (
        "reasonloop",
        "torch",
        "transformers",
        "trl",
        "peft",
        "accelerate",
        "datasets",
        "vllm",
        "pluggy",
        "pydantic",
        "math-verify",
    ):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        lines.append(f"{dist}: {version}")
    for p in describe_plugins(make_plugin_manager()):
        lines.append(f"plugin {p['name']}: {p['version']}")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors print without a traceback."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="reasonloop")
    except _EXIT as exc:
        return exc.exit_code
    except (click.ClickException, _TyperUsage) as exc:
        exc.show()
        return ExitCode.USAGE_ERROR
    except _ABORT:
        err.print("[yellow]interrupted[/yellow]")
        return ExitCode.INTERRUPTED
    except ReasonloopError as exc:
        err.print(f"[bold red]Error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    if result == 130:  # typer returns 128 + SIGINT for a Ctrl-C inside a command
        err.print("[yellow]interrupted[/yellow]")
        return ExitCode.INTERRUPTED
    return result if isinstance(result, int) else ExitCode.OK


def cli_entry() -> None:
    sys.exit(main())
