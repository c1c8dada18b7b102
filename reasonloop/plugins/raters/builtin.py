"""What a rater sees, and the built-in raters.

A rater is a function ``rate(examples, ctx) -> list[float | None]``: one
score per example, higher meaning better, on the rater's own scale (the
selection aligns scales), ``None`` where it has nothing to say. The built-in
raters (the critic plugin adds ``critic``, the share of its critiques of
the example's sample that accept it):

- ``correctness``: 0 when the example's sample is not verified correct, else
  the share of the problem's answers that reached the same final answer
  (how sure the model's own vote is of it);
- ``length``: shorter trained text is better (minus its word count);
- ``perplexity``: lower perplexity under the iteration's actor model is
  better, on the tokens the trainer learns (minus the perplexity);
- ``novelty``: one minus the largest word n-gram overlap (Jaccard) with the
  examples of the same problem selected in earlier iterations, or, when
  there are none, with the other candidates of the same problem;
- ``difficulty``: one minus the problem's pass rate over its plain samples of
  this iteration (harder problems score higher);
- ``level``: the problem's ``metadata.difficulty`` read as a number (``3``,
  ``"Level 3"``); silent when the data has no numeric difficulty.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.records import Problem, Sample, TrainingExample

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext
    from reasonloop.core.progress import RunProgress

__all__ = ["BUILTIN_RATERS", "OPTIONS", "RatingContext", "plain_pass_rate"]

Rater = Callable[[list[TrainingExample], "RatingContext"], Sequence[float | None]]


@dataclass
class RatingContext:
    """One iteration's selection, as a rater sees it."""

    stage: IterationContext
    #: Every candidate of the selection (after dedupe and cap), in order.
    candidates: list[TrainingExample]
    #: The training problems of this iteration, by id.
    problems: dict[str, Problem]
    #: Every sample of this iteration, with its verdict.
    samples: list[Sample]
    #: Examples selected in earlier iterations.
    earlier: list[TrainingExample] = field(default_factory=list)
    #: This rater's ``plugins.settings.raters.options.<name>``.
    options: dict[str, Any] = field(default_factory=dict)
    _by_problem: dict[str, list[Sample]] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Sample] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            grouped[s.problem_id].append(s)
            self._by_id[s.id] = s
        self._by_problem = dict(grouped)

    @property
    def progress(self) -> RunProgress:
        return self.stage.run.progress

    def samples_for(self, problem_id: str) -> list[Sample]:
        return self._by_problem.get(problem_id, [])

    def sample_of(self, example: TrainingExample) -> Sample | None:
        """The sample the example was made from, if it is one of this iteration's."""
        return self._by_id.get(example.sample_id or "")


def plain_pass_rate(samples: list[Sample]) -> float | None:
    """The share of a problem's plain (round-0) samples verified correct; ``None``: none."""
    plain = [s for s in samples if s.request.plugin == "selfimprove" and s.verdict is not None]
    return sum(s.correct for s in plain) / len(plain) if plain else None


def correctness(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    out: list[float | None] = []
    for ex in examples:
        sample = ctx.sample_of(ex)
        if sample is None:
            out.append(None)
            continue
        if not sample.correct:
            out.append(0.0)
            continue
        answers = [
            s
            for s in ctx.samples_for(ex.problem_id)
            if s.request.answers_problem and s.verdict is not None
        ]
        same = sum(1 for s in answers if _answer(s) == _answer(sample))
        out.append(same / len(answers) if answers else None)
    return out


def _answer(s: Sample) -> str:
    return " ".join((s.extracted or "").split()).lower()


def _trained_text(ex: TrainingExample) -> str:
    return "\n".join(m.content for i, m in enumerate(ex.messages) if ex._trains(i))


def length(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    return [-float(len(_trained_text(ex).split())) for ex in examples]


class PerplexityOptions(BaseModel):
    """``plugins.settings.raters.options.perplexity``."""

    model_config = ConfigDict(extra="forbid")

    #: Examples per forward pass.
    batch_size: int = Field(default=8, ge=1)
    #: Tokens per example at most (longer ones are cut).
    max_length: int = Field(default=1024, ge=8)


def perplexity(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    from reasonloop.hf.perplexity import PerplexityScorer

    opts = PerplexityOptions.model_validate(ctx.options)
    model = ctx.stage.models["actor"]
    it = ctx.stage.iteration
    ctx.progress.event(f"iteration {it}: perplexity of {len(examples)} examples under {model}")
    scorer = PerplexityScorer(model, max_length=opts.max_length)
    try:
        with ctx.progress.task(
            f"rate perplexity iter {it}", total=len(examples), unit="examples"
        ) as task:
            scores = scorer.score(
                [ex.to_trl() for ex in examples],
                batch_size=opts.batch_size,
                on_progress=task.advance,
            )
    finally:
        scorer.close()
    return [None if s is None else -s for s in scores]


class NoveltyOptions(BaseModel):
    """``plugins.settings.raters.options.novelty``."""

    model_config = ConfigDict(extra="forbid")

    #: Word n-gram length.
    n: int = Field(default=3, ge=1)


def _ngrams(text: str, n: int) -> frozenset[tuple[str, ...]]:
    words = re.findall(r"\w+|[^\w\s]", text.lower())
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def novelty(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    n = NoveltyOptions.model_validate(ctx.options).n
    earlier: dict[str, list[frozenset[Any]]] = defaultdict(list)
    for ex in ctx.earlier:
        earlier[ex.problem_id].append(_ngrams(_trained_text(ex), n))
    siblings: dict[str, list[tuple[str, frozenset[Any]]]] = defaultdict(list)
    for ex in ctx.candidates:
        siblings[ex.problem_id].append((ex.id, _ngrams(_trained_text(ex), n)))
    out: list[float | None] = []
    for ex in examples:
        grams = _ngrams(_trained_text(ex), n)
        reference = earlier.get(ex.problem_id) or [
            g for other, g in siblings.get(ex.problem_id, []) if other != ex.id
        ]
        out.append(1.0 - max(_jaccard(grams, g) for g in reference) if reference else None)
    return out


def difficulty(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    rates = {
        pid: plain_pass_rate(ctx.samples_for(pid)) for pid in {ex.problem_id for ex in examples}
    }
    return [None if rates[ex.problem_id] is None else 1.0 - rates[ex.problem_id] for ex in examples]  # type: ignore[operator]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def level(examples: list[TrainingExample], ctx: RatingContext) -> list[float | None]:
    out: list[float | None] = []
    for ex in examples:
        problem = ctx.problems.get(ex.problem_id)
        raw = problem.metadata.get("difficulty") if problem else None
        if isinstance(raw, bool) or raw is None:
            out.append(None)
        elif isinstance(raw, int | float):
            out.append(float(raw))
        else:
            found = _NUMBER.search(str(raw))
            out.append(float(found.group()) if found else None)
    return out


BUILTIN_RATERS: dict[str, Rater] = {
    "correctness": correctness,
    "length": length,
    "perplexity": perplexity,
    "novelty": novelty,
    "difficulty": difficulty,
    "level": level,
}

#: The options model of each built-in rater that takes options.
OPTIONS: dict[str, type[BaseModel]] = {"perplexity": PerplexityOptions, "novelty": NoveltyOptions}
