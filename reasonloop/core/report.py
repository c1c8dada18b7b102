"""``report.md`` and its plots: what each iteration did and what it cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.accounting import compute_ledger, merge_ledgers, total_tokens
from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, RunDirectory, atomic_write_text, read_jsonl

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["StageSummary", "stage_summary", "summary_rows", "write_report"]


class StageSummary(BaseModel):
    """One stage's row of the run summary: the report's table, the CLI's, ``iteration_end``'s.

    The ``reasonloop_iteration_end`` hook receives it as a dict
    (``model_dump(mode="json")``), so a plugin reads ``summary["kept"]``.
    """

    model_config = ConfigDict(extra="forbid")

    #: ``base`` (the model before training) or ``iter-NNN``.
    stage: str
    #: ``None`` for ``base``.
    iteration: int | None
    #: Held-out accuracy after the stage; ``None`` without an evaluation.
    accuracy: float | None = None
    #: Accuracy by problem metadata (``eval.json``'s ``by``).
    by: dict[str, Any] = Field(default_factory=dict)
    pass_at_k: dict[str, Any] = Field(default_factory=dict)
    #: Training samples drawn in the stage.
    samples: int = 0
    #: Training examples selected.
    kept: int = 0
    #: Prompt and completion tokens of sampling and evaluation together.
    tokens: int = 0
    #: Wall time of the stage's steps, summed over resumes.
    seconds: float = 0.0
    #: Tokens by role, plugin and purpose (sampling and evaluation merged).
    compute: list[dict[str, Any]] = Field(default_factory=list)


def stage_summary(
    run_dir: RunDirectory, iteration: int | None, seconds: dict[str, float]
) -> StageSummary:
    """The summary of one stage from its files (``seconds``: ``state.json``'s per step)."""
    d = run_dir.stage_dir(iteration)
    label = d.name
    eval_path = d / "eval.json"
    metrics = json.loads(eval_path.read_text()) if eval_path.exists() else None
    samples = list(JsonlLog(d / "samples.jsonl", Sample))
    selected = d / "selected.jsonl"
    ledger = merge_ledgers(compute_ledger(samples), (metrics or {}).get("compute", []))
    return StageSummary(
        stage=label,
        iteration=iteration,
        accuracy=metrics["accuracy"] if metrics else None,
        by=metrics.get("by", {}) if metrics else {},
        pass_at_k=metrics.get("pass_at_k", {}) if metrics else {},
        samples=len(samples),
        kept=sum(1 for _ in selected.open()) if selected.exists() else 0,
        tokens=total_tokens(ledger),
        seconds=round(sum(v for k, v in seconds.items() if k.startswith(label)), 1),
        compute=ledger,
    )


def summary_rows(run_dir: RunDirectory) -> list[StageSummary]:
    """One row per stage with samples or an evaluation: base model first, then each iteration."""
    seconds = run_dir.load_state().seconds
    stages: list[int | None] = [None]
    stages += sorted(int(p.name.split("-")[1]) for p in run_dir.root.glob("iter-*") if p.is_dir())
    rows = [stage_summary(run_dir, it, seconds) for it in stages]
    return [r for r in rows if r.accuracy is not None or r.samples]


def write_report(
    run: RunContext | None = None, run_dir: RunDirectory | None = None
) -> list[StageSummary]:
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
        acc = "-" if r.accuracy is None else f"{r.accuracy:.1%}"
        lines.append(f"| {r.stage} | {acc} | {r.samples} | {r.kept} | {r.tokens} | {r.seconds} |")
    evaluated = [r for r in rows if r.accuracy is not None]
    if len(evaluated) >= 2:
        first, last = evaluated[0], evaluated[-1]
        assert first.accuracy is not None and last.accuracy is not None
        lines += [
            "",
            f"Held-out accuracy went from {first.accuracy:.1%} ({first.stage}) to "
            f"{last.accuracy:.1%} ({last.stage}): {(last.accuracy - first.accuracy) * 100:+.1f} "
            "points.",
        ]
    if plot:
        lines += ["", f"![accuracy per iteration]({plot.name})"]
    for key in ("difficulty", "kind", "source"):
        values = sorted({v for r in evaluated for v in r.by.get(key, {})})
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
                f"{r.by[key][v]['accuracy']:.1%}" if v in r.by.get(key, {}) else "-" for v in values
            ]
            lines.append(f"| {r.stage} | " + " | ".join(cells) + " |")
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
        for c in r.compute:
            lines.append(
                f"| {r.stage} | {c['role']} | {c['plugin']} | {c['purpose']} | "
                f"{c['requests']} | {c['samples']} | {c['prompt_tokens']} | "
                f"{c.get('cached_tokens', 0)} | {c['completion_tokens']} | {c['seconds']:.1f} |"
            )
    if run is not None:
        for section in run.hooks.report_sections(run):
            lines += ["", section.rstrip()]
    atomic_write_text(run_dir.report_path, "\n".join(lines) + "\n")
    return rows


def _pass_at_k_section(evaluated: list[StageSummary]) -> list[str]:
    """pass@k per stage, shown when there are several attempts or refined ones."""
    keys: list[str] = []
    for r in evaluated:
        p = r.pass_at_k
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
        cells = [f"{r.pass_at_k[k]:.1%}" if k in r.pass_at_k else "-" for k in keys]
        lines.append(f"| {r.stage} | " + " | ".join(cells) + " |")
    return lines


def _plot(rows: list[StageSummary], path: Path) -> Path | None:
    evaluated = [r for r in rows if r.accuracy is not None]
    if not evaluated:
        return None
    plt = pyplot()

    labels = [r.stage for r in evaluated]
    x = list(range(len(labels)))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(
        x,
        [100 * (r.accuracy or 0.0) for r in evaluated],
        marker="o",
        linewidth=2.5,
        color="black",
        label="all",
    )
    buckets = sorted({v for r in evaluated for v in r.by.get("difficulty", {})})
    for b in buckets:
        ys = [
            100 * r.by["difficulty"][b]["accuracy"]
            if b in r.by.get("difficulty", {})
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
