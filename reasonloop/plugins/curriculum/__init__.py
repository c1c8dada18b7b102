"""Perplexity-difference preference curriculum (PDPC): order training data from easy to preferred.

Each training example gets a perplexity difference PD = (PPL_weak -
PPL_strong) / PPL_weak between two reference models fixed for the run, as
PDPC has them: a weak one (by default the recipe's base actor model) and a
strong one the recipe must name (``strong_model``; ``current`` picks the
iteration's current actor checkpoint instead, reasonloop's departure),
measured on the tokens the trainer learns. Scoring goes through a backend
(``transformers`` on the CPU by default, ``vllm`` or ``openai`` batched on
GPU machines; see :mod:`.scoring`). The examples are then laid out
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

from reasonloop import hookimpl
from reasonloop.core.records import stable_id
from reasonloop.core.rundir import atomic_write_json
from reasonloop.plugins.curriculum.order import (
    PreferenceFunction,
    arrange,
    perplexity_difference,
    segment_shares,
)
from reasonloop.plugins.curriculum.report import report_sections
from reasonloop.plugins.curriculum.scoring import SCORES, ScoreRecord, perplexities
from reasonloop.plugins.curriculum.settings import (
    NAME,
    CurriculumSettings,
    check_scoring,
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

#: Per iteration: the order, its scores and the schedule it realises.
SUMMARY = "curriculum.json"


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, CurriculumSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    settings: CurriculumSettings | None = run.settings_for(NAME)
    if settings is None:
        return
    check_trainer(run)
    check_scoring(run)
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


def curriculum_order(
    examples: list[TrainingExample], ctx: IterationContext, settings: CurriculumSettings
) -> list[TrainingExample] | None:
    """Score ``examples``, arrange them, write ``curriculum.json``; ``None``: keep the order."""
    weak = settings.weak_model or ctx.recipe.roles["actor"].model
    current = settings.strong_is_current
    strong = ctx.models["actor"] if current else settings.strong_model
    assert strong is not None  # the settings refuse a missing strong_model
    summary: dict[str, Any] = {
        "iteration": ctx.iteration,
        "weak_model": weak,
        "strong_model": strong,
        # "fixed": the recipe's strong_model (PDPC); "current": the checkpoint
        # that sampled this iteration's data.
        "strong": "current" if current else "fixed",
        "backend": settings.backend,
        "preference": settings.preference,
        "steepness": settings.steepness if settings.preference == "sigmoid" else None,
        "high_share": settings.high_share,
        "direction": settings.direction,
        "examples": len(examples),
    }
    d = ctx.run.run_dir.stage_dir(ctx.iteration)
    if current:
        ctx.run.progress.event(
            f"iteration {ctx.iteration}: curriculum strong model is the current actor "
            f"checkpoint {strong} (strong_model: current), the model that sampled the "
            "data: PD then also measures how much it prefers its own samples"
        )
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
        falling=settings.direction == "falling",
        seed=seed,
    )
    rho = sum(plan.high) / len(plan.high)
    preference = PreferenceFunction(
        settings.preference, rho, settings.steepness, settings.direction == "falling"
    )
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
        f"{settings.preference} {settings.direction} preference, high share "
        f"{summary['share_start']:.0%} -> "
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
