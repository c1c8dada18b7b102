"""The raters' section of ``report.md``, from each iteration's ``raters.json``.

One table of rater weights (first and last progressive round), what the
judge decided (when there is one), one of the
difficulty and pass-rate distributions of the candidate pool against the
selected examples, and a plot of the weights per iteration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.plots import pyplot, save_figure

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["load_records", "report_sections"]


def load_records(root: Path) -> list[dict[str, Any]]:
    """Every iteration's ``raters.json``, in iteration order."""
    return [json.loads(p.read_text()) for p in sorted(root.glob("iter-*/raters.json"))]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _weights_table(records: list[dict[str, Any]]) -> list[str]:
    rated = [r for r in records if r.get("rounds")]
    if not rated:
        return []
    names = sorted({n for r in rated for n in r["raters"]})
    lines = [
        "Weights per rater (reliability x independence, normalised; first -> last "
        "progressive round). `silent`: the rater had no signal on the candidates "
        "(every score equal or unknown) and took no part.",
        "",
        "| iteration | rounds | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for r in rated:
        first, last = r["rounds"][0], r["rounds"][-1]
        cells = []
        for n in names:
            if n not in r["raters"]:
                cells.append("-")
            elif n in r.get("silent", []):
                cells.append("silent")
            else:
                a, b = first["weights"].get(n, 0.0), last["weights"].get(n, 0.0)
                cells.append(f"{a:.2f}" if len(r["rounds"]) == 1 else f"{a:.2f} -> {b:.2f}")
        pools = " -> ".join(str(x["pool"]) for x in r["rounds"]) + f" -> {r['selected']}"
        lines.append(f"| {r['iteration']} | {pools} | " + " | ".join(cells) + " |")
    return lines


def _judge_lines(records: list[dict[str, Any]]) -> list[str]:
    """What the judge decided, and each rater's agreement with it, per iteration."""
    judged = [r for r in records if r.get("judge")]
    if not judged:
        return []
    lines = [
        "",
        "Judge: pairs compared in both orders; a rater's agreement is the share of the "
        "judge's decided pairs it orders the same way (its ties half), its reliability "
        "`max(0, 2 x agreement - 1)` (or the agreement, with `chance_corrected: false`).",
        "",
    ]
    for r in judged:
        j = r["judge"]
        shown = "-" if j["first_shown"] is None else f"{j['first_shown']:.0%}"
        agreement = ", ".join(
            f"{name} {v['agreement']:.2f}" if v["agreement"] is not None else f"{name} -"
            for name, v in j["raters"].items()
        )
        lines.append(
            f"- iteration {r['iteration']}: {j['decided_pairs']} of {j['pairs']} pairs decided "
            f"({j['unparsable']} of {j['comparisons']} answers unreadable, {j['ties']} ties, "
            f"{j['inconsistent']} pairs flipped with the order, first shown chosen {shown}); "
            f"reliability from the {r['reliability']}; agreement: {agreement}."
        )
    return lines


def _distribution_table(records: list[dict[str, Any]], key: str, title: str) -> list[str]:
    buckets = sorted({b for r in records for part in ("pool", "selected") for b in r[key][part]})
    if not buckets:
        return []
    lines = [
        "",
        f"{title}: share of the candidate pool -> share of the selected examples.",
        "",
        "| iteration | mode | " + " | ".join(buckets) + " |",
        "|---|---|" + "---|" * len(buckets),
    ]
    for r in records:
        pool, sel = r[key]["pool"], r[key]["selected"]
        n_pool, n_sel = sum(pool.values()), sum(sel.values())
        cells = [f"{_pct(pool.get(b, 0), n_pool)} -> {_pct(sel.get(b, 0), n_sel)}" for b in buckets]
        lines.append(f"| {r['iteration']} | {r['mode']} | " + " | ".join(cells) + " |")
    return lines


def report_sections(run: RunContext) -> list[str]:
    root = run.run_dir.root
    records = load_records(root)
    if not records:
        return []
    lines = ["## Raters: rater-based selection of training examples", ""]
    lines += [
        "| iteration | mode | candidates | after dedupe and cap | selected |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        quota = r.get("quota")
        mode = r["mode"] if not quota else f"{r['mode']}, {quota['min']} per {quota['per']}"
        lines.append(
            f"| {r['iteration']} | {mode} | {r['candidates']} | {r['pool']} | {r['selected']} |"
        )
    swapped = [(r["iteration"], r["quota"]) for r in records if r.get("quota")]
    if swapped:
        lines += [""] + [
            f"Iteration {it}: the quota brought back {q['swapped_in']} examples of the "
            f"{q['groups']} {q['per']} groups that the ranking alone would have dropped."
            for it, q in swapped
        ]
    weights = _weights_table(records)
    if weights:
        lines += ["", *weights]
    lines += _judge_lines(records)
    lines += _distribution_table(records, "difficulty", "Problem difficulty (metadata)")
    lines += _distribution_table(records, "pass_rate", "Pass rate of the problem's plain samples")
    plot = _plot(records, root / "raters.png")
    if plot is not None:
        lines += ["", f"![rater weights per iteration]({plot.name})"]
    return ["\n".join(lines)]


def _plot(records: list[dict[str, Any]], path: Path) -> Path | None:
    rated = [r for r in records if r.get("rounds")]
    if not rated:
        return None
    plt = pyplot()

    names = sorted({n for r in rated for n in r["raters"]})
    fig, ax = plt.subplots(figsize=(7, 3.8))
    width = 0.8 / max(1, len(rated))
    for k, r in enumerate(rated):
        last = r["rounds"][-1]["weights"]
        xs = [i + k * width for i in range(len(names))]
        ax.bar(xs, [last.get(n, 0.0) for n in names], width, label=f"iteration {r['iteration']}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names, rotation=20)
    ax.set_ylabel("weight (last round)")
    ax.set_title("Rater weights")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=100)
