"""``report.md`` and its plots: what each iteration did and what it cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.accounting import compute_ledger, merge_ledgers, total_tokens
from reasonloop.core.pairing import (
    compare_answers,
    format_accuracy,
    format_difference,
    format_p,
    format_verdict,
    load_answers,
    short_verdict,
    stage_interval,
)
from reasonloop.core.plots import pyplot, save_figure
from reasonloop.core.preferences import count_by_source
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
    #: Problems the accuracy is over; ``None`` without an evaluation (or an old ``eval.json``).
    problems: int | None = None
    #: The accuracy's 95% Wilson interval ``[lo, hi]``.
    interval: list[float] | None = None
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
        problems=metrics.get("problems") if metrics else None,
        interval=stage_interval(metrics) if metrics else None,
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
        "| stage | held-out accuracy [95% interval] | problems | samples drawn | kept | tokens "
        "| wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = format_accuracy(r.accuracy, r.interval)
        n = "-" if r.problems is None else r.problems
        lines.append(
            f"| {r.stage} | {acc} | {n} | {r.samples} | {r.kept} | {r.tokens} | {r.seconds} |"
        )
    evaluated = [r for r in rows if r.accuracy is not None]
    answers = {
        r.stage: load_answers(run_dir.stage_dir(r.iteration) / "eval.json") for r in evaluated
    }
    if len(evaluated) >= 2:
        lines += ["", _headline(evaluated[0], evaluated[-1], answers)]
    if plot:
        lines += ["", f"![accuracy per iteration]({plot.name})"]
    lines += _paired_section(evaluated, answers)
    for key in ("difficulty", "kind", "source"):
        values = sorted({v for r in evaluated for v in r.by.get(key, {})})
        if not values or (key == "source" and len(values) < 2):
            continue
        lines += [
            "",
            f"## Accuracy by {key}",
            "",
            "Accuracy [95% Wilson interval]; n: the problems in each group.",
            "",
            "| stage | " + " | ".join(_group_header(evaluated, key, v) for v in values) + " |",
            "|---|" + "---|" * len(values),
        ]
        for r in evaluated:
            cells = [_group_cell(r, key, v) for v in values]
            lines.append(f"| {r.stage} | " + " | ".join(cells) + " |")
    lines += _pass_at_k_section(evaluated)
    lines += _examples_section(run_dir)
    lines += _preferences_section(run_dir)
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


def _headline(first: StageSummary, last: StageSummary, answers: dict) -> str:
    """The report's first sentence: base vs the last stage, paired on the same problems."""
    assert first.accuracy is not None and last.accuracy is not None
    text = (
        f"Held-out accuracy went from {first.accuracy:.1%} ({first.stage}) to "
        f"{last.accuracy:.1%} ({last.stage}): {(last.accuracy - first.accuracy) * 100:+.1f} points."
    )
    c = compare_answers(answers[first.stage], answers[last.stage])
    if isinstance(c, str):
        return f"{text} A paired comparison is unavailable: {c}."
    return (
        f"{text} Paired on the same {c.problems} problems: {format_difference(c)} "
        f"(95% paired bootstrap), McNemar exact p = {format_p(c.p_value)}, "
        f"{c.gained} gained and {c.lost} lost: **{format_verdict(c)}**."
    )


def _paired_section(evaluated: list[StageSummary], answers: dict) -> list[str]:
    """The first stage (base) against each later one, with both sides' tokens."""
    if len(evaluated) < 2:
        return []
    first = evaluated[0]
    lines = [
        "",
        "## Paired comparisons",
        "",
        f"Each stage against {first.stage} on the problems both answered: the difference with "
        "its 95% paired-bootstrap interval, McNemar's exact p-value, and the problems gained "
        "and lost. Tokens: each side's sampling and evaluation.",
        "",
        f"| stage | problems | difference [95% interval] | McNemar p | gained | lost "
        f"| tokens ({first.stage}) | tokens (stage) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in evaluated[1:]:
        c = compare_answers(answers[first.stage], answers[r.stage])
        if isinstance(c, str):
            lines.append(
                f"| {r.stage} | - | unavailable: {c} | - | - | - "
                f"| {first.tokens} | {r.tokens} | - |"
            )
            continue
        verdict = short_verdict(c)
        lines.append(
            f"| {r.stage} | {c.problems} | {format_difference(c)} | {format_p(c.p_value)} | "
            f"{c.gained} | {c.lost} | {first.tokens} | {r.tokens} | {verdict} |"
        )
    return lines


def _group_header(evaluated: list[StageSummary], key: str, value: str) -> str:
    """A breakdown column's name, with its n when every stage has the same."""
    ns = {r.by[key][value].get("problems") for r in evaluated if value in r.by.get(key, {})}
    return f"{value} (n={ns.pop()})" if len(ns) == 1 and None not in ns else value


def _group_cell(r: StageSummary, key: str, value: str) -> str:
    group = r.by.get(key, {}).get(value)
    if group is None:
        return "-"
    return format_accuracy(group["accuracy"], stage_interval(group))


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
        "Each estimate with its 95% bootstrap interval over problems.",
        "",
        "| stage | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for r in evaluated:
        intervals = r.pass_at_k.get("intervals", {})
        cells = [format_accuracy(r.pass_at_k.get(k), intervals.get(k)) for k in keys]
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
    ys = [100 * (r.accuracy or 0.0) for r in evaluated]
    # Error bars: each stage's 95% Wilson interval; a stage without one gets none.
    below = [
        y - 100 * r.interval[0] if r.interval else 0.0 for y, r in zip(ys, evaluated, strict=True)
    ]
    above = [
        100 * r.interval[1] - y if r.interval else 0.0 for y, r in zip(ys, evaluated, strict=True)
    ]
    ax.errorbar(
        x,
        ys,
        yerr=[below, above],
        marker="o",
        linewidth=2.5,
        capsize=4,
        color="black",
        label="all (95% interval)",
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


def _preferences_section(run_dir: RunDirectory) -> list[str]:
    """Preference pairs and unpaired rows per iteration and source (the plugin that made them)."""
    rows = []
    for d in sorted(p for p in run_dir.root.glob("iter-*") if p.is_dir()):
        pairs = count_by_source(d / "preferences.jsonl")
        unpaired = count_by_source(d / "unpaired.jsonl")
        for source in sorted(set(pairs) | set(unpaired)):
            rows.append((d.name, source, pairs.get(source, 0), unpaired.get(source, 0)))
    if not rows:
        return []
    lines = [
        "",
        "## Preference data by source",
        "",
        "Pairs: rows of `preferences.jsonl` (chosen over rejected, for `trl-dpo`); "
        "unpaired: rows of `unpaired.jsonl` (answers labelled desirable or not, for `trl-kto`).",
        "",
        "| iteration | source | pairs | unpaired |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(str(c) for c in row)} |" for row in rows]
    return lines
