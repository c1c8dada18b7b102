"""The runs of an attribution: one recipe per subset of players, and its score.

A subset's recipe is the user's recipe with each player set on or off
(:mod:`reasonloop.attribution.players`): a plugin outside the subset is
added to ``plugins.disable``, so it is switched off the way a user blocks
it (not loaded at all, built-in or installed alike); a swapped key takes its
off or on value; a token-matched plugin outside the subset is disabled and
its tokens go to ``plugins.settings.resample``, once the run where it was on
has measured them (:func:`with_budgets`). Each recipe is keyed by a hash of
its canonical JSON, which names the subset's run directory; the same recipe
is never run twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from reasonloop.attribution.players import RESAMPLE, Player, players_from
from reasonloop.attribution.values import all_coalitions
from reasonloop.core.recipe import Recipe, apply_overrides
from reasonloop.errors import UsageError

__all__ = [
    "IGNORED_KEYS",
    "Mode",
    "Subset",
    "check_metric_name",
    "check_scored",
    "final_eval_path",
    "metric_value",
    "numeric_keys",
    "plan_subsets",
    "recipe_key",
    "with_budgets",
]

Mode = Literal["run", "eval"]

#: Recipe keys left out of the hash: they name or place a run but do not
#: change its results.
IGNORED_KEYS = ("name", "run_dir")


@dataclass(frozen=True)
class Subset:
    """One run of an attribution: the players in ``plugins`` on, the others off."""

    #: The players on, by name (plugins, matched plugins and swaps alike).
    plugins: tuple[str, ...]
    #: The plugins this run disables (plugin and matched players off).
    disabled: tuple[str, ...]
    recipe: Recipe
    key: str
    #: Each swapped key and the value it holds in this run.
    swapped: tuple[tuple[str, Any], ...] = ()
    #: The matched players off, whose tokens this run resamples with.
    matched: tuple[str, ...] = ()
    #: Tokens of resampling per stage (``iter-000/train``, ``base/eval``);
    #: ``None`` until the run with ``matched`` on has measured them.
    budgets: Mapping[str, int] | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return "+".join(self.plugins) or "(none)"

    @property
    def ready(self) -> bool:
        """Whether the recipe is final: no resampling budget is still to be measured."""
        return not self.matched or self.budgets is not None


def recipe_key(recipe: Recipe, mode: Mode) -> str:
    """A hash of what decides a run's results: the resolved recipe and the mode."""
    data = recipe.model_dump(mode="json")
    for key in IGNORED_KEYS:
        data.pop(key, None)
    data["plugins"]["disable"] = sorted(set(data["plugins"]["disable"]))
    text = json.dumps({"mode": mode, "recipe": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_subsets(
    recipe: Recipe, players: Iterable[str | Player], mode: Mode, seed: int | None = None
) -> list[Subset]:
    """Every subset of ``players`` as a recipe; the empty subset first, all of them last.

    ``players`` are plugin names or :class:`~reasonloop.attribution.players.Player`
    objects. With ``seed`` every recipe runs under that ``seed`` instead of
    its own; a seed equal to the recipe's gives the same keys, and so the
    same runs. A subset with matched players off is not ready
    (:attr:`Subset.ready`) until :func:`with_budgets` gives it their tokens.
    """
    found = players_from(players)
    names = [p.name for p in found]
    subsets = []
    for coalition in all_coalitions(names):
        on = tuple(p.name for p in found if p.name in coalition)
        off = [p for p in found if p.name not in coalition]
        disabled = tuple(p.name for p in off if p.kind in ("plugin", "matched"))
        matched = tuple(p.name for p in off if p.kind == "matched")
        swapped = tuple(
            (str(p.key), p.on if p.name in coalition else p.off) for p in found if p.kind == "swap"
        )
        data = recipe.model_dump(mode="json")
        data["plugins"]["disable"] = sorted(set(data["plugins"]["disable"]) | set(disabled))
        if seed is not None:
            data["seed"] = seed
        for key, value in swapped:
            # JSON text is YAML, so the value arrives exactly as parsed.
            data = apply_overrides(data, [f"{key}={json.dumps(value)}"], f"--swap {key}")
        sub = Recipe.model_validate(data)
        key = recipe_key(sub, mode)
        subsets.append(Subset(on, disabled, sub, key, swapped, matched))
    return subsets


def with_budgets(subset: Subset, budgets: Mapping[str, int], mode: Mode) -> Subset:
    """``subset`` with its matched players' tokens spent on resampling, stage by stage.

    Stages with no tokens are left out; with none at all the recipe is the
    plain one (the matched players spent nothing, so nothing replaces them).
    """
    spend = {stage: int(t) for stage, t in sorted(budgets.items()) if t > 0}
    if not spend:
        return replace(subset, budgets={})
    data = subset.recipe.model_dump(mode="json")
    data["plugins"]["settings"][RESAMPLE] = {"budgets": spend}
    sub = Recipe.model_validate(data)
    return replace(subset, recipe=sub, key=recipe_key(sub, mode), budgets=spend)


def final_eval_path(recipe: Recipe, mode: Mode, run_dir: Path) -> Path:
    """The ``eval.json`` the metric is read from: the last evaluated stage's."""
    if mode == "eval" or recipe.iterations == 0:
        return run_dir / "base" / "eval.json"
    return run_dir / f"iter-{recipe.iterations - 1:03d}" / "eval.json"


def check_scored(recipe: Recipe, mode: Mode) -> None:
    """Fail before running anything when no run of ``recipe`` would write an eval.json."""
    if not recipe.data.eval:
        raise UsageError("data.eval: attribution scores each subset on held-out problems; add some")
    if mode == "run" and recipe.iterations == 0 and not recipe.eval.baseline:
        raise UsageError(
            "iterations: 0 with eval.baseline: false evaluates nothing; "
            "use --eval for test-time attribution"
        )


def check_metric_name(metric: str) -> None:
    parts = metric.split(".")
    if parts[0] != "eval" or len(parts) < 2 or not all(parts):
        raise UsageError(
            f"--metric {metric!r}: expected eval.KEY[.KEY...], a key of the final "
            "stage's eval.json, e.g. eval.accuracy or eval.pass_at_k.pass@1"
        )


def metric_value(metrics: dict[str, Any], metric: str, source: Path) -> float:
    """The number at ``metric`` (``eval.a.b``) in an eval.json, or a clear error.

    A key that itself contains dots (a data source called ``gsm8k.test``) is
    matched whole: at each level the longest run of parts naming a key wins.
    """
    check_metric_name(metric)
    node: Any = metrics
    rest = metric.split(".")[1:]
    while rest:
        for i in range(len(rest), 0, -1):
            key = ".".join(rest[:i])
            if isinstance(node, dict) and key in node:
                node, rest = node[key], rest[i:]
                break
        else:
            raise UsageError(_unknown_metric(metric, metrics, source, "no such key"))
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise UsageError(
            _unknown_metric(metric, metrics, source, f"not a number ({type(node).__name__})")
        )
    return float(node)


def numeric_keys(node: Any, prefix: str = "eval") -> list[str]:
    """The dotted paths of every number in an eval.json (lists left out)."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in numeric_keys(value, f"{prefix}.{key}")]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [prefix]
    return []


def _unknown_metric(metric: str, metrics: dict[str, Any], source: Path, why: str) -> str:
    known = numeric_keys(metrics)
    last = metric.rsplit(".", 1)[-1]
    close = [k for k in known if k.rsplit(".", 1)[-1] == last]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"--metric {metric}: {why} in {source}{hint} (available: {', '.join(known)})"
