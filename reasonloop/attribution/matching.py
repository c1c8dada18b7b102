"""Token matching: what a plugin spent in a run, and how close resampling came to it.

A run's tokens are read per stage (``iter-000/train``: that iteration's
sampling; ``iter-000/eval``, ``base/eval``: evaluations) and per plugin (the
plugin that asked for each request), from the samples and ``eval.json``'s
compute ledger: the same numbers as the run's own compute table.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reasonloop.attribution.players import RESAMPLE
from reasonloop.core.accounting import compute_ledger
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog

__all__ = ["MATCH_TOLERANCE", "budgets_from", "match_report", "plugin_totals", "stage_tokens"]

#: A token-matched run is within tolerance when its resampling spent its
#: budget to within this share, or to within one of its samples' mean
#: tokens when that is more (a budget is spent a whole sample at a time).
MATCH_TOLERANCE = 0.10


def _stages(run_dir: Path) -> list[Path]:
    return [d for d in [run_dir / "base", *sorted(run_dir.glob("iter-*"))] if d.is_dir()]


def stage_tokens(run_dir: Path) -> dict[str, dict[str, int]]:
    """Tokens (prompt and completion) per stage label and plugin of a finished run."""
    out: dict[str, dict[str, int]] = {}
    for d in _stages(run_dir):
        ledgers: dict[str, list[dict[str, Any]]] = {}
        if (d / "samples.jsonl").exists():
            ledgers["train"] = compute_ledger(JsonlLog(d / "samples.jsonl", Sample))
        if (d / "eval.json").exists():
            ledgers["eval"] = json.loads((d / "eval.json").read_text()).get("compute", [])
        for mode, ledger in ledgers.items():
            by_plugin: dict[str, int] = defaultdict(int)
            for row in ledger:
                by_plugin[row["plugin"]] += row["prompt_tokens"] + row["completion_tokens"]
            if by_plugin:
                out[f"{d.name}/{mode}"] = dict(by_plugin)
    return out


def plugin_totals(stages: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Tokens per plugin over every stage, largest first."""
    totals: dict[str, int] = defaultdict(int)
    for by_plugin in stages.values():
        for plugin, tokens in by_plugin.items():
            totals[plugin] += tokens
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


def budgets_from(stages: Mapping[str, Mapping[str, int]], plugins: Iterable[str]) -> dict[str, int]:
    """Per stage, the tokens ``plugins`` asked for: what their off state resamples with."""
    names = set(plugins)
    return {
        stage: sum(t for p, t in by_plugin.items() if p in names)
        for stage, by_plugin in stages.items()
    }


def _resample_samples(run_dir: Path) -> list[Sample]:
    found = []
    for d in _stages(run_dir):
        for name in ("samples.jsonl", "eval_samples.jsonl"):
            if (d / name).exists():
                found += [s for s in JsonlLog(d / name, Sample) if s.request.plugin == RESAMPLE]
    return found


def match_report(
    run_dir: Path, budgets: Mapping[str, int], players: Iterable[str], counterpart: str
) -> dict[str, Any]:
    """How closely a matched run's resampling spent its budget, stage by stage and in all."""
    spent_by_stage = {s: t.get(RESAMPLE, 0) for s, t in stage_tokens(run_dir).items()}
    stages = {
        s: {"budget": int(budgets.get(s, 0)), "spent": int(spent_by_stage.get(s, 0))}
        for s in sorted(set(budgets) | {s for s, t in spent_by_stage.items() if t})
    }
    budget = sum(v["budget"] for v in stages.values())
    spent = sum(v["spent"] for v in stages.values())
    samples = _resample_samples(run_dir)
    per_sample = (
        sum(s.prompt_tokens + s.completion_tokens for s in samples) / len(samples)
        if samples
        else 0.0
    )
    allowed = max(MATCH_TOLERANCE * budget, per_sample)
    return {
        "players": list(players),
        "counterpart": counterpart,
        "budget": budget,
        "spent": spent,
        "gap": spent - budget,
        "tolerance": round(allowed, 1),
        "within_tolerance": abs(spent - budget) <= allowed,
        "stages": stages,
    }
