"""``report.md`` and its plots: what each iteration did and what it cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.accounting import compute_ledger, merge_ledgers, total_tokens
from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, RunDirectory, atomic_write_text, read_jsonl

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["summary_rows", "write_report"]


def summary_rows(run_dir: RunDirectory) -> list[dict[str, Any]]:
    """One row per evaluated stage: base model first, then each iteration."""
    seconds = run_dir.load_state().seconds
    rows = []
    stages: list[int | None] = [None]
    stages += sorted(int(p.name.split("-")[1]) for p in run_dir.root.glob("iter-*") if p.is_dir())
    for it in stages:
        d = run_dir.stage_dir(it)
        label = "base" if it is None else f"iter-{it:03d}"
        eval_path = d / "eval.json"
        metrics = json.loads(eval_path.read_text()) if eval_path.exists() else None
        samples = list(JsonlLog(d / "samples.jsonl", Sample))
        selected = d / "selected.jsonl"
        kept = sum(1 for _ in selected.open()) if selected.exists() else 0
        ledger = merge_ledgers(compute_ledger(samples), (metrics or {}).get("compute", []))
        if metrics is None and not samples:
            continue
        rows.append(
            {
                "stage": label,
                "accuracy": metrics["accuracy"] if metrics else None,
                "by": metrics.get("by", {}) if metrics else {},
                "pass_at_k": metrics.get("pass_at_k", {}) if metrics else {},
                "drawn": len(samples),
                "kept": kept,
                "tokens": total_tokens(ledger),
                "seconds": round(sum(v for k, v in seconds.items() if k.startswith(label)), 1),
                "compute": ledger,
            }
        )
    return rows


def write_report(
    run: RunContext | None = None, run_dir: RunDirectory | None = None
) -> list[dict[str, Any]]:
    """Write ``report.md`` and ``accuracy.png``; return the summary rows."""
    run_dir = run_dir or run.run_dir  # type: ignore[union-attr]
    rows = summary_rows(run_dir)
    plot = _plot(rows, run_dir.root / "accuracy.png")
    lines = [f"# Run report: {run_dir.root.name}", ""]
    lines += [
        "| stage | held-out accuracy | samples drawn | kept | tokens | wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        lines.append(
            f"| {r['stage']} | {acc} | {r['drawn']} | {r['kept']} | {r['tokens']} "
            f"| {r['seconds']} |"
        )
    evaluated = [r for r in rows if r["accuracy"] is not None]
    if len(evaluated) >= 2:
        delta = evaluated[-1]["accuracy"] - evaluated[0]["accuracy"]
        lines += [
            "",
            f"Held-out accuracy went from {evaluated[0]['accuracy']:.1%} "
            f"({evaluated[0]['stage']}) to {evaluated[-1]['accuracy']:.1%} "
            f"({evaluated[-1]['stage']}): {delta * 100:+.1f} points.",
        ]
    if plot:
        lines += ["", f"![accuracy per iteration]({plot.name})"]
    for key in ("difficulty", "kind", "source"):
        values = sorted({v for r in evaluated for v in r["by"].get(key, {})})
        if not values or (key == "source" and len(values) < 2):
            continue
        lines += [
            "",
            f"## Accuracy by {key}",
            "",
            "| stage | " + " | ".join(values) + " |",
            "|---|" + "---|" * len(values),
        ]
        for r in evaluated:
            cells = [
                f"{r['by'][key][v]['accuracy']:.1%}" if v in r["by"].get(key, {}) else "-"
                for v in values
            ]
            lines.append(f"| {r['stage']} | " + " | ".join(cells) + " |")
    lines += _pass_at_k_section(evaluated)
    lines += _examples_section(run_dir)
    lines += [
        "",
        "## Compute by role, plugin and purpose",
        "",
        "| stage | role | plugin | purpose | requests | samples | prompt tokens "
        "| of them cached | completion tokens | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for c in r["compute"]:
            lines.append(
                f"| {r['stage']} | {c['role']} | {c['plugin']} | {c['purpose']} | "
                f"{c['requests']} | {c['samples']} | {c['prompt_tokens']} | "
                f"{c.get('cached_tokens', 0)} | {c['completion_tokens']} | {c['seconds']:.1f} |"
            )
    if run is not None:
        for section in run.hooks.report_sections(run):
            lines += ["", section.rstrip()]
    atomic_write_text(run_dir.report_path, "\n".join(lines) + "\n")
    return rows


def _pass_at_k_section(evaluated: list[dict[str, Any]]) -> list[str]:
    """pass@k per stage, shown when there are several attempts or refined ones."""
    keys: list[str] = []
    for r in evaluated:
        p = r.get("pass_at_k") or {}
        if p.get("attempts_per_problem", 1) > 1 or any(k.startswith("first_") for k in p):
            keys += [k for k in p if "@" in k and k not in keys]
    if not keys:
        return []
    lines = [
        "",
        "## pass@k (unbiased estimator; first_attempt: before plugins refined the programs)",
        "",
        "| stage | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for r in evaluated:
        p = r.get("pass_at_k") or {}
        cells = [f"{p[k]:.1%}" if k in p else "-" for k in keys]
        lines.append(f"| {r['stage']} | " + " | ".join(cells) + " |")
    return lines


def _plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    evaluated = [r for r in rows if r["accuracy"] is not None]
    if not evaluated:
        return None
    plt = pyplot()

    labels = [r["stage"] for r in evaluated]
    x = list(range(len(labels)))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(
        x,
        [100 * r["accuracy"] for r in evaluated],
        marker="o",
        linewidth=2.5,
        color="black",
        label="all",
    )
    buckets = sorted({v for r in evaluated for v in r["by"].get("difficulty", {})})
    for b in buckets:
        ys = [
            100 * r["by"]["difficulty"][b]["accuracy"]
            if b in r["by"].get("difficulty", {})
            else float("nan")
            for r in evaluated
        ]
        ax.plot(x, ys, marker=".", linestyle="--", label=f"difficulty {b}")
    ax.set_xticks(x, labels)
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Accuracy per iteration")
    return save_figure(fig, path)


def _examples_section(run_dir: RunDirectory) -> list[str]:
    """Training examples per iteration, plugin and kind, with the refinement chains."""
    rows = []
    for d in sorted(p for p in run_dir.root.glob("iter-*") if p.is_dir()):
        if not (d / "selected.jsonl").exists():
            continue
        groups: dict[tuple[str, str], list[int]] = {}
        for i, name in enumerate(("candidates.jsonl", "selected.jsonl")):
            path = d / name
            for ex in read_jsonl(path, TrainingExample) if path.exists() else []:
                g = groups.setdefault((ex.plugin, ex.how), [0, 0, 0])
                g[i] += 1
                if i == 1 and any(m.role == "assistant" and m.train is False for m in ex.messages):
                    g[2] += 1
        rows += [(d.name, plugin, how, *g) for (plugin, how), g in sorted(groups.items())]
    if not rows:
        return []
    lines = [
        "",
        "## Training examples by plugin",
        "",
        "Chains: selected multi-turn examples (wrong attempt -> feedback -> "
        "correction) whose wrong attempts carry no loss.",
        "",
        "| iteration | plugin | kind | candidates | selected | chains |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    return lines
