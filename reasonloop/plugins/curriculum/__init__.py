"""Perplexity-difference preference curriculum (PDPC): order training data from easy to preferred.

Each training example gets a perplexity difference PD = (PPL_weak -
PPL_strong) / PPL_weak between a weak model (by default the recipe's base
actor model) and a strong one (by default the iteration's current model),
measured on the tokens the trainer learns. The examples are then laid out
offline so that the share of high-PD examples grows along training as a
preference function says (linear, or sigmoid with a settable steepness), and
the trainer is told to keep that order (``ordered=True``: no shuffling).

The plugin is on when the recipe has ``plugins.settings.curriculum``. Scores
are appended to ``iter-NNN/curriculum.jsonl`` as they are computed, so a
resumed run scores nothing twice; ``iter-NNN/curriculum.json`` records the
PD distribution and how the high-PD share grows along the order. See
docs/curriculum.md.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reasonloop import hookimpl
from reasonloop.core.records import stable_id
from reasonloop.core.rundir import JsonlLog, atomic_write_json
from reasonloop.plugins.curriculum.order import (
    PreferenceFunction,
    arrange,
    perplexity_difference,
    segment_shares,
)
from reasonloop.plugins.curriculum.report import report_sections
from reasonloop.plugins.curriculum.settings import (
    NAME,
    CurriculumSettings,
    check_trainer,
)

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RunContext
    from reasonloop.core.records import TrainingExample

__all__ = [
    "NAME",
    "SCORES",
    "SUMMARY",
    "Curriculum",
    "ScoreRecord",
    "curriculum_order",
    "perplexities",
]

#: Per iteration: every perplexity computed, one JSON line per (model, example).
SCORES = "curriculum.jsonl"
#: Per iteration: the order, its scores and the schedule it realises.
SUMMARY = "curriculum.json"
#: Rows scored between two appends to the cache: a crash loses at most these.
_CHUNK = 64


class ScoreRecord(BaseModel):
    """One cached perplexity: of example ``id`` under ``model`` (``None``: nothing trained)."""

    model: str
    id: str
    perplexity: float | None


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, CurriculumSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    settings: CurriculumSettings | None = run.settings_for(NAME)
    if settings is None:
        return
    check_trainer(run)
    run.register_plugin(Curriculum(settings), NAME)


class Curriculum:
    """The curriculum for one run: its settings and the hooks that act on them."""

    def __init__(self, settings: CurriculumSettings):
        self.settings = settings

    @hookimpl
    def reasonloop_order_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        if ctx.mode != "train" or not examples:
            return None
        return curriculum_order(examples, ctx, self.settings)

    @hookimpl
    def reasonloop_report_sections(self, run: RunContext) -> list[str] | None:
        return report_sections(run) or None


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
        from reasonloop.hf.perplexity import PerplexityScorer

        ctx.run.progress.event(
            f"iteration {ctx.iteration}: curriculum scores {len(todo)} examples "
            f"under the {label} model {model}"
        )
        scorer = PerplexityScorer(model, max_length=settings.max_length)
        try:
            name = f"curriculum iter {ctx.iteration}: {label} perplexity"
            with ctx.run.progress.task(name, total=len(todo), unit="examples") as task:
                for start in range(0, len(todo), _CHUNK):
                    chunk = todo[start : start + _CHUNK]
                    scores = scorer.score(
                        [ex.to_trl() for ex in chunk],
                        batch_size=settings.batch_size,
                        on_progress=task.advance,
                    )
                    records = [
                        ScoreRecord(model=model, id=ex.id, perplexity=p)
                        for ex, p in zip(chunk, scores, strict=True)
                    ]
                    log.append(records)
                    known.update((r.id, r.perplexity) for r in records)
        finally:
            scorer.close()
    return {ex.id: known[ex.id] for ex in examples}


def curriculum_order(
    examples: list[TrainingExample], ctx: IterationContext, settings: CurriculumSettings
) -> list[TrainingExample] | None:
    """Score ``examples``, arrange them, write ``curriculum.json``; ``None``: keep the order."""
    weak = settings.weak_model or ctx.recipe.roles["actor"].model
    strong = settings.strong_model or ctx.models["actor"]
    summary: dict[str, Any] = {
        "iteration": ctx.iteration,
        "weak_model": weak,
        "strong_model": strong,
        "preference": settings.preference,
        "steepness": settings.steepness if settings.preference == "sigmoid" else None,
        "high_share": settings.high_share,
        "examples": len(examples),
    }
    d = ctx.run.run_dir.stage_dir(ctx.iteration)
    if weak == strong and settings.same_model == "keep":
        ctx.run.progress.event(
            f"iteration {ctx.iteration}: curriculum keeps the order "
            "(weak and strong model are the same, same_model: keep)"
        )
        atomic_write_json(d / SUMMARY, {**summary, "score": None, "order": []})
        return None
    strong_ppl = perplexities(strong, examples, ctx, settings, "strong")
    if weak == strong:
        kind = "perplexity"
        weak_ppl = strong_ppl
        scores = [strong_ppl[ex.id] for ex in examples]
    else:
        kind = "pd"
        weak_ppl = perplexities(weak, examples, ctx, settings, "weak")
        scores = [perplexity_difference(weak_ppl[ex.id], strong_ppl[ex.id]) for ex in examples]
    seed = int(stable_id(ctx.recipe.seed, ctx.iteration, NAME, length=8), 16)
    plan = arrange(
        scores,
        None,
        shape=settings.preference,
        high_share=settings.high_share,
        steepness=settings.steepness,
        seed=seed,
    )
    rho = sum(plan.high) / len(plan.high)
    preference = PreferenceFunction(settings.preference, rho, settings.steepness)
    ordered = [examples[i] for i in plan.order]
    present = [s for s in scores if s is not None]
    summary.update(
        score=kind,
        high=sum(plan.high),
        threshold=plan.threshold,
        scores=_stats(present),
        unscored=len(scores) - len(present),
        share_start=round(preference(0.0), 4),
        share_end=round(preference(1.0), 4),
        segments=segment_shares(plan.high, preference),
        order=[
            {
                "id": examples[i].id,
                "problem_id": examples[i].problem_id,
                "score": scores[i],
                "weak_perplexity": weak_ppl[examples[i].id],
                "strong_perplexity": strong_ppl[examples[i].id],
                "high": high,
            }
            for i, high in zip(plan.order, plan.high, strict=True)
        ],
    )
    atomic_write_json(d / SUMMARY, summary)
    what = "perplexity difference" if kind == "pd" else "perplexity (weak = strong model)"
    ctx.run.progress.event(
        f"iteration {ctx.iteration}: curriculum ordered {len(ordered)} examples by {what}, "
        f"{settings.preference} preference, high share {summary['share_start']:.0%} -> "
        f"{summary['share_end']:.0%}"
    )
    return ordered


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    qs = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {
        "min": round(min(values), 6),
        "q25": round(qs[0], 6),
        "median": round(qs[1], 6),
        "q75": round(qs[2], 6),
        "max": round(max(values), 6),
        "mean": round(statistics.fmean(values), 6),
    }
