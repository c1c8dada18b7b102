"""Batched decoding for causal LMs on CPU, with finished rows dropped and refilled.

The engine keeps one left-padded batch of running sequences and its KV cache
(a :class:`~reasonloop.hf.decoding.kv_slab.SlabCache`). After every step,
sequences that finished (EOS, a stop string, their token limit) leave the
batch at once, so no compute is spent on them; when half the rows are free,
the next prompts, taken in order of length, are prefilled and joined to the
running batch (continuous batching). Prefill, not decoding, is where short
chats spend much of their compute, so it is shared where possible: a prompt
asked for ``n`` samples is prefilled once and its cache copied ``n`` times,
and a prefix common to a whole prefill group (the system turn) once for all.

transformers' own ``generate_batch`` (paged attention) ran at less than half
the speed of padded ``generate`` on this CPU, hence this small engine.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasonloop.hf.decoding.kv_slab import SlabCache
from reasonloop.hf.decoding.sampling import TokenChooser
from reasonloop.hf.models import import_torch

__all__ = ["BatchDecoder", "DecodeJob", "DecodedSample"]

#: Shorter common prefixes are not worth a separate forward pass.
_MIN_SHARED_PREFIX = 8
#: Fewer unused leading cache columns than this are not worth a shift.
_MIN_TRIM = 16


@dataclass
class DecodeJob:
    """One tokenized prompt to continue once per chooser (``n`` samples)."""

    prompt_ids: list[int]
    choosers: list[TokenChooser]
    max_new_tokens: int
    stop: tuple[str, ...] = ()


@dataclass
class DecodedSample:
    """One continuation: its token ids (EOS included), text and finish reason."""

    token_ids: list[int]
    text: str
    finish_reason: str


@dataclass
class _Row:
    job: int
    index: int
    chooser: TokenChooser
    max_new_tokens: int
    stop: tuple[str, ...]
    tokens: list[int] = field(default_factory=list)
    finish_reason: str | None = None


def _common_prefix(prompts: list[list[int]]) -> int:
    """Return how many leading tokens all prompts share, leaving each at least one."""
    limit = min(len(p) for p in prompts) - 1
    first = prompts[0]
    for n in range(limit):
        token = first[n]
        if any(p[n] != token for p in prompts):
            return n
    return max(limit, 0)


class _Batch:
    """The running rows with their slab KV cache, left-padded mask and next positions."""

    def __init__(self, model_config: Any, batch_size: int) -> None:
        self.slab = SlabCache(model_config, batch_size)
        self.rows: list[_Row] = []
        self.mask: Any = None
        self.positions: Any = None

    def add(self, rows: list[_Row], prefilled: Any, index: Any, mask: Any, headroom: int) -> None:
        torch = import_torch()
        positions = mask.sum(dim=1)
        if not self.rows:
            self.slab.start(prefilled, index, headroom)
            self.rows, self.mask, self.positions = rows, mask, positions
            return
        moved = self.slab.join(prefilled, index)
        old = self.mask
        if moved:
            old = torch.cat([old.new_zeros(len(self.rows), moved), old], dim=1)
        gap = old.shape[1] - mask.shape[1]
        new = torch.cat([mask.new_zeros(len(rows), gap), mask], dim=1) if gap else mask
        self.rows = self.rows + rows
        self.mask = torch.cat([old, new])
        self.positions = torch.cat([self.positions, positions])

    def keep(self, survivors: list[int]) -> None:
        torch = import_torch()
        count = len(survivors)
        # Survivors already below the new row count stay put; the others fill the gaps.
        movers = iter(i for i in survivors if i >= count)
        kept = set(survivors)
        order = [i if i in kept else next(movers) for i in range(count)]
        self.slab.keep(order)
        index = torch.tensor(order, dtype=torch.long, device=self.mask.device)
        self.rows = [self.rows[i] for i in order]
        self.mask, self.positions = self.mask[index], self.positions[index]
        if not count:
            return
        unused = int((self.mask.sum(dim=0) > 0).int().argmax())
        # Shifting costs a copy of the cache; only worth it when attention
        # would otherwise spend a quarter of its time on empty columns.
        if unused > max(_MIN_TRIM, self.mask.shape[1] // 4):
            self.slab.trim(unused)
            self.mask = self.mask[:, unused:]


class BatchDecoder:
    """Runs :class:`DecodeJob` lists through a causal LM, ``batch_size`` rows at a time.

    ``refill_at`` is the number of free rows that triggers prefilling the next
    prompts into the running batch (default: half the batch, which measured
    faster than a quarter or a single row: fewer, larger prefills);
    ``prefill_tokens`` bounds the padded size of one prefill forward pass
    (attention memory grows with its square).
    """

    def __init__(
        self,
        model: Any,
        decode: Callable[[list[int]], str],
        eos_ids: set[int],
        *,
        batch_size: int = 64,
        refill_at: int | None = None,
        prefill_tokens: int = 8192,
        share_prefix: bool = True,
    ) -> None:
        self.model, self.decode, self.eos_ids = model, decode, eos_ids
        #: Where the model's weights are (a CUDA GPU or the CPU): inputs go there.
        self.device = getattr(model, "device", "cpu")
        self.batch_size = max(1, batch_size)
        self.refill_at = refill_at if refill_at is not None else max(1, self.batch_size // 2)
        self.prefill_tokens = prefill_tokens
        self.share_prefix = share_prefix
        params = inspect.signature(model.forward).parameters
        # transformers 5 renamed ``past_key_values`` to ``cache``.
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def run(
        self,
        jobs: Sequence[DecodeJob],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[list[DecodedSample]]:
        """Decode every job; results come back in job order, one list per job."""
        torch = import_torch()
        self._results: list[list[DecodedSample | None]] = [[None] * len(j.choosers) for j in jobs]
        self._on_progress = on_progress
        pending: deque[tuple[int, list[int]]] = deque()
        # Similar lengths prefill together with little padding.
        for j in sorted(range(len(jobs)), key=lambda j: len(jobs[j].prompt_ids)):
            indices = list(range(len(jobs[j].choosers)))
            for start in range(0, len(indices), self.batch_size):
                pending.append((j, indices[start : start + self.batch_size]))
        batch = _Batch(self.model.config, self.batch_size)
        with torch.inference_mode():
            while pending or batch.rows:
                free = self.batch_size - len(batch.rows)
                taken = []
                if pending and (not batch.rows or free >= self.refill_at):
                    while pending and len(pending[0][1]) <= free:
                        free -= len(pending[0][1])
                        taken.append(pending.popleft())
                for group in self._prefill_groups(jobs, taken):
                    self._prefill(jobs, group, batch)
                if not taken and batch.rows:
                    self._step(batch)
        results, self._results = self._results, []
        return [[r for r in rs if r is not None] for rs in results]

    def _prefill_groups(
        self, jobs: Sequence[DecodeJob], taken: list[tuple[int, list[int]]]
    ) -> list[list[tuple[int, list[int]]]]:
        groups: list[list[tuple[int, list[int]]]] = []
        longest = 0
        for item in taken:
            length = len(jobs[item[0]].prompt_ids)
            if groups and max(longest, length) * (len(groups[-1]) + 1) <= self.prefill_tokens:
                groups[-1].append(item)
                longest = max(longest, length)
            else:
                groups.append([item])
                longest = length
        return groups

    def _prefill(
        self, jobs: Sequence[DecodeJob], group: list[tuple[int, list[int]]], batch: _Batch
    ) -> None:
        torch = import_torch()
        prompts = [jobs[j].prompt_ids for j, _ in group]
        cache, mask, logits = self._forward_prompts(prompts)
        rows = [
            _Row(j, i, jobs[j].choosers[i], jobs[j].max_new_tokens, jobs[j].stop)
            for j, indices in group
            for i in indices
        ]
        # Each prompt's cache is copied once per sample instead of prefilling n times.
        source = [p for p, (_, indices) in enumerate(group) for _ in indices]
        survivors = self._advance(rows, logits[source])
        if survivors:
            index = torch.tensor(
                [source[i] for i in survivors], dtype=torch.long, device=mask.device
            )
            headroom = min(max(rows[i].max_new_tokens for i in survivors), 512) + 16
            batch.add([rows[i] for i in survivors], cache, index, mask[index], headroom)

    def _forward_prompts(self, prompts: list[list[int]]) -> tuple[Any, Any, Any]:
        """Run prompts through the model; return their cache, mask and last logits.

        A prefix that all prompts share (the chat template's system turn,
        typically a third of a short prompt) is computed once; each prompt's
        remainder is then left-padded after it, leaving masked gaps between.
        """
        torch = import_torch()
        from transformers import DynamicCache

        shared = _common_prefix(prompts)
        if not self.share_prefix or len(prompts) < 2 or shared < _MIN_SHARED_PREFIX:
            shared = 0
        cache = DynamicCache(config=self.model.config)
        if shared:
            self.model(
                input_ids=torch.tensor([prompts[0][:shared]], device=self.device),
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_kw: cache},
            )
            for layer in cache.layers:
                layer.keys = layer.keys.expand(len(prompts), -1, -1, -1)
                layer.values = layer.values.expand(len(prompts), -1, -1, -1)
        rests = [p[shared:] for p in prompts]
        width = max(len(r) for r in rests)
        ids = torch.zeros(len(prompts), width, dtype=torch.long)
        mask = torch.zeros(len(prompts), shared + width, dtype=torch.long)
        mask[:, :shared] = 1
        for i, rest in enumerate(rests):
            ids[i, width - len(rest) :] = torch.tensor(rest)
            mask[i, shared + width - len(rest) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(dim=1) - 1).clamp(min=0)[:, shared:],
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kw: cache},
        )
        return cache, mask, out.logits[:, -1]

    def _step(self, batch: _Batch) -> None:
        torch = import_torch()
        last = torch.tensor([[row.tokens[-1]] for row in batch.rows], device=self.device)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones(len(batch.rows), 1)], dim=1)
        out = self.model(
            input_ids=last,
            attention_mask=batch.mask,
            position_ids=batch.positions[:, None],
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kw: batch.slab.cache},
        )
        batch.positions = batch.positions + 1
        survivors = self._advance(batch.rows, out.logits[:, -1])
        if len(survivors) < len(batch.rows):
            batch.keep(survivors)

    def _advance(self, rows: list[_Row], logits: Any) -> list[int]:
        """Append each row's next token; record finished rows; return the others' indices."""
        tokens = TokenChooser.choose(logits, [row.chooser for row in rows])
        survivors: list[int] = []
        for i, (row, token) in enumerate(zip(rows, tokens, strict=True)):
            row.tokens.append(token)
            if token in self.eos_ids or self._hit_stop(row):
                row.finish_reason = "stop"
            elif len(row.tokens) >= row.max_new_tokens:
                row.finish_reason = "length"
            if row.finish_reason is None:
                survivors.append(i)
            else:
                self._results[row.job][row.index] = self._result(row)
        if self._on_progress is not None:
            self._on_progress(len(rows) - len(survivors), len(tokens))
        return survivors

    def _hit_stop(self, row: _Row) -> bool:
        if not row.stop:
            return False
        # A stop string of L characters spans at most ~L tokens (byte-level
        # tokens may split a character, hence the margin).
        window = 4 * max(len(s) for s in row.stop) + 2
        tail = self.decode(row.tokens[-window:])
        return any(s in tail for s in row.stop)

    def _result(self, row: _Row) -> DecodedSample:
        ids = row.tokens
        text_ids = ids[:-1] if ids and ids[-1] in self.eos_ids else ids
        text = self.decode(text_ids)
        if row.stop:
            cut = min((k for k in (text.find(s) for s in row.stop) if k >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
        return DecodedSample(token_ids=list(ids), text=text, finish_reason=row.finish_reason or "")
