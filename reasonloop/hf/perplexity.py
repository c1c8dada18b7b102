"""Perplexity of training examples under a model, on the tokens a trainer learns.

Data-selection and curriculum plugins score candidate examples by how
surprising they are to a model. The score is taken on exactly the tokens the
trainer computes its loss on (``tokenize_row``: the completion of a
prompt/completion row, the trained turns of a multi-turn row), so a long
question does not dilute it and a masked wrong attempt does not count.

Rows are scored in length-sorted, padded batches without gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from reasonloop.hf.models import import_torch, load_causal_lm, load_tokenizer
from reasonloop.hf.tokenize import tokenize_row

__all__ = ["PerplexityScorer", "example_perplexities"]


class PerplexityScorer:
    """One loaded model that scores TRL-format rows; reuse it for many calls."""

    def __init__(
        self, model: str, *, dtype: str = "float32", max_length: int = 1024, device: str = "cpu"
    ):
        self.model_spec = model
        self.max_length = max_length
        self.device = device
        self.tokenizer = load_tokenizer(model)
        self.model = load_causal_lm(model, dtype=dtype)
        if device != "cpu":
            self.model = self.model.to(device)

    def score(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        batch_size: int = 8,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float | None]:
        """Perplexity of each row on its trained tokens (``None``: nothing trained).

        ``on_progress(k)`` is called after each batch with the number of rows
        it scored.
        """
        torch = import_torch()
        encoded = [tokenize_row(dict(r), self.tokenizer, self.max_length) for r in rows]
        order = sorted(
            (i for i, e in enumerate(encoded) if e is not None),
            key=lambda i: len(encoded[i]["input_ids"]),  # type: ignore[index]
        )
        out: list[float | None] = [None] * len(rows)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id or 0
        skipped = len(rows) - len(order)
        if skipped and on_progress:
            on_progress(skipped)
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                width = max(len(encoded[i]["input_ids"]) for i in chunk)  # type: ignore[index]
                ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                labels = torch.full((len(chunk), width), -100, dtype=torch.long)
                attention = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    e = encoded[i]
                    n = len(e["input_ids"])  # type: ignore[index]
                    ids[row, :n] = torch.tensor(e["input_ids"])  # type: ignore[index]
                    labels[row, :n] = torch.tensor(e["labels"])  # type: ignore[index]
                    attention[row, :n] = 1
                ids, attention = ids.to(self.device), attention.to(self.device)
                labels = labels.to(self.device)
                logits = self.model(input_ids=ids, attention_mask=attention).logits.float()
                shift_logits = logits[:, :-1, :]
                shift_labels = labels[:, 1:]
                nll = torch.nn.functional.cross_entropy(
                    shift_logits.reshape(-1, shift_logits.size(-1)),
                    shift_labels.reshape(-1),
                    ignore_index=-100,
                    reduction="none",
                ).view(len(chunk), -1)
                counted = (shift_labels != -100).sum(dim=1)
                for row, i in enumerate(chunk):
                    k = int(counted[row])
                    if k == 0:
                        continue
                    out[i] = math.exp(float(nll[row].sum()) / k)
                if on_progress:
                    on_progress(len(chunk))
        return out

    def close(self) -> None:
        del self.model
        import gc

        gc.collect()


def example_perplexities(
    model: str,
    rows: Sequence[dict[str, Any]],
    *,
    batch_size: int = 8,
    max_length: int = 1024,
    on_progress: Callable[[int], None] | None = None,
) -> list[float | None]:
    """Load ``model``, score ``rows`` (TRL-format dicts), free the model."""
    scorer = PerplexityScorer(model, max_length=max_length)
    try:
        return scorer.score(rows, batch_size=batch_size, on_progress=on_progress)
    finally:
        scorer.close()
