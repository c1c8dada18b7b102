"""``reasonloop compare``: several runs side by side on the same held-out problems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonloop.core.accounting import merge_ledgers, total_tokens
from reasonloop.core.coverage import (
    BucketCoverage,
    bucket_order,
    pooled_coverage,
    training_coverage,
)
from reasonloop.core.pairing import (
    compare_answers,
    format_accuracy,
    format_difference,
    format_p,
    load_answers,
    problem_mismatch,
    short_verdict,
)
from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.report import StageSummary, summary_rows
from reasonloop.core.rundir import RunDirectory
from reasonloop.core.seed_statistics import pooled_estimate
from reasonloop.core.seeds import SeedGroup, is_seed_group
from reasonloop.core.statistics import bootstrap_interval
from reasonloop.errors import UsageError

__all__ = ["RunStage", "compare_runs", "load_run_stage", "plot_comparison"]


@dataclass
class RunStage:
    """One run's evaluated stage, with the tokens the run spent up to and including it."""

    root: Path
    row: StageSummary
    #: Problem id -> correct; for a seed group, the fraction of its seeds that solved it.
    answers: dict[str, float]
    #: Tokens by role, plugin and purpose over every stage up to this one.
    compute: list[dict[str, Any]]
    #: Training problems by difficulty over the iterations up to this one.
    coverage: list[BucketCoverage]
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
    return RunStage(
        root,
        row,
        answers,
        merge_ledgers(*(r.compute for r in upto)),
        training_coverage(root, row.iteration),
    )


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
    coverage = pooled_coverage([r.coverage for r in runs])
    return RunStage(root, row, answers, compute, coverage, seeds=group.finished, seed_std=est.std)


def _check_same_problems(first: RunStage, other: RunStage) -> None:
    differ = problem_mismatch(first.answers, other.answers, str(first.root), str(other.root))
    if differ:
        raise UsageError(
            f"{other.root} was evaluated on different held-out problems from {first.root}: "
            f"{differ}; compare runs of recipes with the same eval data"
        )


def compare_runs(runs: list[RunStage], plot: Path | None = None) -> str:
    """``compare.md``: accuracy with intervals, differences paired with the first run, tokens,
    training coverage by difficulty, and the plot at ``plot`` when one was drawn there."""
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
        verdict = short_verdict(c)
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
    lines += _coverage_section(runs)
    if plot is not None:
        lines += ["", f"![accuracy and coverage]({plot.name})"]
    return "\n".join(lines) + "\n"


def _coverage_section(runs: list[RunStage]) -> list[str]:
    if not any(r.coverage for r in runs):
        return []
    lines = [
        "",
        "## Training coverage by difficulty",
        "",
        "Training problems sampled in the iterations up to the compared stage, and the share "
        "with at least one selected training example [95% Wilson interval].",
        "",
        "| run | stage | difficulty | problems | covered [95% interval] | examples |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        for b in r.coverage:
            lo, hi = b.interval
            lines.append(
                f"| {r.root} | {r.row.stage} | {b.difficulty} | {b.problems} | "
                f"{b.covered} ({b.share:.1%} [{100 * lo:.1f}, {100 * hi:.1f}]) | {b.examples} |"
            )
    return lines


def plot_comparison(runs: list[RunStage], path: Path) -> Path:
    """Held-out accuracy per run with its interval and, beside it, coverage by difficulty."""
    plt = pyplot()
    buckets = sorted({b.difficulty for r in runs for b in r.coverage}, key=bucket_order)
    fig, axes = plt.subplots(1, 2 if buckets else 1, figsize=(11 if buckets else 6, 4.2),
                             squeeze=False)  # fmt: skip
    labels = [f"{r.root.name}\n{r.row.stage}" for r in runs]
    acc = [100 * (r.row.accuracy or 0.0) for r in runs]
    ivs = [r.row.interval or [r.row.accuracy or 0.0] * 2 for r in runs]
    err = [[a - 100 * lo for a, (lo, _) in zip(acc, ivs, strict=True)],
           [100 * hi - a for a, (_, hi) in zip(acc, ivs, strict=True)]]  # fmt: skip
    ax = axes[0][0]
    ax.bar(range(len(runs)), acc, color=[f"C{i}" for i in range(len(runs))], alpha=0.8)
    ax.errorbar(range(len(runs)), acc, yerr=err, fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(range(len(runs)), labels, fontsize=7)
    ax.set_ylabel("held-out accuracy (%) with 95% interval")
    ax.set_ylim(0, min(100, max(100 * hi for _, hi in ivs) + 10))
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("Held-out accuracy")
    if buckets:
        ax = axes[0][1]
        width = 0.8 / len(runs)
        for i, r in enumerate(runs):
            got = {b.difficulty: b for b in r.coverage}
            xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(buckets))]
            cells = [got.get(b) for b in buckets]
            ys = [100 * c.share if c else float("nan") for c in cells]
            lo = [100 * (c.share - c.interval[0]) if c else 0.0 for c in cells]
            hi = [100 * (c.interval[1] - c.share) if c else 0.0 for c in cells]
            ax.bar(xs, ys, width=width, color=f"C{i}", alpha=0.8, label=r.root.name)
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=2)
        ax.set_xticks(range(len(buckets)), [f"difficulty {b}" for b in buckets])
        ax.set_ylabel("training problems covered (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="best", fontsize=7)
        ax.set_title("Training coverage by difficulty")
    return save_figure(fig, path)
