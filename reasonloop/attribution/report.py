"""The attribution's Markdown table and plot, written from ``attribution.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.rundir import atomic_write_text

__all__ = ["format_metric", "subset_label", "write_markdown", "write_plot"]


def subset_label(row: dict[str, Any]) -> str:
    return " + ".join(row["plugins"]) or "(none)"


def format_metric(value: float | None, signed: bool = False) -> str:
    """Four decimals (accuracies, pass rates), whole numbers from 1000 on (token counts)."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    return f"{value:{sign}.0f}" if abs(value) >= 1000 else f"{value:{sign}.4f}"


def _cost(row: dict[str, Any]) -> str:
    if row["tokens"] is None:
        return "- | -"
    return f"{row['tokens']} | {row['seconds']:.0f} s"


def write_markdown(data: dict[str, Any], path: Path) -> None:
    """``attribution.md``: values per plugin, every subset with its cost, best and worst."""
    metric, plugins = data["metric"], data["plugins"]
    how = "`reasonloop eval` (test time)" if data["mode"] == "eval" else "`reasonloop run`"
    lines = [
        f"# Plugin attribution: {data['recipe']}",
        "",
        f"`{metric}` of {how} for each of the {len(data['subsets'])} subsets of "
        f"{', '.join(plugins)}.",
        "",
    ]
    if data["complete"]:
        lines += [
            "| plugin | Shapley value | Banzhaf value |",
            "|---|---:|---:|",
            *(
                f"| {p} | {format_metric(v['shapley'], True)} "
                f"| {format_metric(v['banzhaf'], True)} |"
                for p, v in data["values"].items()
            ),
            "",
            f"The Shapley values add up to v(all) - v(none) = {format_metric(data['all'])} - "
            f"{format_metric(data['none'])}. The Banzhaf value is each plugin's marginal gain "
            "averaged over the other plugins' subsets with equal weight.",
            "",
            f"- best subset: {subset_label(data['best'])} "
            f"({metric} {format_metric(data['best']['metric'])})",
            f"- worst subset: {subset_label(data['worst'])} "
            f"({metric} {format_metric(data['worst']['metric'])})",
            "",
        ]
    else:
        lines += ["The attribution is not complete: some subsets have not run yet.", ""]
    lines += [
        "## Subsets",
        "",
        f"| plugins on | {metric} | tokens | wall time | run directory |",
        "|---|---:|---:|---:|---|",
    ]
    for row in data["subsets"]:
        lines.append(
            f"| {subset_label(row)} | {format_metric(row['metric'])} | {_cost(row)} "
            f"| {row['run_dir']} |"
        )
    total = data["total"]
    lines += [
        "",
        f"Cost of the attribution: {total['runs']} runs, {total['tokens']} tokens, "
        f"{total['seconds']:.0f} s of stage wall time.",
        "",
    ]
    if data["complete"]:
        lines += ["![attribution](attribution.png)", ""]
    atomic_write_text(path, "\n".join(lines))


def write_plot(data: dict[str, Any], path: Path) -> Path | None:
    """``attribution.png``: Shapley and Banzhaf bars per plugin, and every subset's metric."""
    if not data["complete"]:
        return None
    plt = pyplot()

    plugins = data["plugins"]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 0.4 * len(data["subsets"]) + 3), width_ratios=[1, 1.3]
    )
    x = list(range(len(plugins)))
    width = 0.38
    for offset, kind, color in (
        (-width / 2, "shapley", "tab:blue"),
        (width / 2, "banzhaf", "tab:orange"),
    ):
        bars = left.bar(
            [i + offset for i in x],
            [data["values"][p][kind] for p in plugins],
            width,
            label=kind.capitalize(),
            color=color,
        )
        left.bar_label(bars, fmt="%+.3g", fontsize=8, padding=2)
    left.axhline(0, color="black", linewidth=0.8)
    left.set_xticks(x, plugins)
    left.set_ylabel(f"contribution to {data['metric']}")
    left.set_title("Contribution per plugin")
    left.legend(fontsize=8)
    left.grid(axis="y", alpha=0.3)

    rows = data["subsets"]
    colors = ["tab:gray"] * len(rows)
    colors[rows.index(data["best"])] = "tab:green"
    colors[rows.index(data["worst"])] = "tab:red"
    y = list(range(len(rows)))
    bars = right.barh(y, [r["metric"] for r in rows], color=colors)
    right.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    right.set_yticks(y, [subset_label(r) for r in rows], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel(data["metric"])
    right.set_title("Every subset (green: best, red: worst)")
    right.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)
