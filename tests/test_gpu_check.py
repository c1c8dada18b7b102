"""scripts/gpu-check.sh: its every step run on the CPU with a tiny random model.

The CUDA figures need a GPU (docs/scaling.md shows how to get them); what
runs here is the same script, through the same shell wrapper, on ``cpu``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _gpu_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu-check.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=1500,
    )


def test_without_a_gpu_it_says_so_and_exits_2():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    done = _gpu_check("--size", "tiny")
    assert done.returncode == 2, done.stderr
    assert "no CUDA device is visible" in done.stdout


@pytest.mark.slow
def test_every_step_runs_on_cpu_with_a_random_tiny_model(smollm2, tmp_path):
    out = tmp_path / "check"
    done = _gpu_check(
        "--size", "tiny", "--steps", "1", "--prompts", "4", "--max-tokens", "8",
        "--batch", "4", "--rows", "16", "--out", str(out),
        env={"DEVICE": "cpu"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "gpu-check.json").read_text())
    assert report["model"]["weights"].startswith("random")
    assert (out / "random-tiny" / "config.json").is_file()
    generation = report["transformers"]
    assert generation["dtype"] == "bfloat16" and generation["completions"] == 4
    assert 0 < generation["tokens"] <= 4 * 8 and generation["tokens_per_s"] > 0
    lora, full = report["trl_sft_lora"], report["trl_sft_full"]
    assert lora["steps"] == full["steps"] == 1
    assert (Path(lora["adapter"]) / "adapter_config.json").is_file()
    assert full["adapter"] is None and (Path(full["model"]) / "config.json").is_file()
    # Random weights over a 49k vocabulary: the loss is about ln(49152) = 10.8.
    assert all(math.isfinite(r["loss"]) and 9 < r["loss"] < 12 for r in (lora, full))
    assert report["perplexity"]["scored"] == report["perplexity"]["rows"] == 16
    assert report["vllm"] == {"skipped": "not on CUDA"}
    assert all("peak_rss_gb" in report[k] for k in ("transformers", "trl_sft_full"))
    assert "| trl_sft_lora |" in done.stdout and "tokens_per_s" in done.stdout
