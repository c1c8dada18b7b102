"""Run a recipe once per subset of players and attribute a metric to each player.

Every subset runs in its own run directory, ``OUTPUT/subsets/<key>/``, where
the key is the hash of the subset's resolved recipe. A subset whose run
finished (``result.json`` written) is read back, never run again; one that
was interrupted is resumed by the loop's own resume machinery. After each
subset ``attribution.json`` is rewritten atomically, so an interrupted
attribution loses at most the subset that was running, and running the same
command again continues it.

A subset with token-matched players off runs after the subset with them on
(its counterpart), whose run measures the tokens they asked for, stage by
stage; those become the subset's resampling budgets, and so part of its
recipe and its key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console

from reasonloop.attribution.matching import (
    budgets_from,
    match_report,
    plugin_totals,
    stage_tokens,
)
from reasonloop.attribution.players import RESAMPLE, Player, check_swaps, players_from
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
    with_budgets,
)
from reasonloop.attribution.summary import RunEntry, attribution_data
from reasonloop.core.plugins import describe_plugins, make_plugin_manager
from reasonloop.core.progress import RunProgress
from reasonloop.core.recipe import Recipe
from reasonloop.core.report import summary_rows
from reasonloop.core.rundir import RunDirectory, atomic_write_json
from reasonloop.errors import ReasonloopError, UsageError

__all__ = ["Attribution", "check_players", "check_plugins", "check_seeds"]

RESULT = "result.json"


def check_plugins(
    recipe: Recipe,
    plugins: list[str],
    extra_plugins: Iterable[object] = (),
    option: str = "--plugins",
) -> None:
    """Fail unless ``plugins`` are distinct names of plugins the recipe loads."""
    if not plugins:
        raise UsageError(f"{option}: name at least one plugin, e.g. {option} critic,guidance")
    twice = sorted({p for p in plugins if plugins.count(p) > 1})
    if twice:
        raise UsageError(f"{option}: {', '.join(twice)} named more than once")
    for name in plugins:
        if name in recipe.plugins.disable:
            raise UsageError(
                f"{option}: {name!r} is disabled by the recipe's plugins.disable; "
                "remove it there to attribute it"
            )
    pm = make_plugin_manager(disable=recipe.plugins.disable, extra_plugins=extra_plugins)
    loaded = [p["name"] for p in describe_plugins(pm)]
    for name in plugins:
        if name not in loaded:
            raise UsageError(
                f"{option}: unknown plugin {name!r} (loaded: {', '.join(sorted(loaded))}; "
                "see 'reasonloop plugins')"
            )
    try:  # the subset with every named plugin off must load too
        make_plugin_manager(
            disable=[*recipe.plugins.disable, *plugins], extra_plugins=extra_plugins
        )
    except UsageError as exc:
        raise UsageError(f"{option}: some subsets switch these plugins off, but {exc}") from None


def check_players(
    recipe: Recipe, players: list[Player], extra_plugins: Iterable[object] = ()
) -> None:
    """Fail unless the players are distinct, their plugins loaded and their swapped keys real."""
    if not players:
        raise UsageError(
            "name at least one player: --plugins critic,guidance, --matched guidance "
            "or --swap 'roles.critic.model=A|B'"
        )
    names = [p.name for p in players]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"players {', '.join(twice)} named more than once")
    plugins = [p.name for p in players if p.kind == "plugin"]
    matched = [p.name for p in players if p.kind == "matched"]
    if plugins:
        check_plugins(recipe, plugins, extra_plugins)
    if matched:
        check_plugins(recipe, matched, extra_plugins, option="--matched")
        if RESAMPLE in [*plugins, *matched]:
            raise UsageError(
                f"--matched: {RESAMPLE!r} spends the matched players' tokens; "
                "it cannot be a player itself"
            )
        if RESAMPLE in recipe.plugins.disable:
            raise UsageError(
                f"--matched: the recipe's plugins.disable blocks {RESAMPLE!r}, which spends "
                "a matched player's tokens when it is off"
            )
        if RESAMPLE in recipe.plugins.settings:
            raise UsageError(
                f"--matched: the recipe has plugins.settings.{RESAMPLE}, which the "
                "attribution sets for each matched off state; remove it"
            )
    check_swaps(recipe, players)


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

    ``plugins`` are plugin names (switched on and off) or
    :class:`~reasonloop.attribution.players.Player` objects (token-matched
    plugins, swapped keys). With ``seeds`` every subset runs once per seed
    (the recipe's ``seed`` replaced), and a subset's value is the mean over
    its seeds.
    """

    def __init__(
        self,
        recipe: Recipe,
        plugins: list[str | Player],
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
        self.players = players_from(plugins)
        #: The players' names, in the order given.
        self.plugins = [p.name for p in self.players]
        self.output = output
        self.metric = metric
        self.mode: Mode = mode
        self.console = console or Console(stderr=True)
        self.progress_bars = progress_bars
        self.extra_plugins = list(extra_plugins)
        self.seeds = check_seeds(seeds)
        check_metric_name(metric)
        check_scored(recipe, mode)
        check_players(recipe, self.players, self.extra_plugins)
        #: The runs: ``grid[coalition][seed]``, coalitions in all_coalitions order.
        per_seed = [plan_subsets(recipe, self.players, mode, s) for s in self.seeds or [None]]
        self.grid = [list(runs) for runs in zip(*per_seed, strict=True)]
        self._check_swapped_settings()
        self._finished: dict[str, RunEntry] = {}

    @property
    def path(self) -> Path:
        return self.output / "attribution.json"

    def run_dir(self, subset: Subset) -> Path:
        return self.output / "subsets" / subset.key

    def finished(self, subset: Subset) -> bool:
        return subset.ready and (self.run_dir(subset) / RESULT).exists()

    def counterpart(self, c: int) -> int:
        """The coalition with coalition ``c``'s matched players on: whose tokens it resamples."""
        first = self.grid[c][0]
        on = set(first.plugins) | set(first.matched)
        return next(i for i, runs in enumerate(self.grid) if set(runs[0].plugins) == on)

    def _resolve(self, c: int, s: int) -> Subset:
        """Run ``c`` under seed ``s``, with its budgets once its counterpart has measured them."""
        subset = self.grid[c][s]
        if subset.ready:
            return subset
        other = self.grid[self.counterpart(c)][s]
        if not self.finished(other):
            return subset
        budgets = budgets_from(stage_tokens(self.run_dir(other)), subset.matched)
        self.grid[c][s] = with_budgets(subset, budgets, self.mode)
        return self.grid[c][s]

    def _order(self) -> list[tuple[int, int]]:
        """Seed by seed; within a seed, the subsets with no matched player off first."""
        return [
            (c, s)
            for s in range(len(self.grid[0]))
            for c in sorted(range(len(self.grid)), key=lambda c: bool(self.grid[c][s].matched))
        ]

    def run(self) -> dict[str, Any]:
        """Run (or read back) every subset; write and return ``attribution.json``."""
        self.output.mkdir(parents=True, exist_ok=True)
        progress = RunProgress(
            self.console, log_path=self.output / "attribution.log", enabled=self.progress_bars
        )
        runs = self._order()
        total = len(runs)
        seeded = f", under seeds {', '.join(map(str, self.seeds))}" if self.seeds else ""
        progress.event(
            f"attributing {self.metric} to {', '.join(self.plugins)}: {len(self.grid)} subsets"
            f"{seeded} ({'reasonloop eval' if self.mode == 'eval' else 'reasonloop run'} each)"
        )
        matched = [p.name for p in self.players if p.kind == "matched"]
        if matched:
            progress.event(
                f"token-matched: with {', '.join(matched)} off, a subset spends the tokens they "
                "asked for in the subset with them on on plain resampling; those subsets run last"
            )
        for warning in self._warnings():
            progress.event(f"warning: {warning}")
        try:
            self._write(self.summary())
            # Seed by seed: an interrupted attribution has its first seeds whole.
            unit = "runs" if self.seeds else "subsets"
            with progress.task("attribute", total=total, unit=unit) as task:
                for k, (c, s) in enumerate(runs, 1):
                    subset = self._resolve(c, s)
                    assert subset.ready, "a counterpart runs before the subsets it budgets"
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
                        if subset.budgets:
                            spend = ", ".join(f"{k} {v}" for k, v in subset.budgets.items())
                            progress.event(
                                f"{where}: {'+'.join(subset.matched)} off, resampling instead "
                                f"with their tokens ({spend})"
                            )
                        self._run_subset(subset, where, progress)
                    entry = self._entry(subset)
                    report = entry.row.get("resample")
                    if report and not report["within_tolerance"]:
                        progress.event(
                            f"warning: {where}: resampling spent {report['spent']} tokens of "
                            f"a budget of {report['budget']}, outside the tolerance of "
                            f"{report['tolerance']:.0f} (sampling.max_rounds or eval.max_rounds "
                            "may stop it first)"
                        )
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
            "swapped": dict(subset.swapped),
            "budgets": dict(subset.budgets or {}),
            "key": subset.key,
            "mode": self.mode,
            "tokens": sum(r.tokens for r in rows),
            "seconds": round(sum(r.seconds for r in rows), 1),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_json(run_dir / RESULT, result)

    def _check_swapped_settings(self) -> None:
        """Fail before running when a swapped value makes a subset's plugin settings invalid."""
        from reasonloop.core.plugins import make_plugin_manager
        from reasonloop.core.settings import validate_plugin_settings
        from reasonloop.errors import RecipeError

        swaps = [p for p in self.players if p.kind == "swap"]
        if not swaps:
            return
        for runs in self.grid:
            sub = runs[0]
            pm = make_plugin_manager(
                disable=sub.recipe.plugins.disable, extra_plugins=self.extra_plugins
            )
            try:
                validate_plugin_settings(sub.recipe, pm)
            except RecipeError as exc:
                keys = ", ".join(f"{k}={v!r}" for k, v in sub.swapped)
                raise UsageError(f"--swap: with {keys}: {exc}") from None

    def _warnings(self) -> list[str]:
        found = []
        for player in self.players:
            if player.kind == "swap":
                if player.off == player.on:
                    found.append(
                        f"--swap {player.key}: both values are {player.on!r}, so its values are 0"
                    )
                continue
            name = player.name
            if (
                player.kind == "matched"
                and self.mode == "eval"
                and self.recipe.eval.temperature == 0
            ):
                found.append(
                    f"eval.temperature is 0 (greedy): the plain resamples that replace {name} "
                    "repeat the greedy answer, so they spend its tokens but change no answer"
                )
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
        if subset.ready and subset.key in self._finished:
            return self._finished[subset.key]
        row: dict[str, Any] = {
            "key": subset.key if subset.ready else None,
            "run_dir": str(self.run_dir(subset)) if subset.ready else None,
            "status": "pending",
            "metric": None,
            "tokens": None,
            "seconds": None,
            "tokens_by_plugin": None,
        }
        if subset.matched:
            row["resample"] = None
        if not self.finished(subset):
            return RunEntry(row)
        run_dir = self.run_dir(subset)
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
        stages = stage_tokens(run_dir)
        row["tokens_by_plugin"] = plugin_totals(stages)
        if subset.matched:
            c, s = self._position(subset)
            counterpart = self.grid[self.counterpart(c)][s]
            row["resample"] = match_report(
                run_dir, subset.budgets or {}, subset.matched, counterpart.key
            )
        # A finished run does not change: read its records once.
        entry = self._finished[subset.key] = RunEntry(
            row, problem_values(metrics, self.metric, eval_path)
        )
        return entry

    def _position(self, subset: Subset) -> tuple[int, int]:
        for c, runs in enumerate(self.grid):
            for s, run in enumerate(runs):
                if run is subset:
                    return c, s
        raise ValueError(f"subset {subset.label} is not in this attribution")

    def summary(self) -> dict[str, Any]:
        """``attribution.json``: every subset so far, and the values once all are done."""
        header = {
            "recipe": self.recipe.name,
            "mode": self.mode,
            "metric": self.metric,
            "players": [p.describe() for p in self.players],
        }
        subsets = []
        for runs in self.grid:
            info: dict[str, Any] = {
                "plugins": list(runs[0].plugins),
                "disabled": list(runs[0].disabled),
            }
            if runs[0].swapped:
                info["swapped"] = dict(runs[0].swapped)
            if runs[0].matched:
                info["matched_off"] = list(runs[0].matched)
            subsets.append(info)
        grid = [
            [self._entry(self._resolve(c, s)) for s in range(len(runs))]
            for c, runs in enumerate(self.grid)
        ]
        return attribution_data(header, self.plugins, subsets, grid, self.seeds)

    def _write(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.path, data)
