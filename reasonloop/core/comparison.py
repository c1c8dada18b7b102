"""``reasonloop compare``: several runs side by side on the same held-out problems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonloop.core.accounting import merge_ledgers, total_tokens
from reasonloop.core.pairing import (
    compare_answers,
    format_accuracy,
    format_difference,
    format_p,
    load_answers,
)
from reasonloop.core.report import StageSummary, summary_rows
from reasonloop.core.rundir import RunDirectory
from reasonloop.core.seed_statistics import pooled_estimate
from reasonloop.core.seeds import SeedGroup, is_seed_group
from reasonloop.core.statistics import bootstrap_interval
from reasonloop.errors import UsageError

__all__ = ["RunStage", "compare_runs", "load_run_stage"]


@dataclass
class RunStage:
    """One run's evaluated stage, with the tokens the run spent up to and including it."""

    root: Path
    row: StageSummary
    #: Problem id -> correct; for a seed group, the fraction of its seeds that solved it.
    answers: dict[str, float]
    #: Tokens by role, plugin and purpose over every stage up to this one.
    compute: list[dict[str, Any]]
    #: The seeds pooled, for a seed group; ``None`` for one run.
    seeds: list[int] | None = None
    #: The per-seed accuracies' standard deviation, for a seed group.
    seed_std: float | None = None


def load_run_stage(root: Path, stage: str | None = None) -> RunStage:
    """A run's ``stage`` (default: its last evaluated one), refusing what cannot be paired.

    A seed group counts as one run: its seeds' outcomes are averaged problem
    by problem, and its tokens are those of all its seeds.
    """
    if is_seed_group(root):
        return _load_group_stage(root, stage)
    if not (root / "state.json").exists():
        raise UsageError(f"{root}: not a run directory (no state.json)")
    rows = summary_rows(RunDirectory(root))
    evaluated = [r for r in rows if r.accuracy is not None]
    if not evaluated:
        raise UsageError(f"{root}: no stage has an eval.json yet")
    if stage is None:
        row = evaluated[-1]
    else:
        row = next((r for r in evaluated if r.stage == stage), None)
        if row is None:
            names = ", ".join(r.stage for r in evaluated)
            raise UsageError(f"{root}: no evaluated stage {stage!r} (evaluated: {names})")
    answers = load_answers(RunDirectory(root).stage_dir(row.iteration) / "eval.json")
    if answers is None:
        raise UsageError(
            f"{root}/{row.stage}/eval.json has no per-problem answers to pair "
            "(written by an older reasonloop); rerun its evaluation"
        )
    upto = rows[: rows.index(row) + 1]
    return RunStage(root, row, answers, merge_ledgers(*(r.compute for r in upto)))


def _load_group_stage(root: Path, stage: str | None) -> RunStage:
    group = SeedGroup.open(root)
    if not group.finished:
        raise UsageError(f"{root}: no seed of the group has finished; continue it with resume")
    stages = group.evaluated_stages()
    if not stages:
        raise UsageError(f"{root}: no stage is evaluated in every finished seed")
    if stage is None:
        stage = stages[-1]
    elif stage not in stages:
        names = ", ".join(stages)
        raise UsageError(f"{root}: no stage {stage!r} evaluated in every seed (evaluated: {names})")
    ids, table = group.stage_table(stage)
    per_problem = table.mean(axis=0)
    est = pooled_estimate(table)
    runs = [load_run_stage(group.run_dir(s), stage) for s in group.finished]
    row = StageSummary(
        stage=stage,
        iteration=runs[0].row.iteration,
        accuracy=est.mean,
        problems=len(ids),
        interval=list(bootstrap_interval(per_problem)),
    )
    answers = {pid: float(v) for pid, v in zip(ids, per_problem, strict=True)}
    compute = merge_ledgers(*(r.compute for r in runs))
    return RunStage(root, row, answers, compute, seeds=group.finished, seed_std=est.std)


def _check_same_problems(first: RunStage, other: RunStage) -> None:
    only_first = sorted(set(first.answers) - set(other.answers))
    only_other = sorted(set(other.answers) - set(first.answers))
    if only_first or only_other:

        def some(ids: list[str]) -> str:
            return ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")

        raise UsageError(
            f"{other.root} was evaluated on different held-out problems from {first.root}: "
            f"{len(only_first)} only in {first.root} ({some(only_first) or 'none'}), "
            f"{len(only_other)} only in {other.root} ({some(only_other) or 'none'}); "
            "compare runs of recipes with the same eval data"
        )


def compare_runs(runs: list[RunStage]) -> str:
    """``compare.md``: accuracy with intervals, differences paired with the first run, tokens."""
    if len(runs) < 2:
        raise UsageError("compare needs at least two run directories")
    first = runs[0]
    for other in runs[1:]:
        _check_same_problems(first, other)
    lines = [
        "# Run comparison",
        "",
        f"{first.row.problems or len(first.answers)} held-out problems, the same in every run. "
        f"Differences are paired with the first run ({first.root}) problem by problem: "
        "95% paired-bootstrap interval, McNemar's exact p-value, problems gained and lost "
        "(see docs/statistics.md). Tokens: every stage up to the one compared.",
    ]
    if any(r.seeds for r in runs):
        lines += [
            "",
            "A seed group is one run whose per-problem outcome is the fraction of its seeds "
            "that solved the problem; its intervals cover new problems for these seeds, not "
            "new seeds (its seeds.md has the interval over both), gained and lost count the "
            "problems whose fraction rose or fell (McNemar's p is then the exact sign test), "
            "and its tokens are all its seeds'.",
        ]
    lines += [
        "",
        "| run | stage | accuracy [95% interval] | difference [95% interval] | McNemar p "
        "| gained | lost | tokens | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        acc = format_accuracy(r.row.accuracy, r.row.interval)
        if r.seeds:
            acc += f", {len(r.seeds)} seeds, std {100 * (r.seed_std or 0):.1f}"
        tokens = total_tokens(r.compute)
        if r is first:
            lines.append(f"| {r.root} | {r.row.stage} | {acc} | - | - | - | - | {tokens} | - |")
            continue
        c = compare_answers(first.answers, r.answers)
        assert not isinstance(c, str)  # same problems, checked above
        verdict = "distinguishable" if c.distinguishable else "not distinguishable from noise"
        lines.append(
            f"| {r.root} | {r.row.stage} | {acc} | {format_difference(c)} | "
            f"{format_p(c.p_value)} | {c.gained} | {c.lost} | {tokens} | {verdict} |"
        )
    lines += [
        "",
        "## Tokens by role, plugin and purpose",
        "",
        "| run | role | plugin | purpose | requests | prompt tokens | completion tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for c in r.compute:
            lines.append(
                f"| {r.root} | {c['role']} | {c['plugin']} | {c['purpose']} | "
                f"{c['requests']} | {c['prompt_tokens']} | {c['completion_tokens']} |"
            )
    return "\n".join(lines) + "\n"
