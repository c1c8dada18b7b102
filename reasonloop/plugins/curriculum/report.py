"""The curriculum section of ``report.md`` and its plot of scores along the training order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.plots import pyplot, save_figure
from reasonloop.plugins.curriculum.order import PreferenceFunction

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["PLOT", "plot_orders", "read_summaries", "report_sections"]

PLOT = "curriculum_order.png"


def read_summaries(root: Path) -> list[dict[str, Any]]:
    """Every iteration's ``curriculum.json``, in iteration order."""
    paths = sorted(root.glob("iter-*/curriculum.json"))
    return [json.loads(p.read_text()) for p in paths]


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _accuracy(root: Path, iteration: int) -> float | None:
    path = root / f"iter-{iteration:03d}" / "eval.json"
    return json.loads(path.read_text())["accuracy"] if path.exists() else None


def report_sections(run: RunContext) -> list[str]:
    """One Markdown section: per iteration, what the order was built from and how it rises."""
    root = run.run_dir.root
    summaries = read_summaries(root)
    if not summaries:
        return []
    plot = plot_orders(summaries, root / PLOT)
    lines = [
        "## Curriculum: perplexity-difference order",
        "",
        "Score: `pd` is (PPL_weak - PPL_strong) / PPL_weak, `perplexity` the model's "
        "own perplexity (used when weak and strong are the same model), `kept` means "
        "the selection's order was left as it was. The high pool holds the examples "
        "with the highest scores; its share rises along the training order as the "
        "preference function plans (first and last tenth shown: planned / realised).",
        "",
        "| iteration | score | weak model | strong model | examples | high pool "
        "| score median (q25-q75) | high share, first tenth | high share, last tenth "
        "| held-out accuracy after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        it = s["iteration"]
        acc = _pct(_accuracy(root, it))
        if not s.get("score"):
            lines.append(
                f"| {it} | kept | `{s['weak_model']}` | `{s['strong_model']}` "
                f"| {s['examples']} | - | - | - | - | {acc} |"
            )
            continue
        st = s.get("scores") or {}
        seg = s.get("segments") or []
        first, last = (seg[0], seg[-1]) if seg else ({}, {})
        lines.append(
            f"| {it} | {s['score']} | `{s['weak_model']}` | `{s['strong_model']}` "
            f"| {s['examples']} | {s['high']} "
            f"| {_num(st.get('median'))} ({_num(st.get('q25'))}-{_num(st.get('q75'))}) "
            f"| {_pct(first.get('planned'))} / {_pct(first.get('realised'))} "
            f"| {_pct(last.get('planned'))} / {_pct(last.get('realised'))} | {acc} |"
        )
    if plot:
        lines += ["", f"![scores along the training order]({plot.name})"]
    return ["\n".join(lines)]


def plot_orders(summaries: list[dict[str, Any]], path: Path) -> Path | None:
    """Per ordered iteration: each example's score at its position, and the high pool so far."""
    ordered = [s for s in summaries if s.get("order")]
    if not ordered:
        return None
    plt = pyplot()

    fig, axes = plt.subplots(2, len(ordered), figsize=(4.2 * len(ordered), 6), squeeze=False)
    for col, s in enumerate(ordered):
        top, bottom = axes[0][col], axes[1][col]
        rows = s["order"]
        for high, color, label in ((False, "C0", "low pool"), (True, "C3", "high pool")):
            pts = [(i, r["score"]) for i, r in enumerate(rows) if r["high"] == high]
            pts = [(i, y) for i, y in pts if y is not None]
            if pts:
                top.scatter(*zip(*pts, strict=True), s=6, color=color, label=label)
        top.set_title(f"iteration {s['iteration']} ({s['score']}, {s['preference']})")
        top.set_xlabel("position in train.jsonl")
        top.set_ylabel("PD" if s["score"] == "pd" else "perplexity")
        top.legend(fontsize=7, loc="best")
        top.grid(alpha=0.3)
        # Cumulative counts read well even for a few dozen rows, where the
        # share within a stretch of the order jumps between 0 and 1.
        n = len(rows)
        f = PreferenceFunction(
            s["preference"],
            s["high"] / n,
            s.get("steepness") or 10.0,
            s.get("direction") == "falling",
        )
        xs = list(range(n + 1))
        realised = [0]
        for r in rows:
            realised.append(realised[-1] + r["high"])
        bottom.plot(xs, [n * f.cumulative(x / n) for x in xs], label="planned")
        bottom.step(xs, realised, where="post", label="realised")
        bottom.set_xlabel("position in train.jsonl")
        bottom.set_ylabel("high-pool examples so far")
        bottom.legend(fontsize=7, loc="best")
        bottom.grid(alpha=0.3)
    return save_figure(fig, path, dpi=100)
