"""The guidance sections of ``report.md``, their plot, and side-by-side comparisons.

``reasonloop guidance-compare`` (:mod:`reasonloop.plugins.guidance.commands`)
compares finished runs (plain, brute force, guided) with :func:`compare_runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.rundir import RunDirectory
from reasonloop.plugins.guidance.metrics import bucket_order, run_metrics

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext
    from reasonloop.plugins.guidance.settings import GuidanceSettings

__all__ = [
    "compare_runs",
    "comparison_table",
    "plot_comparison",
    "plot_coverage",
    "report_sections",
]

PLOT = "guidance_coverage.png"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def report_sections(run: RunContext, settings: GuidanceSettings) -> list[str]:
    """Markdown sections: coverage by difficulty, attempts and tokens by strategy."""
    rows = run_metrics(run.run_dir, settings, run.recipe)
    if not rows:
        return []
    plot = plot_coverage(rows, run.run_dir.root / PLOT)
    strategies = ", ".join(settings.strategies)
    t = settings.threshold_for(run.recipe.sampling.n)
    lines = [
        "## Guidance: coverage by difficulty",
        "",
        f"Strategies {strategies}; a problem with fewer than {t} correct of "
        f"{run.recipe.sampling.n} plain samples gets up to {settings.attempts} guided "
        "attempts. Coverage: share of the iteration's training problems with at least "
        "one selected example (plain: from plain samples only).",
        "",
        "| iteration | difficulty | problems | plain coverage | coverage | examples "
        "| of all examples | guided examples | held-out accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for bucket, b in r["buckets"].items():
            lines.append(
                f"| {r['iteration']} | {bucket} | {b['problems']} | {_pct(b['plain_coverage'])} "
                f"| {_pct(b['coverage'])} | {b['examples']} | {_pct(b['example_share'])} "
                f"| {b['guided_examples']} | {_pct(b['heldout_accuracy'])} |"
            )
    if plot:
        lines += ["", f"![coverage by difficulty]({plot.name})"]
    tokens = [
        "## Guidance: attempts and tokens by role and strategy",
        "",
        "Correct guided samples that only copy their hint are filtered as shortcuts "
        "and count neither towards the threshold nor as training examples.",
        "",
        "| iteration | role | strategy | requests | samples | correct | shortcuts filtered "
        "| prompt tokens | completion tokens |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for s in r["strategies"]:
            tokens.append(
                f"| {r['iteration']} | {s['role']} | {s['strategy']} | {s['requests']} "
                f"| {s['samples']} | {s['correct']} | {s['shortcuts']} | {s['prompt_tokens']} "
                f"| {s['completion_tokens']} |"
            )
    return ["\n".join(lines), "\n".join(tokens)]


def plot_coverage(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Coverage per difficulty across iterations; dashed: from plain samples only."""
    if not rows:
        return None
    plt = pyplot()
    buckets = sorted({b for r in rows for b in r["buckets"]}, key=bucket_order)
    x = [r["iteration"] for r in rows]
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    for i, bucket in enumerate(buckets):
        color = f"C{i}"
        get = [r["buckets"].get(bucket, {}) for r in rows]
        ax.plot(x, [100 * g.get("coverage", float("nan")) for g in get], marker="o",
                color=color, label=f"difficulty {bucket}")  # fmt: skip
        ax.plot(x, [100 * g.get("plain_coverage", float("nan")) for g in get], marker=".",
                linestyle="--", color=color, label=f"difficulty {bucket}, plain only")  # fmt: skip
    ax.set_xticks(x, [f"iter {i}" for i in x])
    ax.set_ylabel("training problems covered (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.set_title("Coverage by difficulty")
    return save_figure(fig, path)


def plot_comparison(configs: list[tuple[str, dict[str, Any]]], path: Path, title: str) -> Path:
    """Grouped bars: coverage of each difficulty bucket per configuration (one stage each)."""
    plt = pyplot()
    buckets = sorted({b for _, m in configs for b in m["buckets"]}, key=bucket_order)
    width = 0.8 / max(1, len(configs))
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(buckets) + 3), 4.2))
    for i, (label, m) in enumerate(configs):
        xs = [j + (i - (len(configs) - 1) / 2) * width for j in range(len(buckets))]
        ys = [100 * m["buckets"].get(b, {}).get("coverage", 0.0) for b in buckets]
        ax.bar(xs, ys, width=width, label=f"{label} ({m['tokens'] / 1000:.1f}k tokens)")
    ax.set_xticks(range(len(buckets)), [f"difficulty {b}" for b in buckets])
    ax.set_ylabel("training problems covered (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="best", fontsize=7)
    ax.set_title(title)
    return save_figure(fig, path)


def compare_runs(run_dirs: list[Path], out: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """Plot coverage by difficulty across iterations, one line per run; return the metrics."""
    plt = pyplot()
    runs = [(d.name, run_metrics(RunDirectory(d))) for d in run_dirs]
    buckets = sorted({b for _, rows in runs for r in rows for b in r["buckets"]}, key=bucket_order)
    fig, axes = plt.subplots(1, max(1, len(buckets)), figsize=(4 * max(1, len(buckets)), 3.8),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, bucket in zip(axes[0], buckets, strict=False):
        for name, rows in runs:
            ys = [100 * r["buckets"].get(bucket, {}).get("coverage", float("nan")) for r in rows]
            ax.plot([r["iteration"] for r in rows], ys, marker="o", label=name)
        ax.set_title(f"difficulty {bucket}")
        ax.set_xlabel("iteration")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training problems covered (%)")
    axes[0][0].legend(loc="best", fontsize=7)
    save_figure(fig, out)
    return runs


def comparison_table(runs: list[tuple[str, list[dict[str, Any]]]]) -> list[str]:
    """Markdown rows: coverage, examples and tokens per run, iteration and difficulty."""
    lines = [
        "| run | iteration | difficulty | problems | coverage | examples | tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in runs:
        for r in rows:
            for bucket, b in r["buckets"].items():
                cells = [name, r["iteration"], bucket, b["problems"], _pct(b["coverage"])]
                cells += [b["examples"], r["tokens"]]
                lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines
