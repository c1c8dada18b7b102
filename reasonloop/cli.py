"""The ``reasonloop`` command."""

from __future__ import annotations

import json
import platform
import shutil
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import click
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reasonloop.errors import ExitCode, PluginError, ReasonloopError, UsageError

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


def _run_recipe(run_dir: Path) -> Any:
    from reasonloop.core.recipe import load_run_recipe

    return load_run_recipe(run_dir)


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
    out.print(f"report: {run_dir / 'report.md'}", soft_wrap=True)


def _print_summary(rows: list[Any]) -> None:
    """The run's summary table: one :class:`~reasonloop.core.report.StageSummary` per row."""
    from reasonloop.core.pairing import format_accuracy

    table = Table(title="reasonloop run: held-out accuracy with its 95% interval")
    # A stage name and an interval each read as one value: never broken over lines.
    table.add_column("iteration", justify="right", no_wrap=True)
    table.add_column("accuracy [95%]", justify="right", no_wrap=True)
    for col in ("n", "samples", "kept", "tokens", "time"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r.stage,
            format_accuracy(r.accuracy, r.interval),
            "-" if r.problems is None else str(r.problems),
            str(r.samples),
            str(r.kept),
            str(r.tokens),
            f"{r.seconds:.0f} s",
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
    seeds: Annotated[
        str | None,
        typer.Option(help="Run once per seed, e.g. 0,1,2, in a seed group (recipe key: seeds)."),
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Run a recipe: sample, verify, train and evaluate for its iterations."""
    r = _recipe(recipe, set_)
    target = run_dir or r.resolved_run_dir()
    if seeds is not None or r.seeds:
        _start_seed_group(r, target, seeds, overwrite, not no_progress)
        return
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
    """Continue an interrupted run (or seed group) without losing or repeating work."""
    from reasonloop.core.seeds import SeedGroup, is_seed_group

    if is_seed_group(run_dir):
        _run_seed_group(SeedGroup.open(run_dir), not no_progress)
        return
    _run_loop(_run_recipe(run_dir), run_dir, not no_progress)


def _start_seed_group(
    recipe: Any, target: Path, seeds: str | None, overwrite: bool, progress_bars: bool
) -> None:
    from reasonloop.core.seeds import SeedGroup, is_seed_group, parse_seeds

    chosen = parse_seeds(seeds) if seeds is not None else list(recipe.seeds)
    if is_seed_group(target) or (target / "state.json").exists():
        if not overwrite:
            what = "a seed group" if is_seed_group(target) else "a run"
            raise UsageError(
                f"{target} already holds {what}; continue it with 'reasonloop resume {target}' "
                "or start again with --overwrite"
            )
        shutil.rmtree(target)
    _run_seed_group(SeedGroup.create(target, recipe, chosen), progress_bars)


def _run_seed_group(group: Any, progress_bars: bool) -> None:
    """Run each unfinished seed of ``group`` in turn, then print the pooled summary."""
    seeds = group.seeds
    for seed in group.pending():
        run_dir = group.run_dir(seed)
        how = "continuing" if group.started(seed) else "starting"
        err.rule(f"seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}): {how} {run_dir}")
        recipe = _run_recipe(run_dir) if group.started(seed) else group.seed_recipe(seed)
        try:
            _run_loop(recipe, run_dir, progress_bars)
        except KeyboardInterrupt:
            err.print(f"seed group interrupted; continue with: reasonloop resume {group.root}")
            raise
        group.mark_finished(seed)
    _print_seed_summary(group, group.write_summary())


def _print_seed_summary(group: Any, summary: dict[str, Any]) -> None:
    from reasonloop.core.pairing import format_accuracy

    table = Table(title=f"seed group {group.root}: held-out accuracy over seeds")
    from rich.markup import escape

    for col in ("stage", "seeds", "n", "mean [pooled 95%]", "std", "min - max"):
        # escape: "[pooled 95%]" would otherwise be read as a style tag and dropped.
        table.add_column(escape(col), justify="left" if col == "stage" else "right", no_wrap=True)
    for st in summary["stages"]:
        table.add_row(
            st["stage"],
            str(st["seeds"]),
            str(st["problems"]),
            format_accuracy(st["mean"], st["interval"]),
            f"{100 * st['std']:.1f}",
            f"{100 * st['min']:.1f} - {100 * st['max']:.1f}",
        )
    # Never cropped: a narrow terminal would cut the interval column's header.
    out.print(table, width=max(out.width, 110))
    d = summary.get("difference")
    if d:
        lo, hi = d["interval"]
        noise = "distinguishable" if d["distinguishable"] else "not distinguishable from noise"
        out.print(
            f"{d['to']} - {d['from']}: {100 * d['mean']:+.1f} points "
            f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pooled over seeds and problems ({noise})"
        )
    out.print(f"summary: {group.root / 'seeds.md'}", soft_wrap=True)


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    set_: SetOption = None,
    resolve_models: Annotated[
        bool,
        typer.Option(
            "--resolve-models",
            help="Also check every role's model exists: local files, or the hub (or its cache).",
        ),
    ] = False,
    load_data: Annotated[
        bool,
        typer.Option("--load-data", help="Also load every dataset and count its problems."),
    ] = False,
) -> None:
    """Check a recipe and the names it uses, without running anything.

    By default nothing is read but the recipe: no model is looked up, no data
    file opened, no network used, so a GPU recipe validates on a laptop.
    """
    from reasonloop.core.loop import build_run_context
    from reasonloop.core.progress import RunProgress

    r = _recipe(recipe, set_)
    run = build_run_context(r, r.resolved_run_dir(), RunProgress(err, enabled=False))
    for note in run.settings.notes():
        out.print(f"{recipe}: {note}", soft_wrap=True)
    if resolve_models:
        from reasonloop.hf.models import locate_model

        models = {f"roles.{role}.model": cfg.model for role, cfg in r.roles.items()}
        if r.trainer.base_model:
            models["trainer.base_model"] = r.trainer.base_model
        for key, model in models.items():
            try:
                where = locate_model(model)
            except UsageError as exc:
                raise UsageError(f"{recipe}: {key}: {exc}") from None
            out.print(f"{recipe}: {key}: {where}", soft_wrap=True)
    if load_data:
        for split in ("train", "eval"):
            for i, spec in enumerate(getattr(r.data, split)):
                try:
                    problems = run.datasets.get(spec.name)(spec)
                except UsageError as exc:
                    raise UsageError(f"{recipe}: data.{split}.{i}: {exc}") from None
                out.print(
                    f"{recipe}: data.{split}.{i} ({spec.name}): {len(problems)} problems",
                    soft_wrap=True,
                )
    out.print(
        f"{recipe}: ok ({r.iterations} iterations, roles: {', '.join(r.roles)})", soft_wrap=True
    )


@app.command()
def schema() -> None:
    """Print the recipe's JSON Schema, every installed plugin's settings included (for editors)."""
    from reasonloop.core.plugins import make_plugin_manager
    from reasonloop.core.recipe import Recipe
    from reasonloop.core.settings import recipe_json_schema, settings_models

    registry = settings_models(make_plugin_manager())
    print(json.dumps(recipe_json_schema(Recipe, registry), indent=2))


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
    from reasonloop.core.pairing import format_accuracy

    table = Table(title=f"held-out evaluation of {actor}")
    table.add_column("group")
    table.add_column("accuracy [95%]", justify="right")
    table.add_column("problems", justify="right")
    table.add_row(
        "all",
        format_accuracy(metrics["accuracy"], metrics.get("interval")),
        str(metrics["problems"]),
    )
    for key, groups in metrics["by"].items():
        for value, g in groups.items():
            acc = format_accuracy(g["accuracy"], g.get("interval"))
            table.add_row(f"{key}={value}", acc, str(g["problems"]))
    out.print(table)
    out.print(
        f"tokens: {metrics['tokens']}  eval.json: {target / 'base' / 'eval.json'}", soft_wrap=True
    )


@app.command()
def attribute(
    recipe: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    plugins_: Annotated[
        str | None,
        typer.Option("--plugins", help="Comma-separated plugins to attribute (off: disabled)."),
    ] = None,
    matched: Annotated[
        str | None,
        typer.Option(
            "--matched",
            help="Comma-separated plugins whose off state spends their tokens on plain resampling.",
        ),
    ] = None,
    swaps: Annotated[
        list[str] | None,
        typer.Option(
            "--swap",
            help="A player that swaps a recipe key: [NAME:]dotted.key=OFF|ON (repeatable).",
        ),
    ] = None,
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
    seeds: Annotated[
        str | None,
        typer.Option(
            "--seeds", help="Comma-separated seeds: run every subset once per seed (e.g. 0,1,2)."
        ),
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Run every subset of some players; print each one's Shapley and Banzhaf value."""
    from reasonloop.attribution import Attribution
    from reasonloop.attribution.players import Player, parse_swap
    from reasonloop.attribution.report import (
        format_interval,
        format_metric,
        format_value,
        interval_note,
        subset_label,
        subset_setup,
    )
    from reasonloop.core.plugins import make_plugin_manager
    from reasonloop.core.settings import validate_plugin_settings

    r = _recipe(recipe, set_)
    validate_plugin_settings(r, make_plugin_manager(disable=r.plugins.disable))
    mode = "eval" if eval_mode else "run"
    suffix = "-eval-attribution" if eval_mode else "-attribution"
    target = output or r.resolved_run_dir().with_name(r.resolved_run_dir().name + suffix)
    players: list[str | Player] = [p.strip() for p in (plugins_ or "").split(",") if p.strip()]
    players += [Player(p.strip(), "matched") for p in (matched or "").split(",") if p.strip()]
    players += [parse_swap(text) for text in swaps or []]
    seed_list = None
    if seeds is not None:
        try:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--seeds {seeds!r}: expected integers, e.g. --seeds 0,1,2") from None
    job = Attribution(
        r,
        players,
        target,
        metric=metric,
        mode=mode,
        console=err,
        progress_bars=not no_progress,
        seeds=seed_list,
    )
    data = job.run()
    under = f", seeds {seeds}" if seed_list else ""
    values = Table(title=f"{metric}: contribution per player ({r.name}, {mode}{under})")
    for col in ("player", "Shapley value [95%]", "Banzhaf value [95%]"):
        values.add_column(col, justify="left" if col == "player" else "right")
    for name, v in data["values"].items():
        values.add_row(name, format_value(v, "shapley"), format_value(v, "banzhaf"))
    out.print(values)
    for name, v in data["values"].items():
        # Also as one unwrapped line each: a narrow terminal wraps the table's cells.
        spans = [k for k in ("shapley", "banzhaf") if v.get(f"{k}_distinguishable") is False]
        if spans:
            said = " and ".join(f"{k.capitalize()} {format_value(v, k)}" for k in spans)
            out.print(f"{name}: {said}", soft_wrap=True, markup=False, highlight=False)
    out.print(interval_note(data), soft_wrap=True)
    subsets = Table(title="subsets")
    setups = [subset_setup(row) for row in data["subsets"]]
    columns = ["players on", metric, "[95%]", "problems", "tokens", "wall time", ""]
    if any(setups):
        columns.insert(1, "off states")
    for col in columns:
        subsets.add_column(
            col, justify="left" if col == "players on" else "right", no_wrap=col == "players on"
        )
    for row, setup in zip(data["subsets"], setups, strict=True):
        mark = "best" if row == data["best"] else "worst" if row == data["worst"] else ""
        cells = [
            subset_label(row),
            format_metric(row["metric"]),
            format_interval(row["interval"]),
            str(row["problems"] or "-"),
            str(row["tokens"]),
            f"{row['seconds']:.0f} s",
            mark,
        ]
        if any(setups):
            cells.insert(1, setup)
        subsets.add_row(*cells)
    out.print(subsets)
    out.print(
        f"best: {subset_label(data['best'])} ({format_metric(data['best']['metric'])}), "
        f"worst: {subset_label(data['worst'])} ({format_metric(data['worst']['metric'])}); "
        f"cost {data['total']['tokens']} tokens, {data['total']['seconds']:.0f} s",
        soft_wrap=True,
    )
    out.print(f"attribution: {target / 'attribution.md'}", soft_wrap=True)


@app.command()
def verify(
    file: Annotated[
        Path, typer.Argument(help="JSON lines: id, completion and answer (math) or tests (code).")
    ],
    domain: Annotated[str, typer.Option(help="math or code")] = "math",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write rows here.")] = None,
    gold_format: Annotated[
        str,
        typer.Option(
            help="math: the answer field is a bare answer (answer), a worked solution whose"
            " final answer is found like a completion's (solution), or either (auto)."
        ),
    ] = "auto",
) -> None:
    """Verify completions in a JSON-lines file; print or write one verdict per row."""
    from reasonloop.verifiers.jsonl import verify_file

    options = {"gold_format": gold_format} if domain == "math" else {}
    counts = verify_file(file, domain, output, err, options)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    err.print(f"{sum(counts.values())} rows ({summary})")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Rewrite a run's report.md and plot (a seed group's seeds.md), and print its summary."""
    from reasonloop.core.loop import build_run_context
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.report import write_report
    from reasonloop.core.seeds import SeedGroup, is_seed_group

    if is_seed_group(run_dir):
        group = SeedGroup.open(run_dir)
        _print_seed_summary(group, group.write_summary())
        return
    if not (run_dir / "state.json").exists():
        raise UsageError(f"{run_dir}: not a run directory (no state.json)")
    run = build_run_context(_run_recipe(run_dir), run_dir, RunProgress(err, enabled=False))
    run.hooks.run_start(run)  # plugins register the instances that write their sections
    rows = write_report(run)
    _print_summary(rows)
    out.print(f"report: {run_dir / 'report.md'}", soft_wrap=True)


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the page (default RUN_DIR/show.html)."),
    ] = None,
) -> None:
    """Write one self-contained HTML page to browse a run's problems, samples and lineage."""
    from reasonloop.show import write_page

    out.print(f"page: {write_page(run_dir, output)}", soft_wrap=True)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run directories or seed groups.")],
    stage: Annotated[
        str | None,
        typer.Option(help="The stage to compare, e.g. iter-001 (default: each run's last)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the comparison here, and its plot beside it (.png)."
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Draw the plot here (default: beside --output).")
    ] = None,
) -> None:
    """Compare runs (or seed groups) on the same held-out problems: intervals, differences."""
    from reasonloop.core.comparison import compare_runs, load_run_stage, plot_comparison

    stages = [load_run_stage(r, stage) for r in runs]
    text = compare_runs(stages)  # refuses unpaired runs before anything is drawn
    target = plot or (output.with_suffix(".png") if output is not None else None)
    if target is not None:
        plot_comparison(stages, target)
        text = compare_runs(stages, plot=target)
    if output is None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        output.write_text(text)
        out.print(f"comparison: {output}", soft_wrap=True)
    if target is not None:
        out.print(f"plot: {target}", soft_wrap=True)


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
    out.print(f"saved {model} to {output}", soft_wrap=True)


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
    # Commands are registered on the app, not through a register(name, thing) callback.
    for row in rows:
        commands = sorted(c for c, owner in PLUGIN_COMMANDS.items() if owner == row["name"])
        if commands:
            row["registers"]["commands"] = commands
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


def _command_names(cli: typer.Typer) -> list[str]:
    names = [
        c.name or typer.main.get_command_name(c.callback.__name__)
        for c in cli.registered_commands
        if c.callback is not None or c.name
    ]
    return names + [g.name or g.typer_instance.info.name for g in cli.registered_groups]


def add_plugin_commands(cli: typer.Typer, pm: Any = None) -> dict[str, str]:
    """Let every plugin add its commands to ``cli``; return the plugin of each new command.

    The plugin manager is built without a recipe: the environment's
    ``REASONLOOP_DISABLE_PLUGINS`` blocks a plugin's commands, a recipe's
    ``plugins.disable`` cannot. A command name already taken is a
    :class:`PluginError` that names the plugin. ``pm`` (default: the
    installed plugins) is for embedding applications and tests.
    """
    from reasonloop.core.plugins import make_plugin_manager

    pm = pm or make_plugin_manager()
    hook = "reasonloop_register_commands"
    owners: dict[str, str] = {}
    plugins = [p for _, p in pm.list_name_plugin() if p is not None]
    for name, plugin in pm.list_name_plugin():
        if plugin is None or hook not in {c.name for c in pm.get_hookcallers(plugin) or []}:
            continue
        before = Counter(_command_names(cli))
        caller = pm.subset_hook_caller(hook, remove_plugins=[p for p in plugins if p is not plugin])
        caller(cli=cli)
        for command, count in (Counter(_command_names(cli)) - before).items():
            if before[command] or count > 1:
                first = owners.get(command, "reasonloop")
                raise PluginError(
                    f"plugin {name!r} adds the command {command!r}, which {first!r} already has"
                )
            owners[command] = name
    return owners


#: The plugin that added each plugin command, or the error that stopped plugins loading.
PLUGIN_COMMANDS: dict[str, str] = {}
_PLUGIN_ERROR: ReasonloopError | None = None
try:
    PLUGIN_COMMANDS = add_plugin_commands(app)
except ReasonloopError as exc:  # reported by main(), so that it prints without a traceback
    _PLUGIN_ERROR = exc


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors print without a traceback."""
    try:
        if _PLUGIN_ERROR is not None:
            raise _PLUGIN_ERROR
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
