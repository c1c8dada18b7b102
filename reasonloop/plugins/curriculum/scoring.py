"""Perplexities of training examples under the curriculum's reference models, cached per iteration.

Scoring goes through the backend the settings name (``transformers`` on the
CPU by default; ``vllm`` or ``openai`` on GPU machines): the plugin builds it
for one model, tokenizes each row as the trainer does, asks the backend for
the log-probability of every token (``Backend.token_logprobs``, one batched
call per chunk of rows) and keeps the perplexity over the trained tokens
(:func:`reasonloop.hf.perplexity.score_rows`). Every perplexity is appended
to ``iter-NNN/curriculum.jsonl`` as soon as its chunk is scored, so a resumed
run scores nothing twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reasonloop.core.rundir import JsonlLog
from reasonloop.plugins.curriculum.settings import CurriculumSettings

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext
    from reasonloop.core.records import TrainingExample

__all__ = ["SCORES", "ScoreRecord", "perplexities"]

#: Per iteration: every perplexity computed, one JSON line per (model, example).
SCORES = "curriculum.jsonl"
#: Rows per call to the backend, and between two appends to the cache: a
#: crash loses at most these.
_CHUNK = 64


class ScoreRecord(BaseModel):
    """One cached perplexity: of example ``id`` under ``model`` (``None``: nothing trained)."""

    model: str
    id: str
    perplexity: float | None


def perplexities(
    model: str,
    examples: list[TrainingExample],
    ctx: IterationContext,
    settings: CurriculumSettings,
    label: str,
) -> dict[str, float | None]:
    """Each example's perplexity under ``model``, from the iteration's cache where it has one."""
    log = JsonlLog(ctx.run.run_dir.stage_dir(ctx.iteration) / SCORES, ScoreRecord)
    log.repair()
    known = {r.id: r.perplexity for r in log if r.model == model}
    todo = [ex for ex in examples if ex.id not in known]
    if todo:
        from reasonloop.hf.perplexity import score_rows

        ctx.run.progress.event(
            f"iteration {ctx.iteration}: curriculum scores {len(todo)} examples "
            f"under the {label} model {model} ({settings.backend})"
        )
        backend = ctx.run.backends.get(settings.backend)(model, settings.backend_options_for())
        try:
            tokenizer = _tokenizer(backend, model, settings)
            name = f"curriculum iter {ctx.iteration}: {label} perplexity"
            with ctx.run.progress.task(name, total=len(todo), unit="examples") as task:
                for start in range(0, len(todo), _CHUNK):
                    chunk = todo[start : start + _CHUNK]
                    scores = score_rows(
                        backend.token_logprobs,
                        tokenizer,
                        [ex.to_trl() for ex in chunk],
                        max_length=settings.max_length,
                        batch_size=_CHUNK,
                        on_progress=task.advance,
                    )
                    records = [
                        ScoreRecord(model=model, id=ex.id, perplexity=p)
                        for ex, p in zip(chunk, scores, strict=True)
                    ]
                    log.append(records)
                    known.update((r.id, r.perplexity) for r in records)
        finally:
            backend.close()
    return {ex.id: known[ex.id] for ex in examples}


def _tokenizer(backend: Any, model: str, settings: CurriculumSettings) -> Any:
    """The tokenizer the backend's model reads: its own, or the one its options name."""
    own = getattr(backend, "tokenizer", None)
    if own is not None:
        return own
    from reasonloop.hf.models import load_tokenizer

    return load_tokenizer(settings.backend_options.get("tokenizer") or model)
