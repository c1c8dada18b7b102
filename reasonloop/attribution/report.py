"""The attribution's Markdown table and plot, written from ``attribution.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.rundir import atomic_write_text

__all__ = [
    "NOT_DISTINGUISHABLE",
    "format_interval",
    "format_metric",
    "format_value",
    "interval_note",
    "subset_label",
    "subset_setup",
    "write_markdown",
    "write_plot",
]

#: The label of a value whose interval holds 0.
NOT_DISTINGUISHABLE = "not distinguishable from zero"


def subset_label(row: dict[str, Any]) -> str:
    return " + ".join(row["plugins"]) or "(none)"


def subset_setup(row: dict[str, Any]) -> str:
    """What the subset's off states hold: swapped values and the tokens resampled instead."""
    parts = [f"{k}={v}" for k, v in (row.get("swapped") or {}).items()]
    if row.get("matched_off"):
        who = "+".join(row["matched_off"])
        runs = row.get("seeds") or [row]
        reports = [r.get("resample") for r in runs]
        if all(reports):
            spent = sum(r["spent"] for r in reports)  # type: ignore[index]
            budget = sum(r["budget"] for r in reports)  # type: ignore[index]
            parts.append(f"{who} off: resampled {spent} of {budget} tokens")
        else:
            parts.append(f"{who} off: resampling (budget not measured yet)")
    return "; ".join(parts)


def _player_line(player: dict[str, Any]) -> str:
    if player["kind"] == "swap":
        return (
            f"- `{player['name']}`: `{player['key']}` is `{player['off']}` off, `{player['on']}` on"
        )
    if player["kind"] == "matched":
        return (
            f"- `{player['name']}`: plugin, token-matched: off, its tokens go to plain resampling"
        )
    return f"- `{player['name']}`: plugin, off: disabled"


def format_metric(value: float | None, signed: bool = False) -> str:
    """Four decimals (accuracies, pass rates), whole numbers from 1000 on (token counts)."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    return f"{value:{sign}.0f}" if abs(value) >= 1000 else f"{value:{sign}.4f}"


def format_interval(interval: list[float] | None, signed: bool = False) -> str:
    """``[0.1250, 0.3000]``: a 95% interval in the metric's unit, empty when there is none."""
    if interval is None:
        return ""
    lo, hi = interval
    return f"[{format_metric(lo, signed)}, {format_metric(hi, signed)}]"


def format_value(values: dict[str, Any], kind: str) -> str:
    """A plugin's ``shapley`` or ``banzhaf`` value with its interval and, if it holds 0, a label."""
    text = format_metric(values[kind], signed=True)
    interval = values.get(f"{kind}_interval")
    if interval is None:
        return text
    text += f" {format_interval(interval, signed=True)}"
    return text if values[f"{kind}_distinguishable"] else f"{text} {NOT_DISTINGUISHABLE}"


def interval_note(data: dict[str, Any]) -> str:
    """One sentence on how the intervals were computed, or why there are none."""
    how = data["intervals"]
    if "unavailable" in how:
        return f"No intervals: {how['unavailable']}."
    problems = data["subsets"][0]["problems"]
    seeds = data.get("seeds")
    over = f"{problems} held-out problems" + (f" and {len(seeds)} seeds" if seeds else "")
    return (
        f"Intervals are {how['confidence']:.0%}; a subset's metric: {how['subsets']}; the "
        f"values: {how['values']} ({how['resamples']} resamples of the {over}, the same "
        f"resample for every subset). A value whose interval holds 0 is marked "
        f"*{NOT_DISTINGUISHABLE}*."
    )


def _metric_cell(row: dict[str, Any]) -> str:
    cell = format_metric(row["metric"])
    return f"{cell} {format_interval(row['interval'])}" if row.get("interval") else cell


def _cost(row: dict[str, Any]) -> str:
    if row["tokens"] is None:
        return "- | -"
    return f"{row['tokens']} | {row['seconds']:.0f} s"


def write_markdown(data: dict[str, Any], path: Path) -> None:
    """``attribution.md``: values per plugin and every subset, with intervals, cost, best, worst."""
    metric, plugins, seeds = data["metric"], data["plugins"], data.get("seeds")
    how = "`reasonloop eval` (test time)" if data["mode"] == "eval" else "`reasonloop run`"
    under = f", under seeds {', '.join(map(str, seeds))} (the mean over seeds)" if seeds else ""
    per_seed = "per seed | " if seeds else ""
    lines = [
        f"# Attribution: {data['recipe']}",
        "",
        f"`{metric}` of {how} for each of the {len(data['subsets'])} subsets of "
        f"{', '.join(plugins)}{under}.",
        "",
    ]
    players = data.get("players") or []
    if any(p["kind"] != "plugin" for p in players):
        lines += ["Players:", "", *(_player_line(p) for p in players), ""]
    if data["complete"]:
        lines += [
            "| player | Shapley value [95% interval] | Banzhaf value [95% interval] |",
            "|---|---:|---:|",
            *(
                f"| {p} | {format_value(v, 'shapley')} | {format_value(v, 'banzhaf')} |"
                for p, v in data["values"].items()
            ),
            "",
            interval_note(data),
            "",
            f"The Shapley values add up to v(all) - v(none) = {format_metric(data['all'])} - "
            f"{format_metric(data['none'])}. The Banzhaf value is each plugin's marginal gain "
            "averaged over the other players' subsets with equal weight.",
            "",
            f"- best subset: {subset_label(data['best'])} "
            f"({metric} {format_metric(data['best']['metric'])})",
            f"- worst subset: {subset_label(data['worst'])} "
            f"({metric} {format_metric(data['worst']['metric'])})",
            "",
        ]
    else:
        lines += ["The attribution is not complete: some subsets have not run yet.", ""]
    setups = [subset_setup(row) for row in data["subsets"]]
    setup_head = "off states | " if any(setups) else ""
    lines += [
        "## Subsets",
        "",
        f"| players on | {setup_head}{metric} [95% interval] | problems | {per_seed}tokens "
        "| wall time | tokens by plugin | run directory |",
        f"|---|{'---|' if any(setups) else ''}---:|---:|{'---|' if seeds else ''}---:|---:"
        "|---|---|",
    ]
    for row, setup in zip(data["subsets"], setups, strict=True):
        runs = row.get("seeds") or [row]
        seed_cell = ""
        if seeds:
            seed_cell = (
                ", ".join(f"{r['seed']}: {format_metric(r['metric'])}" for r in runs) + " | "
            )
        setup_cell = f"{setup or '-'} | " if any(setups) else ""
        by_plugin = runs[0].get("tokens_by_plugin") or {}
        spent = ", ".join(f"{p} {t}" for p, t in by_plugin.items()) if not seeds else ""
        lines.append(
            f"| {subset_label(row)} | {setup_cell}{_metric_cell(row)} "
            f"| {row.get('problems') or '-'} | {seed_cell}{_cost(row)} | {spent or '-'} "
            f"| {'<br>'.join(r['run_dir'] or '-' for r in runs)} |"
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


def _errors(points: list[float], intervals: list[Any]) -> list[list[float]] | None:
    """Matplotlib's asymmetric error bars for intervals around points; ``None`` without them."""
    if any(i is None for i in intervals):
        return None
    return [
        [max(0.0, p - lo) for p, (lo, _) in zip(points, intervals, strict=True)],
        [max(0.0, hi - p) for p, (_, hi) in zip(points, intervals, strict=True)],
    ]


def write_plot(data: dict[str, Any], path: Path) -> Path | None:
    """``attribution.png``: each plugin's two values and every subset's metric, with intervals."""
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
        heights = [data["values"][p][kind] for p in plugins]
        bars = left.bar(
            [i + offset for i in x],
            heights,
            width,
            yerr=_errors(heights, [data["values"][p].get(f"{kind}_interval") for p in plugins]),
            capsize=3,
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
    widths = [r["metric"] for r in rows]
    errors = _errors(widths, [r.get("interval") for r in rows])
    bars = right.barh(y, widths, xerr=errors, capsize=3, color=colors)
    right.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    right.set_yticks(y, [subset_label(r) for r in rows], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel(data["metric"])
    right.set_title("Every subset (green: best, red: worst)")
    right.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)
