"""trl-dpo and trl-kto on the real SmolLM2-135M: options, data, real (tiny) training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reasonloop.core.protocols import Trainer, capability
from reasonloop.errors import UsageError
from reasonloop.hf.models import load_causal_lm, load_tokenizer
from reasonloop.trainers.trl_dpo import TrlDpoOptions, TrlDpoTrainer
from reasonloop.trainers.trl_kto import TrlKtoOptions, TrlKtoTrainer
from reasonloop.trainers.trl_sft_launch import launch_command

SYSTEM = {"role": "system", "content": "Answer briefly."}


def pairs(n: int) -> list[dict[str, Any]]:
    """Right over off-by-one sums, in the conversational form preferences.jsonl has."""
    rows = []
    for i in range(n):
        a, b = 11 + i, 7 + 3 * i
        rows.append(
            {
                "prompt": [SYSTEM, {"role": "user", "content": f"What is {a} + {b}?"}],
                "chosen": [{"role": "assistant", "content": f"{a} + {b} = {a + b}."}],
                "rejected": [{"role": "assistant", "content": f"{a} + {b} = {a + b + 1}."}],
                "source": "pairs",
            }
        )
    return rows


def sft_rows(n: int) -> list[dict[str, Any]]:
    return [{"prompt": r["prompt"], "completion": r["chosen"]} for r in pairs(n)]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def completion_logp(model: Any, tokenizer: Any, prompt: list, completion: list) -> float:
    """log p(completion | prompt) under the chat template, summed over the completion."""
    import torch

    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    assert full.startswith(head)
    ids = tokenizer(full, add_special_tokens=False, return_tensors="pt")["input_ids"]
    start = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logp[start - 1 :].sum())


def margin(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> float:
    """Mean log p(chosen) - log p(rejected): what DPO raises."""
    total = 0.0
    for r in rows:
        total += completion_logp(model, tokenizer, r["prompt"], r["chosen"])
        total -= completion_logp(model, tokenizer, r["prompt"], r["rejected"])
    return total / len(rows)


def weights_differ(a: Any, b: Any) -> bool:
    import torch

    sb = b.state_dict()
    return any(not torch.equal(v, sb[k]) for k, v in a.state_dict().items())


# --- options -----------------------------------------------------------------


def test_both_are_trainers_that_read_preference_files() -> None:
    for cls in (TrlDpoTrainer, TrlKtoTrainer):
        trainer = cls({})
        assert isinstance(trainer, Trainer)
        assert capability(trainer, "uses_preferences") and capability(trainer, "changes_model")
        assert not capability(trainer, "accepts_order")
    assert TrlDpoTrainer({}).data_file == "preferences.jsonl"
    assert TrlKtoTrainer({}).data_file == "unpaired.jsonl"
    assert TrlKtoTrainer({"data": "pairs"}).data_file == "preferences.jsonl"
    assert TrlDpoTrainer({"method": "lora"}).trains_adapter


def test_objective_defaults_are_trls() -> None:
    import trl

    def default(cls: Any, name: str) -> Any:
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        return f.default if f.default is not dataclasses.MISSING else f.default_factory()

    dpo, kto = TrlDpoOptions(), TrlKtoOptions()
    assert dpo.beta == default(trl.DPOConfig, "beta")
    assert [dpo.loss_type] == default(trl.DPOConfig, "loss_type")
    assert dpo.label_smoothing == default(trl.DPOConfig, "label_smoothing")
    assert dpo.resolved_learning_rate() == default(trl.DPOConfig, "learning_rate")
    assert kto.beta == default(trl.KTOConfig, "beta")
    assert kto.loss_type == default(trl.KTOConfig, "loss_type")
    assert kto.desirable_weight == default(trl.KTOConfig, "desirable_weight")
    assert kto.resolved_learning_rate() == default(trl.KTOConfig, "learning_rate")
    assert TrlDpoOptions(method="lora").resolved_learning_rate() == 1e-5


def test_unknown_and_bad_options_are_rejected() -> None:
    with pytest.raises(ValidationError, match="bta"):
        TrlDpoTrainer({"bta": 0.2})
    with pytest.raises(ValidationError, match="beta"):
        TrlKtoTrainer({"beta": 0})
    with pytest.raises(ValidationError, match="data"):
        TrlKtoTrainer({"data": "verdicts"})
    # The SFT step's options are trl-sft's, checked as strictly.
    with pytest.raises(ValidationError, match=r"sft\.epoch"):
        TrlDpoTrainer({"sft": {"epoch": 1}})


def test_sft_first_needs_the_sft_data_apart(tmp_path: Path) -> None:
    data = write(tmp_path / "preferences.jsonl", pairs(2))
    with pytest.raises(UsageError, match=r"trainer\.options\.sft"):
        TrlDpoTrainer({"sft": {}}).train(data, "unused", tmp_path / "out")


def test_no_rows_keeps_the_model(tmp_path: Path) -> None:
    empty = write(tmp_path / "unpaired.jsonl", [])
    result = TrlKtoTrainer({}).train(tmp_path / "train.jsonl", "unused", tmp_path / "out",
                                     unpaired=empty)  # fmt: skip
    assert result.model_path is None
    assert result.metrics == {"skipped": "no rows in unpaired.jsonl"}


def test_kto_splits_pairs_into_labelled_rows_once_each() -> None:
    rows = pairs(2)
    rows.append({**rows[0], "rejected": [{"role": "assistant", "content": "no idea"}]})
    got = TrlKtoTrainer({"data": "pairs", "shuffle": False}).rows(rows)
    assert [(r["completion"][0]["content"], r["label"]) for r in got] == [
        ("11 + 7 = 18.", True),
        ("11 + 7 = 19.", False),
        ("12 + 10 = 22.", True),
        ("12 + 10 = 23.", False),
        ("no idea", False),  # the repeated chosen answer is one desirable row
    ]
    shuffled = TrlKtoTrainer({"data": "pairs", "seed": 3}).rows(rows)
    assert shuffled == TrlKtoTrainer({"data": "pairs", "seed": 3}).rows(rows) != got
    assert sorted(map(json.dumps, shuffled)) == sorted(map(json.dumps, got))


def test_the_launch_runs_the_named_trainer(tmp_path: Path) -> None:
    cmd = launch_command({"num_processes": 2}, tmp_path / "p.jsonl", "m", tmp_path, "trl-dpo")
    assert cmd[cmd.index("--trainer") + 1] == "trl-dpo"
    assert cmd[cmd.index("--data") + 1] == str(tmp_path / "p.jsonl")


# --- training ----------------------------------------------------------------


@pytest.mark.slow
def test_sft_then_dpo_in_one_step_raises_the_margin(tmp_path: Path, smollm2: str) -> None:
    rows = pairs(8)
    prefs = write(tmp_path / "preferences.jsonl", rows)
    train = write(tmp_path / "train.jsonl", sft_rows(8))
    progress: list[tuple[int, int]] = []
    common = {"epochs": 1, "batch_size": 4, "max_length": 128, "dtype": "float32"}
    trainer = TrlDpoTrainer({**common, "learning_rate": 5e-5, "sft": {**common}})
    result = trainer.train(
        train, smollm2, tmp_path / "out", lambda d, t: progress.append((d, t)), preferences=prefs
    )

    assert result.model_path == str(tmp_path / "out" / "model")
    assert result.metrics["sft"]["steps"] == 2 and result.metrics["steps"] == 2
    assert result.metrics["rows"] == 8 and result.metrics["tokens"] > 0
    # One bar for both steps: SFT's 2, then DPO's 2 after them.
    assert progress[-1] == (4, 4) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    sft = load_causal_lm(str(tmp_path / "out" / "sft" / "model"))
    trained = load_causal_lm(result.model_path)
    assert trained.config.use_cache
    assert weights_differ(sft, trained) and weights_differ(load_causal_lm(smollm2), sft)
    tokenizer = load_tokenizer(result.model_path)
    # DPO's reference was the SFT model: the margin grows from there.
    assert margin(trained, tokenizer, rows) > margin(sft, tokenizer, rows)


@pytest.mark.slow
def test_kto_lora_on_unpaired_rows_saves_one_adapter(tmp_path: Path, smollm2: str) -> None:
    rows = []
    for r in pairs(4):
        rows.append({"prompt": r["prompt"], "completion": r["chosen"], "label": True})
        rows.append({"prompt": r["prompt"], "completion": r["rejected"], "label": False})
    data = write(tmp_path / "unpaired.jsonl", rows)
    trainer = TrlKtoTrainer(
        {"method": "lora", "lora_r": 4, "epochs": 1, "batch_size": 4, "max_length": 128,
         "learning_rate": 1e-3, "dtype": "float32"}
    )  # fmt: skip
    result = trainer.train(tmp_path / "train.jsonl", smollm2, tmp_path / "out", unpaired=data)

    assert result.metrics["steps"] == 2 and result.metrics["rows"] == 8
    adapter = Path(result.adapter_path)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    # TRL's frozen reference copy is not saved: only the trained adapter.
    assert not [p for p in adapter.iterdir() if p.is_dir()]
    merged = load_causal_lm(result.model_path)
    assert not any("lora" in name for name in merged.state_dict())
    assert weights_differ(load_causal_lm(smollm2), merged)
