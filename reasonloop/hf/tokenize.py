"""Token ids and loss masks of TRL-format training rows, as a trainer learns them.

One data file may mix the two forms ``TrainingExample.to_trl`` writes, and
every row gets the same kind of loss mask:

- prompt/completion rows train the completion only, token for token what
  TRL's own preparation does by default;
- ``messages`` rows train every assistant turn, or only the message indices
  listed in an optional ``train_turns`` column (the data file holds TRL's
  forms, which cannot carry reasonloop's per-turn ``train`` flags).

SmolLM2's chat template has no ``{% generation %}`` markers and TRL has no
training template for it, so TRL's ``assistant_only_loss`` cannot be used;
rendering the conversation turn by turn works with any template that renders
a conversation's prefix the same way on its own. The ``trl-sft`` trainer
trains on these masks and the perplexity scorer scores on them.
"""

from __future__ import annotations

import logging
from typing import Any

from reasonloop.errors import UsageError

__all__ = ["tokenize_row"]

logger = logging.getLogger(__name__)


def tokenize_row(row: dict[str, Any], tokenizer: Any, max_length: int) -> dict[str, Any] | None:
    """Return ``input_ids`` and ``labels`` (-100 where no loss) for one data row.

    Prompt/completion rows train the completion, ``messages`` rows their
    assistant turns (or the indices in ``train_turns``). Returns ``None`` when
    nothing trainable is left within ``max_length``.
    """
    if row.get("messages") is not None:
        messages = row["messages"]
        turns = row.get("train_turns")
        if turns is None:
            turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        ids, mask = _chat_ids_and_mask(messages, set(turns), tokenizer)
    elif row.get("prompt") is not None and row.get("completion") is not None:
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, str):
            ids, mask = _text_ids_and_mask(prompt, completion, tokenizer)
        else:
            messages = list(prompt) + list(completion)
            ids, mask = _chat_ids_and_mask(
                messages, set(range(len(prompt), len(messages))), tokenizer
            )
    else:
        raise UsageError(
            f"training row has neither 'messages' nor 'prompt'/'completion': {sorted(row)}"
        )
    ids, mask = ids[:max_length], mask[:max_length]
    loss_tokens = sum(mask)
    if not loss_tokens:
        return None
    labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
    return {"input_ids": ids, "labels": labels, "loss_tokens": loss_tokens}


def _render(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
    if not messages:
        return []
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
    )
    return list(out["input_ids"])


def _chat_ids_and_mask(
    messages: list[dict[str, Any]], trained: set[int], tokenizer: Any
) -> tuple[list[int], list[int]]:
    # Turn i's tokens are those that messages[: i + 1] adds to messages[:i]
    # (with the assistant header when turn i is the assistant's, as at
    # inference); the same rule TRL applies to a prompt and its completion.
    ids = _render(tokenizer, messages, generation_prompt=False)
    mask = [0] * len(ids)
    for i in sorted(trained):
        if not 0 <= i < len(messages):
            raise UsageError(f"train_turns index {i} is out of range for {len(messages)} messages")
        before = _render(tokenizer, messages[:i], messages[i]["role"] == "assistant")
        upto = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        start, end = _common_prefix(before, upto), _common_prefix(upto, ids)
        if end < len(upto):
            logger.warning("the chat template is not prefix-preserving; turn masks may be off")
        for j in range(start, end):
            mask[j] = 1
    return ids, mask


def _text_ids_and_mask(prompt: str, completion: str, tokenizer: Any) -> tuple[list[int], list[int]]:
    eos = tokenizer.eos_token or ""
    if not completion.endswith(eos):
        completion += eos
    before = list(tokenizer(prompt)["input_ids"])
    ids = list(tokenizer(prompt + completion)["input_ids"])
    start = _common_prefix(before, ids)
    return ids, [0] * start + [1] * (len(ids) - start)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
