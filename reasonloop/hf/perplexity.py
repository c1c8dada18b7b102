"""Perplexity of training examples under a model, on the tokens a trainer learns.

Data-selection and curriculum plugins score candidate examples by how
surprising they are to a model. The score is taken on exactly the tokens the
trainer computes its loss on (``tokenize_row``: the completion of a
prompt/completion row, the trained turns of a multi-turn row), so a long
question does not dilute it and a masked wrong attempt does not count.

The work is split in two so that any engine can do the forward passes:
:func:`score_rows` tokenizes rows and turns per-token log-probabilities into
perplexities; a ``token_logprobs`` callable supplies those log-probabilities
for batches of token-id sequences. :func:`token_logprobs` is that callable for
a loaded transformers model (length-sorted, padded batches, no gradients);
the generation backends offer the same method (``Backend.token_logprobs``:
vLLM's prompt logprobs, a server's ``echo`` logprobs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from reasonloop.hf.models import import_torch, load_causal_lm, load_tokenizer
from reasonloop.hf.tokenize import tokenize_row

__all__ = [
    "LogprobFn",
    "PerplexityScorer",
    "example_perplexities",
    "score_rows",
    "token_logprobs",
    "trained_perplexity",
]

#: ``fn(sequences)``: per sequence, log p(token t | tokens before t) for every
#: t, ``None`` at t = 0 (nothing precedes it).
LogprobFn = Callable[[Sequence[Sequence[int]]], list[list[float | None]]]


def token_logprobs(
    model: Any,
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int = 8,
    device: str = "cpu",
) -> list[list[float | None]]:
    """Each token's log-probability given the tokens before it, under a transformers model.

    Sequences are scored in length-sorted, right-padded batches of
    ``batch_size`` without gradients; the first token of each gets ``None``.
    """
    torch = import_torch()
    out: list[list[float | None]] = [[] for _ in sequences]
    order = sorted((i for i, s in enumerate(sequences) if s), key=lambda i: len(sequences[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(sequences[i]) for i in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(sequences[i])
                ids[row, :n] = torch.tensor(list(sequences[i]))
                attention[row, :n] = 1
            ids, attention = ids.to(device), attention.to(device)
            logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits.float()
            # log p(ids[t] | ids[<t]) sits at position t - 1 of the logits.
            picked = torch.log_softmax(logits[:, :-1, :], dim=-1).gather(
                -1, ids[:, 1:].unsqueeze(-1)
            )
            picked = picked.squeeze(-1).cpu().tolist()
            for row, i in enumerate(chunk):
                out[i] = [None, *picked[row][: len(sequences[i]) - 1]]
    return out


def trained_perplexity(logprobs: Sequence[float | None], labels: Sequence[int]) -> float | None:
    """exp of the mean negative log-probability over the trained tokens (labels != -100).

    ``None`` when no token after the first is trained. A trained token
    without a log-probability is an error: leaving it out would change the
    score silently.
    """
    trained = [t for t in range(1, len(labels)) if labels[t] != -100]
    if not trained:
        return None
    missing = [t for t in trained if t >= len(logprobs) or logprobs[t] is None]
    if missing:
        raise ValueError(f"no log-probability for trained token positions {missing[:5]}")
    total = sum(float(logprobs[t]) for t in trained)  # type: ignore[arg-type]
    return math.exp(-total / len(trained))


def score_rows(
    logprobs: LogprobFn,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    max_length: int = 1024,
    batch_size: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> list[float | None]:
    """Perplexity of each TRL-format row on its trained tokens (``None``: nothing trained).

    ``logprobs`` receives ``batch_size`` rows at a time (an engine that
    batches by itself may take them all at once: pass a large
    ``batch_size``); ``on_progress(k)`` is called after each batch with the
    number of rows it scored.
    """
    encoded = [tokenize_row(dict(r), tokenizer, max_length) for r in rows]
    todo = [i for i, e in enumerate(encoded) if e is not None]
    out: list[float | None] = [None] * len(rows)
    if len(todo) < len(rows) and on_progress:
        on_progress(len(rows) - len(todo))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        scored = logprobs([encoded[i]["input_ids"] for i in chunk])  # type: ignore[index]
        for i, lp in zip(chunk, scored, strict=True):
            out[i] = trained_perplexity(lp, encoded[i]["labels"])  # type: ignore[index]
        if on_progress:
            on_progress(len(chunk))
    return out


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

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    def token_logprobs(
        self, sequences: Sequence[Sequence[int]], batch_size: int = 8
    ) -> list[list[float | None]]:
        """Each token's log-probability given those before it (see :func:`token_logprobs`)."""
        return token_logprobs(
            self.model, sequences, pad_id=self.pad_id, batch_size=batch_size, device=self.device
        )

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
        return score_rows(
            lambda seqs: self.token_logprobs(seqs, batch_size),
            self.tokenizer,
            rows,
            max_length=self.max_length,
            batch_size=batch_size,
            on_progress=on_progress,
        )

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
