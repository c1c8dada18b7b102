"""Run a recipe once per subset of plugins and attribute a metric to each plugin.

Every subset runs in its own run directory, ``OUTPUT/subsets/<key>/``, where
the key is the hash of the subset's resolved recipe. A subset whose run
finished (``result.json`` written) is read back, never run again; one that
was interrupted is resumed by the loop's own resume machinery. After each
subset ``attribution.json`` is rewritten atomically, so an interrupted
attribution loses at most the subset that was running, and running the same
command again continues it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from reasonloop.attribution.problems import problem_values
from reasonloop.attribution.report import write_markdown, write_plot
from reasonloop.attribution.subsets import (
    Mode,
    Subset,
    check_metric_name,
    check_scored,
    final_eval_path,
    metric_value,
    plan_subsets,
)
from reasonloop.attribution.summary import RunEntry, attribution_data
from reasonloop.core.plugins import describe_plugins, make_plugin_manager
from reasonloop.core.progress import RunProgress
from reasonloop.core.recipe import Recipe
from reasonloop.core.report import summary_rows
from reasonloop.core.rundir import RunDirectory, atomic_write_json
from reasonloop.errors import ReasonloopError, UsageError

__all__ = ["Attribution", "check_plugins", "check_seeds"]

RESULT = "result.json"


def check_plugins(recipe: Recipe, plugins: list[str], extra_plugins: Iterable[object] = ()) -> None:
    """Fail unless ``plugins`` are distinct names of plugins the recipe loads."""
    if not plugins:
        raise UsageError("--plugins: name at least one plugin, e.g. --plugins critic,guidance")
    twice = sorted({p for p in plugins if plugins.count(p) > 1})
    if twice:
        raise UsageError(f"--plugins: {', '.join(twice)} named more than once")
    for name in plugins:
        if name in recipe.plugins.disable:
            raise UsageError(
                f"--plugins: {name!r} is disabled by the recipe's plugins.disable; "
                "remove it there to attribute it"
            )
    pm = make_plugin_manager(disable=recipe.plugins.disable, extra_plugins=extra_plugins)
    loaded = [p["name"] for p in describe_plugins(pm)]
    for name in plugins:
        if name not in loaded:
            raise UsageError(
                f"--plugins: unknown plugin {name!r} (loaded: {', '.join(sorted(loaded))}; "
                "see 'reasonloop plugins')"
            )
    try:  # the subset with every named plugin off must load too
        make_plugin_manager(
            disable=[*recipe.plugins.disable, *plugins], extra_plugins=extra_plugins
        )
    except UsageError as exc:
        raise UsageError(f"--plugins: some subsets switch these plugins off, but {exc}") from None


def check_seeds(seeds: list[int] | None) -> list[int] | None:
    """Fail unless ``seeds`` (``--seeds``) is ``None`` or distinct integers."""
    if seeds is None:
        return None
    if not seeds:
        raise UsageError("--seeds: name at least one seed, e.g. --seeds 0,1,2")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise UsageError(f"--seeds: {', '.join(map(str, twice))} named more than once")
    return list(seeds)


class Attribution:
    """Every subset of ``plugins`` run for ``recipe``; Shapley and Banzhaf values of ``metric``.

    With ``seeds`` every subset runs once per seed (the recipe's ``seed``
    replaced), and a subset's value is the mean over its seeds.
    """

    def __init__(
        self,
        recipe: Recipe,
        plugins: list[str],
        output: Path,
        *,
        metric: str = "eval.accuracy",
        mode: Mode = "run",
        console: Console | None = None,
        progress_bars: bool = True,
        extra_plugins: Iterable[object] = (),
        seeds: list[int] | None = None,
    ):
        self.recipe = recipe
        self.plugins = list(plugins)
        self.output = output
        self.metric = metric
        self.mode: Mode = mode
        self.console = console or Console(stderr=True)
        self.progress_bars = progress_bars
        self.extra_plugins = list(extra_plugins)
        self.seeds = check_seeds(seeds)
        check_metric_name(metric)
        check_scored(recipe, mode)
        check_plugins(recipe, self.plugins, self.extra_plugins)
        #: The runs: ``grid[coalition][seed]``, coalitions in all_coalitions order.
        per_seed = [plan_subsets(recipe, self.plugins, mode, s) for s in self.seeds or [None]]
        self.grid = [list(runs) for runs in zip(*per_seed, strict=True)]
        self._finished: dict[str, RunEntry] = {}

    @property
    def path(self) -> Path:
        return self.output / "attribution.json"

    def run_dir(self, subset: Subset) -> Path:
        return self.output / "subsets" / subset.key

    def finished(self, subset: Subset) -> bool:
        return (self.run_dir(subset) / RESULT).exists()

    def run(self) -> dict[str, Any]:
        """Run (or read back) every subset; write and return ``attribution.json``."""
        self.output.mkdir(parents=True, exist_ok=True)
        progress = RunProgress(
            self.console, log_path=self.output / "attribution.log", enabled=self.progress_bars
        )
        runs = [(c, s) for s in range(len(self.grid[0])) for c in range(len(self.grid))]
        total = len(runs)
        seeded = f", under seeds {', '.join(map(str, self.seeds))}" if self.seeds else ""
        progress.event(
            f"attributing {self.metric} to {', '.join(self.plugins)}: {len(self.grid)} subsets"
            f"{seeded} ({'reasonloop eval' if self.mode == 'eval' else 'reasonloop run'} each)"
        )
        for warning in self._warnings():
            progress.event(f"warning: {warning}")
        try:
            self._write(self.summary())
            # Seed by seed: an interrupted attribution has its first seeds whole.
            unit = "runs" if self.seeds else "subsets"
            with progress.task("attribute", total=total, unit=unit) as task:
                for k, (c, s) in enumerate(runs, 1):
                    subset = self.grid[c][s]
                    on = "+".join(subset.plugins) or "none"
                    where = f"subset {c + 1}/{len(self.grid)} (on: {on})"
                    if self.seeds:
                        where += f", seed {self.seeds[s]} (run {k}/{total})"
                    ran = not self.finished(subset)
                    if not ran:
                        progress.event(
                            f"{where}: finished earlier, read from {self.run_dir(subset)}"
                        )
                    else:
                        resumed = (self.run_dir(subset) / "recipe.yaml").exists()
                        progress.event(f"{where}: {'resuming' if resumed else 'running'}")
                        self._run_subset(subset, where, progress)
                    data = self.summary()
                    self._write(data)
                    # Only tokens spent now count towards the bar's rate.
                    spent = self._entry(subset).row["tokens"] if ran else 0
                    task.advance(1, tokens=spent)
        except KeyboardInterrupt:
            progress.event("interrupted; run the same command again to continue")
            raise
        finally:
            progress.close()
        write_markdown(data, self.output / "attribution.md")
        write_plot(data, self.output / "attribution.png")
        return data

    def _run_subset(self, subset: Subset, where: str, outer: RunProgress) -> None:
        from reasonloop.core.loop import Loop, build_run_context

        run_dir = self.run_dir(subset)
        run_dir.mkdir(parents=True, exist_ok=True)
        progress = RunProgress(
            self.console, log_path=run_dir / "run.log", enabled=self.progress_bars
        )
        try:
            pm = make_plugin_manager(
                disable=subset.recipe.plugins.disable, extra_plugins=self.extra_plugins
            )
            loop = Loop(build_run_context(subset.recipe, run_dir, progress, pm=pm))
            if self.mode == "eval":
                loop.evaluate_only()
            else:
                loop.run_all()
        except ReasonloopError as exc:
            exc.args = (f"{where}, run directory {run_dir}: {exc}",)
            raise
        except Exception:
            outer.event(f"{where} failed; its run directory is {run_dir}")
            raise
        finally:
            progress.close()
        rows = summary_rows(RunDirectory(run_dir))
        result = {
            "plugins": list(subset.plugins),
            "disabled": list(subset.disabled),
            "key": subset.key,
            "mode": self.mode,
            "tokens": sum(r.tokens for r in rows),
            "seconds": round(sum(r.seconds for r in rows), 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_json(run_dir / RESULT, result)

    def _warnings(self) -> list[str]:
        found = []
        for name in self.plugins:
            if name not in self.recipe.plugins.settings:
                # Method plugins (critic, guidance, selfdebug) act only when
                # they have settings; others may not need any.
                found.append(
                    f"the recipe has no plugins.settings.{name}; "
                    f"if {name} needs settings to act, its values will be 0"
                )
        if self.seeds and len(self.seeds) > 1:
            if self.mode == "eval" and self.recipe.eval.temperature == 0:
                found.append(
                    "eval.temperature is 0 (greedy), so every seed gives the same answers; "
                    "--seeds only adds runs"
                )
            pinned = sorted(r for r, c in self.recipe.roles.items() if c.sampling.seed is not None)
            if pinned:
                found.append(
                    f"roles {', '.join(pinned)} set sampling.seed, which --seeds does not change"
                )
        return found

    def _entry(self, subset: Subset) -> RunEntry:
        run_dir = self.run_dir(subset)
        if subset.key in self._finished:
            return self._finished[subset.key]
        row: dict[str, Any] = {
            "key": subset.key,
            "run_dir": str(run_dir),
            "status": "pending",
            "metric": None,
            "tokens": None,
            "seconds": None,
        }
        if not self.finished(subset):
            return RunEntry(row)
        result = json.loads((run_dir / RESULT).read_text())
        eval_path = final_eval_path(subset.recipe, self.mode, run_dir)
        if not eval_path.exists():
            raise UsageError(f"{eval_path}: missing; delete {run_dir} to run that subset again")
        metrics = json.loads(eval_path.read_text())
        row.update(
            status="done",
            metric=metric_value(metrics, self.metric, eval_path),
            tokens=result["tokens"],
            seconds=result["seconds"],
        )
        # A finished run does not change: read its records once.
        entry = self._finished[subset.key] = RunEntry(
            row, problem_values(metrics, self.metric, eval_path)
        )
        return entry

    def summary(self) -> dict[str, Any]:
        """``attribution.json``: every subset so far, and the values once all are done."""
        header = {"recipe": self.recipe.name, "mode": self.mode, "metric": self.metric}
        subsets = [
            {"plugins": list(runs[0].plugins), "disabled": list(runs[0].disabled)}
            for runs in self.grid
        ]
        grid = [[self._entry(s) for s in runs] for runs in self.grid]
        return attribution_data(header, self.plugins, subsets, grid, self.seeds)

    def _write(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.path, data)
