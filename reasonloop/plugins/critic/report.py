"""The critic's sections of ``report.md``, computed from the run directory.

- Hard problems (no correct plain sample) that gained a correct training
  example through a critique, per iteration and difficulty.
- Critiques: how many parsed, how many flagged the wrong answer, what came
  of the refinements.
- Cost: tokens of the critique path per hard problem gained, next to plain
  resampling of the same hard problems when the run drew that baseline
  (``baseline_samples``).
- Test time: accuracy against tokens per role, from each evaluation's
  ``eval.json`` (critic-guided vs plain voting at the same n, or accuracy
  after each revision round).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from reasonloop.core.records import Problem, Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.plugins.critic.examples import RefinementTally, kept_refinements
from reasonloop.plugins.critic.rounds import critique_of, is_critique, is_plain
from reasonloop.plugins.critic.settings import NAME, CriticSettings

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["iteration_figures", "report_sections"]


def _tokens(samples: list[Sample]) -> int:
    return sum(s.prompt_tokens + s.completion_tokens for s in samples)


def iteration_figures(
    problems: dict[str, Problem],
    samples: list[Sample],
    selected: list[TrainingExample],
    cfg: CriticSettings,
) -> dict[str, Any]:
    """What the critique path did in one training iteration."""
    by_problem: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_problem[s.problem_id].append(s)
    in_data = {ex.problem_id for ex in selected if ex.plugin == NAME}
    buckets: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    tally = RefinementTally()
    kept_total = resample_solved = 0
    for pid, own in sorted(by_problem.items()):
        problem = problems.get(pid)
        if problem is None:
            continue
        row = buckets[problem.difficulty]
        row["problems"] += 1
        plain = [s for s in own if is_plain(s)]
        kept = kept_refinements(problem, own, cfg, tally)
        kept_total += len(kept)
        if plain and not any(s.correct for s in plain):
            row["hard"] += 1
            row["gained"] += bool(kept)
            row["gained_parsed"] += any(critique_of(k.critique).parsed for k in kept)
            row["in_data"] += pid in in_data
            resampled = [
                s for s in own if s.request.plugin == NAME and s.request.purpose == "resample"
            ]
            if any(s.correct for s in resampled):
                row["resample_solved"] += 1
                resample_solved += 1
    crits = [s for s in samples if is_critique(s)]
    parsed = [critique_of(c) for c in crits]
    by_purpose: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_purpose[f"{s.request.plugin}/{s.request.purpose}"].append(s)
    return {
        "buckets": {k: dict(v) for k, v in sorted(buckets.items())},
        "critiques": len(crits),
        "parsed": sum(p.parsed for p in parsed),
        # A critique of a wrong answer "flags" it when it does not accept it.
        "flagged": sum(p.parsed and not p.accepts for p in parsed),
        "refinements": tally.refinements,
        "correct": tally.correct,
        "shortcuts": tally.shortcuts,
        "kept": kept_total,
        "resample_solved": resample_solved,
        "tokens": {k: _tokens(v) for k, v in sorted(by_purpose.items())},
    }


def _pct(a: float | None) -> str:
    return "-" if a is None else f"{100 * a:.1f}%"


def report_sections(run: RunContext, cfg: CriticSettings) -> list[str]:
    root = run.run_dir.root
    problems_path = root / "problems" / "train.jsonl"
    problems = (
        {p.id: p for p in read_jsonl(problems_path, Problem)} if problems_path.exists() else {}
    )
    figures = {}
    for d in sorted(root.glob("iter-*")):
        samples = list(JsonlLog(d / "samples.jsonl", Sample))
        if not samples:
            continue
        sel = d / "selected.jsonl"
        selected = read_jsonl(sel, TrainingExample) if sel.exists() else []
        figures[d.name] = iteration_figures(problems, samples, selected, cfg)
    sections = []
    if figures:
        sections += [_hard_section(figures), _critique_section(figures, cfg)]
    evals = _eval_section(root)
    if evals:
        sections.append(evals)
    return sections


def _hard_section(figures: dict[str, dict[str, Any]]) -> str:
    lines = [
        "## Critic: hard problems gained through critiques",
        "",
        "A hard problem has no correct plain sample. It gains when a critique led to a",
        'correct, non-shortcut refinement ("parsed": after a critique that followed the',
        "format; with `refine_unparsable` the actor also revises after raw critique",
        'text); "in data" counts those whose example survived selection.',
        "",
        "| iteration | difficulty | problems | hard | gained | gained after a parsed critique "
        "| in data |",
        "|---|---|---|---|---|---|---|",
    ]
    for it, f in figures.items():
        for bucket, row in f["buckets"].items():
            lines.append(
                f"| {it} | {bucket} | {row.get('problems', 0)} | {row.get('hard', 0)} "
                f"| {row.get('gained', 0)} | {row.get('gained_parsed', 0)} "
                f"| {row.get('in_data', 0)} |"
            )
    return "\n".join(lines)


def _critique_section(figures: dict[str, dict[str, Any]], cfg: CriticSettings) -> str:
    lines = [
        "## Critic: critiques and refinements in training",
        "",
        "| iteration | critiques | parsed | parse rate | flagged the wrong answer "
        "| refinements | correct | shortcuts | kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for it, f in figures.items():
        rate = f["parsed"] / f["critiques"] if f["critiques"] else None
        lines.append(
            f"| {it} | {f['critiques']} | {f['parsed']} | {_pct(rate)} | {f['flagged']} "
            f"| {f['refinements']} | {f['correct']} | {f['shortcuts']} | {f['kept']} |"
        )
    lines += [
        "",
        "Tokens (prompt + completion) by plugin and purpose, and the cost per hard problem",
        "gained. Plain resampling of the hard problems is the same-budget baseline only",
        f"when the run drew it (`baseline_samples`, here {cfg.baseline_samples}).",
        "",
        "| iteration | plain round | critiques | refinements | rollouts | hard gained "
        "| tokens per hard gained | resampling tokens | hard solved by resampling "
        "| tokens per hard solved |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for it, f in figures.items():
        t = f["tokens"]
        path = t.get(f"{NAME}/critique", 0) + t.get(f"{NAME}/refine", 0)
        gained = sum(row.get("gained", 0) for row in f["buckets"].values())
        per = f"{path / gained:.0f}" if gained else "-"
        resample = t.get(f"{NAME}/resample")
        solved = f["resample_solved"]
        if resample is None:
            baseline = "| - | - | - |"
        else:
            per_solved = f"{resample / solved:.0f}" if solved else "-"
            baseline = f"| {resample} | {solved} | {per_solved} |"
        lines.append(
            f"| {it} | {t.get('selfimprove/sample', 0)} | {t.get(f'{NAME}/critique', 0)} "
            f"| {t.get(f'{NAME}/refine', 0)} | {t.get(f'{NAME}/rollout', 0)} | {gained} | {per} "
            + baseline
        )
    return "\n".join(lines)


def _eval_section(root: Any) -> str | None:
    lines: list[str] = []
    stages = [root / "base", *sorted(root.glob("iter-*"))]
    for d in stages:
        path = d / "eval.json"
        if not path.exists():
            continue
        m = json.loads(path.read_text()).get("plugins", {}).get(NAME)
        if not m:
            continue
        lines += [
            "",
            f"{d.name}: {m.get('parsed', 0)} of {m.get('critiques', 0)} critiques parsed "
            f"({_pct(m.get('parse_rate'))}); on those, acceptance agreed with the verifier "
            f"{_pct(m.get('agreement_with_verifier'))}; tokens {m.get('tokens', {})}",
            "",
        ]
        if m.get("mode") == "select":
            lines += [
                "| n | critic-guided vote | majority vote | actor tokens | critic tokens "
                "| majority vote at the same tokens (n) |",
                "|---|---|---|---|---|---|",
            ]
            for r in m["by_n"]:
                capped = " (all samples; fewer tokens)" if r.get("same_tokens_capped") else ""
                lines.append(
                    f"| {r['n']} | {_pct(r['critic_vote_accuracy'])} "
                    f"| {_pct(r['majority_vote_accuracy'])} | {r['actor_tokens']} "
                    f"| {r['critic_tokens']} | {_pct(r.get('same_tokens_majority_accuracy'))} "
                    f"({r.get('same_tokens_n')}){capped} |"
                )
        else:
            lines += [
                "| revision rounds | accuracy | fixed | broken | actor tokens | critic tokens |",
                "|---|---|---|---|---|---|",
            ]
            for r in m["by_rounds"]:
                lines.append(
                    f"| {r['rounds']} | {_pct(r['accuracy'])} | {r['fixed']} | {r['broken']} "
                    f"| {r['actor_tokens']} | {r['critic_tokens']} |"
                )
    if not lines:
        return None
    head = [
        "## Critic at test time: accuracy against tokens",
        "",
        "Measured on each evaluation's own samples: voting on the first n samples, or",
        "stopping each answer's critique-and-revise chain after r rounds.",
    ]
    return "\n".join(head + lines)
