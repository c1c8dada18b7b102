"""Self-debugging's figures: test quality, what debugging fixed, and equal-token resampling."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.evaluation import pass_at_k
from reasonloop.core.lineage import attempt_chains
from reasonloop.core.records import Problem, Sample
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.plugins.selfdebug.inexecution import is_verdicts
from reasonloop.plugins.selfdebug.prompts import entry_point_of
from reasonloop.plugins.selfdebug.verdicts import parse_block_verdicts

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RunContext
    from reasonloop.plugins.selfdebug.state import SelfDebugState

__all__ = ["report_section", "stage_metrics", "test_quality", "verdict_figures"]

_DRAWS = 2000


def _group(samples: list[Sample]) -> dict[str, list[Sample]]:
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        grouped[s.problem_id].append(s)
    return grouped


def test_quality(
    st: SelfDebugState, problems: list[Problem], by_problem: dict[str, list[Sample]]
) -> dict[str, Any]:
    """How good the self-generated tests are: the share the canonical solution passes."""
    from reasonloop.execution import Job
    from reasonloop.verifiers.code import build_program

    code = [p for p in problems if p.domain == "code"]
    jobs, counts = [], []
    for p in code:
        tests = st.tests_for(p, by_problem.get(p.id, []))
        counts.append(len(tests))
        solution = p.reference.solution if p.reference else None
        entry = entry_point_of(p.prompt, p.metadata)
        if tests and solution and entry:
            jobs.append(Job(build_program(solution, p.prompt, entry), tests=tests, all_tests=True))
    results = st.run_jobs(jobs)
    generated = sum(r.tests for r in results)
    passed = sum(len(r.passed) for r in results)
    out: dict[str, Any] = {
        "problems": len(code),
        "problems_with_tests": sum(1 for c in counts if c),
        "tests_per_problem": sum(counts) / len(counts) if counts else 0.0,
    }
    if results:
        out["checked_against_solution"] = len(results)
        out["canonical_pass_rate"] = passed / generated if generated else 0.0
        out["problems_all_tests_valid"] = sum(1 for r in results if r.correct)
    return out


def stage_metrics(
    st: SelfDebugState, problems: list[Problem], samples: list[Sample], ctx: IterationContext
) -> dict[str, Any]:
    """``eval.json``'s ``plugins.selfdebug``: tests, chains, tokens, equal-token baseline."""
    cfg = st.settings
    by_problem = _group(samples)
    out: dict[str, Any] = {"mode": cfg.mode, "rounds": cfg.rounds, "tests_asked": cfg.tests}
    if cfg.mode == "post":
        out["feedback"] = cfg.feedback
        out["feedback_tests"] = cfg.feedback_tests
    else:
        out["trace"] = cfg.trace
        out["all_correct"] = cfg.all_correct
        out["verdicts"] = verdict_figures(samples)
    out["test_quality"] = test_quality(st, problems, by_problem)
    train = _train_test_quality(st, ctx)
    if train is not None:
        out["train_test_quality"] = train
    chains = {p.id: attempt_chains(by_problem.get(p.id, [])) for p in problems}
    flat = [c for cs in chains.values() for c in cs]
    if not flat:
        return out
    out["chains"] = len(flat)
    out["debugged"] = sum(1 for r, f in flat if r.id != f.id)
    out["fixed"] = sum(1 for r, f in flat if f.correct and not r.correct)
    out["broken"] = sum(1 for r, f in flat if r.correct and not f.correct)
    out["first_attempt_pass@1"] = sum(r.correct for r, _ in flat) / len(flat)
    out["final_pass@1"] = sum(f.correct for _, f in flat) / len(flat)
    out["tokens"] = _tokens(samples)
    out["equal_tokens"] = _equal_tokens(st, problems, chains, by_problem, out["tokens"], len(flat))
    return out


def verdict_figures(samples: list[Sample]) -> dict[str, Any]:
    """How the model judged its traces, and how its judgement compares with the real tests.

    ``traced`` counts the verdict requests (programs traced),
    ``traced_passing_self_tests`` those whose program passed every
    self-written test (traced only with ``trace: all``). ``outcomes`` counts
    the replies: ``all-correct`` (the program is kept), ``wrong`` (a block
    judged wrong), ``incomplete`` (some blocks not judged) and
    ``unparsable`` (no verdict read). ``on_correct_programs`` and
    ``on_wrong_programs`` split the outcomes by whether the traced program
    passes the real tests (known once samples are scored).
    """
    by_id = {s.id: s for s in samples}
    replies = [s for s in samples if is_verdicts(s)]
    outcomes: dict[str, int] = dict.fromkeys(
        ("all-correct", "wrong", "incomplete", "unparsable"), 0
    )
    on_correct = dict(outcomes)
    on_wrong = dict(outcomes)
    passing = blocks_judged = unknown = 0
    for v in replies:
        verdicts = parse_block_verdicts(v.completion, v.request.meta.get("blocks", []))
        outcomes[verdicts.outcome] += 1
        blocks_judged += len(verdicts.correct) + len(verdicts.wrong)
        unknown += verdicts.unknown_blocks
        done, _, total = str(v.request.meta.get("self_tests_passed", "")).partition("/")
        passing += bool(total) and done == total
        program = by_id.get(v.request.parent_sample_id or "")
        if program is not None and program.verdict is not None:
            (on_correct if program.correct else on_wrong)[verdicts.outcome] += 1
    return {
        "traced": len(replies),
        "traced_passing_self_tests": passing,
        "outcomes": outcomes,
        "blocks_judged": blocks_judged,
        "unknown_blocks": unknown,
        "on_correct_programs": on_correct,
        "on_wrong_programs": on_wrong,
    }


def _train_test_quality(st: SelfDebugState, ctx: IterationContext) -> dict[str, Any] | None:
    if ctx.iteration is None or "train" not in st.settings.stages:
        return None
    root = ctx.run.run_dir
    samples_path = root.stage_dir(ctx.iteration) / "samples.jsonl"
    problems_path = root.root / "problems" / "train.jsonl"
    if not samples_path.exists() or not problems_path.exists():
        return None
    samples = [s for s in JsonlLog(samples_path, Sample) if s.request.plugin == "selfdebug"]
    by_problem = _group(samples)
    problems = [p for p in read_jsonl(problems_path, Problem) if p.id in by_problem]
    return test_quality(st, problems, by_problem)


def _tokens(samples: list[Sample]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in compute_ledger(samples):
        key = f"{row['plugin']}/{row['purpose']}"
        out[key] = {
            "samples": row["samples"],
            "tokens": row["prompt_tokens"] + row["completion_tokens"],
            "completion_tokens": row["completion_tokens"],
        }
    return out


def _equal_tokens(
    st: SelfDebugState,
    problems: list[Problem],
    chains: dict[str, list[tuple[Sample, Sample]]],
    by_problem: dict[str, list[Sample]],
    tokens: dict[str, dict[str, int]],
    n_chains: int,
) -> dict[str, Any]:
    """What plain resampling would score with the tokens self-debugging spent.

    Tokens count prompt and completion. ``k`` plain attempts cost as much as
    one debugged attempt; ``oracle pass@k`` picks any correct one (needs the
    real tests: an upper bound), ``self-test pick@k`` picks the first that
    passes the self-generated tests (what deployment could do).
    """
    from reasonloop.execution import Job
    from reasonloop.verifiers.code import build_program

    plain = [v for k, v in tokens.items() if not k.startswith("selfdebug/")]
    plain_tokens = sum(v["tokens"] for v in plain)
    plain_samples = sum(v["samples"] for v in plain) or 1
    extra = sum(v["tokens"] for k, v in tokens.items() if k.startswith("selfdebug/"))
    per_attempt = plain_tokens / plain_samples
    per_chain = per_attempt + extra / n_chains
    ratio = per_chain / per_attempt if per_attempt else 1.0
    out: dict[str, Any] = {
        "tokens_per_plain_attempt": round(per_attempt, 1),
        "tokens_per_debugged_attempt": round(per_chain, 1),
        "plain_attempts_for_same_tokens": round(ratio, 2),
    }
    k = max(1, math.floor(ratio))
    n_min = min((len(cs) for cs in chains.values() if cs), default=0)
    out["k"] = k
    if k > n_min:
        out["note"] = f"needs eval.n >= {k} plain attempts per problem for the resampling figures"
        return out
    by_id = {p.id: p for p in problems}
    jobs, keys = [], []
    for pid, cs in chains.items():
        p = by_id[pid]
        tests = st.tests_for(p, by_problem.get(pid, []))
        entry = entry_point_of(p.prompt, p.metadata)
        for root, _ in cs:
            if tests and entry:
                jobs.append(Job(build_program(root.text, p.prompt, entry), tests=tests))
                keys.append(root.id)
    passes = {key: res.correct for key, res in zip(keys, st.run_jobs(jobs), strict=True)}
    rng = random.Random(0)
    oracle, pick = [], []
    for cs in chains.values():
        if not cs:
            continue
        roots = [r for r, _ in cs]
        oracle.append(pass_at_k(len(roots), sum(r.correct for r in roots), k))
        hits = 0
        for _ in range(_DRAWS):
            drawn = rng.sample(roots, k)
            chosen = next((r for r in drawn if passes.get(r.id)), drawn[0])
            hits += chosen.correct
        pick.append(hits / _DRAWS)
    out["oracle_pass@k"] = sum(oracle) / len(oracle)
    out["self_test_pick@k"] = sum(pick) / len(pick)
    return out


def report_section(run: RunContext) -> str | None:
    """``## Self-debugging`` for report.md, from the plugin's figures in each eval.json."""
    rows = []
    stages = [None, *sorted(int(p.name[5:]) for p in run.run_dir.root.glob("iter-*"))]
    for it in stages:
        path = run.run_dir.stage_dir(it) / "eval.json"
        if not path.exists():
            continue
        figures = json.loads(path.read_text()).get("plugins", {}).get("selfdebug")
        if figures:
            rows.append(("base" if it is None else f"iter-{it:03d}", figures))
    if not rows:
        return None
    lines = [
        "## Self-debugging",
        "",
        "Pass@1 of the first attempts (plain sampling) and of the final programs after "
        "self-debugging on self-generated tests; tokens count prompt and completion. "
        "The equal-token columns give plain resampling the same tokens: `oracle` picks "
        "any correct attempt (an upper bound, it needs the real tests), `self-test pick` "
        "the first attempt that passes the model's own tests.",
        "",
        "| stage | mode | first pass@1 | final pass@1 | fixed | broken | tokens/attempt "
        "plain → debugged | k | oracle pass@k | self-test pick@k |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, f in rows:
        eq = f.get("equal_tokens", {})
        mode = "/".join(
            str(f[k]) for k in ("mode", "feedback", "feedback_tests", "trace") if k in f
        )
        lines.append(
            f"| {stage} | {mode} | {_pct(f.get('first_attempt_pass@1'))} | "
            f"{_pct(f.get('final_pass@1'))} | {f.get('fixed', '-')} | {f.get('broken', '-')} | "
            f"{eq.get('tokens_per_plain_attempt', '-')} → "
            f"{eq.get('tokens_per_debugged_attempt', '-')} | "
            f"{eq.get('k', '-')} | {_pct(eq.get('oracle_pass@k'))} | "
            f"{_pct(eq.get('self_test_pick@k'))} |"
        )
    judged = [(stage, f["verdicts"]) for stage, f in rows if f.get("verdicts")]
    if judged:
        lines += [
            "",
            "In-execution verdicts: programs traced (of them, passing every self-written "
            "test), and the replies: every block judged correct (program kept), a block "
            "judged wrong, some blocks not judged, no verdict read; kept programs that are "
            "in fact wrong, and correct programs sent to revision, by the real tests:",
            "",
            "| stage | traced | passing self-tests | all correct | wrong | incomplete | "
            "unparsable | kept but wrong | correct but revised |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for stage, v in judged:
            o, good, bad = v["outcomes"], v["on_correct_programs"], v["on_wrong_programs"]
            revised = sum(n for k, n in good.items() if k != "all-correct")
            lines.append(
                f"| {stage} | {v['traced']} | {v['traced_passing_self_tests']} | "
                f"{o['all-correct']} | {o['wrong']} | {o['incomplete']} | {o['unparsable']} | "
                f"{bad['all-correct']} | {revised} |"
            )
    lines += [
        "",
        "Self-generated tests (share the canonical solution passes, where one is known):",
        "",
        "| stage | set | problems with tests | tests/problem | canonical passes | all valid |",
        "|---|---|---|---|---|---|",
    ]
    for stage, f in rows:
        for label, key in (("eval", "test_quality"), ("train", "train_test_quality")):
            q = f.get(key)
            if q:
                lines.append(
                    f"| {stage} | {label} | {q['problems_with_tests']}/{q['problems']} | "
                    f"{q['tests_per_problem']:.1f} | {_pct(q.get('canonical_pass_rate'))} | "
                    f"{q.get('problems_all_tests_valid', '-')} |"
                )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
