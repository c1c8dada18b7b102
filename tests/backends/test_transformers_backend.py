"""TransformersBackend on the real packaged SmolLM2-135M model."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop.backends.transformers_backend import (
    TransformersBackend,
    cpu_supports_bf16,
    resolve_dtype,
)
from reasonloop.core.protocols import Backend
from reasonloop.core.records import Message, Request, SamplingParams
from reasonloop.errors import UsageError
from reasonloop.hf.decoding.sampling import TokenChooser, sample_seed

QUESTION = (
    "Tom has 23 apples and buys 19 more. How many apples does he have? "
    "Solve it briefly, then end with 'Answer: <number>'."
)

torch = pytest.importorskip("torch")


def request(rid: str, content: str = QUESTION, **fields: object) -> Request:
    return Request(
        id=rid, problem_id="p", messages=[Message(role="user", content=content)], **fields
    )


@pytest.fixture(scope="module")
def backend(smollm2: str) -> TransformersBackend:
    b = TransformersBackend(smollm2, defaults=SamplingParams(max_tokens=16))
    yield b
    b.close()


@pytest.fixture(scope="module")
def fp32(smollm2: str) -> TransformersBackend:
    """A float32 backend decoding two rows at a time, so that every engine path runs."""
    b = TransformersBackend(smollm2, dtype="float32", batch_size=2)
    yield b
    b.close()


@pytest.fixture(scope="module")
def greedy(backend: TransformersBackend):
    """The default greedy completion of QUESTION, shared by several tests."""
    return backend.generate([request("g")])[0][0]


# -- without the model -------------------------------------------------------


def test_bf16_detection_reads_cpu_flags(tmp_path: Path) -> None:
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    without = tmp_path / "avx2"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_supports_bf16(with_bf16)
    assert not cpu_supports_bf16(without)
    assert not cpu_supports_bf16(tmp_path / "missing")
    assert resolve_dtype("float32") == "float32"
    assert resolve_dtype("auto") in {"float32", "bfloat16"}
    with pytest.raises(UsageError):
        resolve_dtype("int8")


def test_sample_seeds_are_stable_and_distinct() -> None:
    assert sample_seed(3, 0) == sample_seed(3, 0)
    assert len({sample_seed(3, i) for i in range(100)}) == 100
    assert 0 <= sample_seed("x") < 2**63


def test_token_chooser_top_p_and_greedy() -> None:
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]] * 3)
    choosers = [
        TokenChooser(),
        TokenChooser(temperature=1.0, top_p=0.01, seed=1),  # nucleus of one token
        TokenChooser(temperature=1.0, top_p=1.0, seed=2),
    ]
    for _ in range(20):
        tokens = TokenChooser.choose(logits, choosers)
        assert tokens[:2] == [1, 1]
        assert tokens[2] in {0, 1, 2, 3}


# -- with the model ----------------------------------------------------------


@pytest.mark.slow
def test_implements_backend_protocol(backend: TransformersBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.dtype in backend.describe()


@pytest.mark.slow
def test_greedy_is_deterministic(backend: TransformersBackend, greedy) -> None:
    again = backend.generate([request("g2"), request("g3")])
    assert [cs[0].text for cs in again] == [greedy.text, greedy.text]
    assert greedy.text.strip()


@pytest.mark.slow
def test_n_samples_are_seeded_and_reported(backend: TransformersBackend) -> None:
    seen: list[tuple[int, int]] = []
    sampling = SamplingParams(n=3, temperature=1.0, seed=11)
    first = backend.generate(
        [request("s", sampling=sampling)], on_progress=lambda *a: seen.append(a)
    )
    assert len(first[0]) == 3
    assert len({c.text for c in first[0]}) > 1
    assert sum(done for done, _ in seen) == 3
    assert sum(tokens for _, tokens in seen) == sum(c.completion_tokens for c in first[0])
    again = backend.generate([request("s", sampling=sampling)])
    assert [c.text for c in again[0]] == [c.text for c in first[0]]
    unseeded = backend.generate([request("s", sampling=SamplingParams(n=3, temperature=1.0))])
    assert [c.text for c in unseeded[0]] != [c.text for c in first[0]]


@pytest.mark.slow
def test_seeded_samples_ignore_batch_composition(fp32: TransformersBackend) -> None:
    # float32: bfloat16 rounding can differ with the batch's shape.
    sampling = SamplingParams(n=3, temperature=1.0, seed=11, max_tokens=10)
    alone = fp32.generate([request("s", sampling=sampling)])[0]
    other = request(
        "o",
        "Ann has 40 pens and loses 3. How many are left? Explain it in detail.",
        sampling=SamplingParams(n=2, temperature=1.0, max_tokens=6),
    )
    mixed = fp32.generate([other, request("s2", sampling=sampling)])[1]
    assert [c.text for c in mixed] == [c.text for c in alone]


@pytest.mark.slow
def test_stop_string_truncates(backend: TransformersBackend, greedy) -> None:
    stop = greedy.text[6:9]
    assert stop and stop in greedy.text
    out = backend.generate([request("st", sampling=SamplingParams(stop=[stop]))])[0][0]
    assert out.text == greedy.text[: greedy.text.index(stop)]
    assert out.finish_reason == "stop"
    assert out.completion_tokens < greedy.completion_tokens


@pytest.mark.slow
def test_prefill_is_continued_and_excluded(backend: TransformersBackend, greedy) -> None:
    prefill = " ".join(greedy.text.split(" ")[:3])
    out = backend.generate([request("pf", prefill=prefill)])[0][0]
    assert not out.text.startswith(prefill)
    # Greedy decoding from its own prefix continues as it did without it.
    whole = prefill + out.text
    assert whole[: len(greedy.text)] == greedy.text[: len(whole)]
    assert out.prompt_tokens > greedy.prompt_tokens


@pytest.mark.slow
def test_token_counts_match_tokenizer(backend: TransformersBackend, greedy) -> None:
    tok = backend.tokenizer
    messages = [{"role": "user", "content": QUESTION}]
    prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    prompt_ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    assert greedy.prompt_tokens == len(prompt_ids)
    assert greedy.finish_reason == "length"
    assert greedy.completion_tokens == 16
    assert len(tok(greedy.text, add_special_tokens=False)["input_ids"]) == 16


@pytest.mark.slow
def test_max_tokens_gives_length(backend: TransformersBackend) -> None:
    out = backend.generate([request("m", sampling=SamplingParams(max_tokens=5, n=2))])[0]
    assert [(c.completion_tokens, c.finish_reason) for c in out] == [(5, "length")] * 2


@pytest.mark.slow
def test_eos_finishes_with_stop(backend: TransformersBackend) -> None:
    out = backend.generate(
        [request("e", "Reply with the single word: yes", sampling=SamplingParams(max_tokens=40))]
    )
    c = out[0][0]
    assert c.finish_reason == "stop"
    assert c.completion_tokens < 40
    assert "<|im_end|>" not in c.text


@pytest.mark.slow
def test_results_come_back_in_request_order(backend: TransformersBackend) -> None:
    # Lengths differ a lot, so the engine's length sort reorders them.
    contents = [QUESTION * 3, "Hi", QUESTION, "What is 2 + 2?" * 4, "Count to three."]
    requests = [
        request(f"r{i}", c, sampling=SamplingParams(n=i % 3 + 1, max_tokens=4))
        for i, c in enumerate(contents)
    ]
    results = backend.generate(requests)
    assert [len(cs) for cs in results] == [r.sampling.n for r in requests]
    expected = [len(backend.prompt_ids(r)) for r in requests]
    assert [cs[0].prompt_tokens for cs in results] == expected
    assert len(set(expected)) == len(expected)


@pytest.mark.slow
def test_system_message_is_passed_through(backend: TransformersBackend) -> None:
    plain = request("d")
    with_system = Request(
        id="sy",
        problem_id="p",
        messages=[Message(role="system", content="You are terse."), *plain.messages],
    )
    default_ids, system_ids = backend.prompt_ids(plain), backend.prompt_ids(with_system)
    text = backend.tokenizer.decode(system_ids)
    assert "You are terse." in text
    assert "You are terse." not in backend.tokenizer.decode(default_ids)
    assert default_ids != system_ids


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_lora_adapter_changes_outputs(greedy, smollm2: str, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from reasonloop.hf.models import load_causal_lm

    torch.manual_seed(0)
    config = LoraConfig(
        r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(load_causal_lm(smollm2), config)
    peft_model.save_pretrained(tmp_path / "adapter")
    adapted = TransformersBackend(
        smollm2, adapter=str(tmp_path / "adapter"), defaults=SamplingParams(max_tokens=16)
    )
    try:
        out = adapted.generate([request("a")])[0][0]
        assert out.text != greedy.text
        assert "adapter" in adapted.describe()
    finally:
        adapted.close()


@pytest.mark.slow
def test_close_is_idempotent(smollm2: str) -> None:
    b = TransformersBackend(smollm2, defaults=SamplingParams(max_tokens=2))
    b.close()
    b.close()
    with pytest.raises(UsageError):
        b.generate([request("c")])


@pytest.mark.slow
def test_refilled_batches_match_plain_generate(fp32: TransformersBackend) -> None:
    """Row dropping, refilling, shared prefixes and the slab cache change nothing.

    Five prompts of different lengths through two rows at a time force every
    path; in float32 greedy decoding must match transformers' ``generate``
    run on each prompt alone.
    """
    contents = ["Hi", QUESTION, "What is 7 times 8?", "Name a colour.", QUESTION * 2]
    limits = [12, 5, 9, 3, 12]  # rows leave at different steps
    requests = [
        request(f"f{i}", c, sampling=SamplingParams(max_tokens=m))
        for i, (c, m) in enumerate(zip(contents, limits, strict=True))
    ]
    got = [cs[0].text for cs in fp32.generate(requests)]
    expected = []
    for r in requests:
        ids = torch.tensor([fp32.prompt_ids(r)])
        with torch.inference_mode():
            out = fp32.model.generate(ids, max_new_tokens=r.sampling.max_tokens, do_sample=False)
        expected.append(fp32.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    assert got == expected


@pytest.mark.slow
def test_token_logprobs_score_as_the_perplexity_scorer_does(fp32: TransformersBackend) -> None:
    from reasonloop.hf.perplexity import PerplexityScorer, score_rows

    assert fp32.scores_tokens
    ids = fp32.tokenizer(["12 + 7 = 19. Answer: 19", "zq vorp", "a"])["input_ids"]
    together = fp32.token_logprobs(ids)
    alone = [fp32.token_logprobs([s])[0] for s in ids]
    for seq, a, b in zip(ids, together, alone, strict=True):
        assert len(a) == len(seq) and a[0] is None
        assert all(x is not None and x <= 0 for x in a[1:])
        assert a[1:] == pytest.approx(b[1:], abs=1e-4)  # padding changes nothing
    rows = [
        {
            "prompt": [{"role": "user", "content": "What is 12 + 7?"}],
            "completion": [{"role": "assistant", "content": "12 + 7 = 19. Answer: 19"}],
        }
    ]
    scorer = PerplexityScorer(fp32.model_spec)
    try:
        expected = scorer.score(rows)
    finally:
        scorer.close()
    got = score_rows(fp32.token_logprobs, fp32.tokenizer, rows)
    assert got == pytest.approx(expected, rel=1e-4)
