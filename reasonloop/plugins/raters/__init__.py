"""The raters plugin: choose training examples by the fused score of several raters (FIRE).

After the built-in selection (dedupe, cap per problem), every rater scores
each candidate on its own scale (verifier agreement, critic acceptance,
length, perplexity under the current actor, novelty, difficulty...). The
scores are aligned as win rates against the other candidates, weighted by
each rater's reliability and independence, fused, and the best candidates
are kept in progressive rounds (see :mod:`reasonloop.plugins.raters.fusion`).
``control: random`` keeps as many examples chosen at random instead, the
plain-selection baseline at the same data size.

Reliability comes from a ``judge`` role when the recipe names one (FIRE):
the judge compares a seeded sample of candidate pairs in both position
orders (:mod:`reasonloop.plugins.raters.judge`), and each rater is as
reliable as it agrees with those preferences
(:mod:`reasonloop.plugins.raters.reliability`). Without a judge, or with
``reliability: consensus``, it is agreement with the other raters.

Raters come from the ``reasonloop_register_raters`` hook, the built-ins
included. Scores are cached in ``iter-NNN/ratings.jsonl`` as each rater
finishes, so a resumed selection does not score again; what selection did
goes to ``iter-NNN/raters.json`` and the report. Active only when the recipe
has ``plugins.settings.raters``; see docs/raters.md.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from reasonloop import hookimpl
from reasonloop.core.plugins import Registry, build_checked
from reasonloop.core.records import Problem, Record, Sample, TrainingExample, stable_id
from reasonloop.core.rundir import JsonlLog, atomic_write_json, read_jsonl
from reasonloop.core.selection import deduplicate
from reasonloop.errors import PluginError, RecipeError
from reasonloop.plugins.raters.builtin import (
    BUILTIN_RATERS,
    OPTIONS,
    RatingContext,
    plain_pass_rate,
)
from reasonloop.plugins.raters.judge import JUDGE_ROLE, reliability_from_judge
from reasonloop.plugins.raters.quota import apply_quota
from reasonloop.plugins.raters.settings import KEY, NAME, RatersSettings

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RunContext

__all__ = ["NAME", "Raters", "RatersSettings", "Rating", "raters_registry", "select"]


class Rating(Record):
    """One rater's score of one candidate, as cached in ``ratings.jsonl``."""

    example: str
    rater: str
    score: float | None


@hookimpl
def reasonloop_register_raters(register: Any) -> None:
    for name, rate in BUILTIN_RATERS.items():
        register(name, rate)


def raters_registry(run: RunContext) -> Registry:
    """Every registered rater, by name."""
    return Registry.collect(run.pm, "reasonloop_register_raters", "rater")


def _chosen(run: RunContext, cfg: RatersSettings) -> list[str]:
    """The raters the recipe uses; an unknown name is a recipe error."""
    registry = raters_registry(run)
    names = cfg.raters if cfg.raters is not None else registry.names()
    known = ", ".join(registry.names())
    for name in names:
        if name not in registry.entries:
            raise RecipeError(f"{KEY}.raters: unknown rater {name!r} (known: {known})")
    for key, mapping in (("weights", cfg.weights or {}), ("options", cfg.options)):
        for name in mapping:
            if name not in names:
                raise RecipeError(f"{KEY}.{key}.{name}: {name!r} is not one of the raters used")
    return names


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, RatersSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    cfg: RatersSettings | None = run.settings_for(NAME)
    if cfg is None:
        return
    names = _chosen(run, cfg)
    if cfg.reliability == "judge":
        if JUDGE_ROLE not in run.recipe.roles:
            raise RecipeError(
                f"{KEY}.reliability: judge needs roles.{JUDGE_ROLE} (a backend and a model, "
                "ideally stronger than the actor); or set reliability: consensus"
            )
        if cfg.weights is not None:
            raise RecipeError(
                f"{KEY}.reliability: judge has no effect with fixed weights; leave one out"
            )
    registry = raters_registry(run)
    for name in names:
        model = OPTIONS.get(name)
        if model is not None and registry.owner(name) == NAME:
            build_checked(
                model.model_validate,
                f"{KEY}.options.{name}",
                cfg.options.get(name, {}),
                source=run.recipe.source,
            )
    run.register_plugin(Raters(cfg), NAME)


class Raters:
    """Rater-based selection for one run: its settings and the hooks that act on them."""

    def __init__(self, settings: RatersSettings):
        self.settings = settings

    @hookimpl
    def reasonloop_select_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        if ctx.iteration is None:
            return None
        return select(examples, ctx, self.settings)

    @hookimpl
    def reasonloop_report_sections(self, run: RunContext) -> list[str] | None:
        from reasonloop.plugins.raters.report import report_sections

        return report_sections(run) or None


def select(
    examples: list[TrainingExample], ctx: IterationContext, cfg: RatersSettings
) -> list[TrainingExample]:
    """Dedupe and cap, rate, and keep the best candidates (or random ones for ``control``)."""
    assert ctx.iteration is not None
    pool = deduplicate(examples, ctx.recipe.selection)
    k = cfg.count(len(pool))
    d = ctx.run.run_dir.stage_dir(ctx.iteration)
    samples = list(JsonlLog(d / "samples.jsonl", Sample))
    problems = {p.id: p for p in ctx.problems}
    record: dict[str, Any] = {
        "iteration": ctx.iteration,
        "mode": cfg.control or "raters",
        "candidates": len(examples),
        "pool": len(pool),
        "selected": k,
    }
    if cfg.control == "random":
        rng = random.Random(stable_id(ctx.recipe.seed, ctx.iteration, NAME))
        first = rng.sample(range(len(pool)), k)
        # The rest in random order too, for a quota to swap from.
        rest = sorted(set(range(len(pool))) - set(first))
        rng.shuffle(rest)
        rank = first + rest
    else:
        from reasonloop.plugins.raters.fusion import progressive_rank  # numpy, only when rating

        scores = _scores(pool, ctx, cfg, samples, problems)
        reliability = reliability_from_judge(pool, problems, ctx, cfg, scores, record)
        rank, rounds = progressive_rank(scores, k, cfg.rounds, cfg.weights, reliability)
    if cfg.quota is None:
        indices = sorted(rank[:k])
    else:
        groups = [
            ex.problem_id
            if cfg.quota == "problem"
            else (problems[ex.problem_id].difficulty if ex.problem_id in problems else "unknown")
            for ex in pool
        ]
        indices, swapped = apply_quota(rank, k, groups, cfg.quota_min)
        record["quota"] = {
            "per": cfg.quota,
            "min": cfg.quota_min,
            "groups": len(set(groups)),
            "swapped_in": swapped,
        }
        record["selected"] = k = len(indices)
    if cfg.control != "random":
        record["raters"] = list(scores)
        record["silent"] = [r for r in scores if _silent(scores[r])]
        record["rounds"] = [r.as_dict() for r in rounds]
        record["scores"] = {
            name: {"pool": _mean(values), "selected": _mean([values[i] for i in indices])}
            for name, values in scores.items()
        }
    chosen = [pool[i] for i in indices]
    record["difficulty"] = {
        "pool": _buckets(pool, problems, samples, "level"),
        "selected": _buckets(chosen, problems, samples, "level"),
    }
    record["pass_rate"] = {
        "pool": _buckets(pool, problems, samples, "pass"),
        "selected": _buckets(chosen, problems, samples, "pass"),
    }
    atomic_write_json(d / "raters.json", record)
    if cfg.control:
        how = f"{cfg.control} control"
    else:
        weights = record["rounds"][0]["weights"] if record["rounds"] else {}
        how = "weights: " + ", ".join(f"{n} {w:.2f}" for n, w in weights.items() if w > 0)
        how += f"; reliability: {record['reliability']}"
    ctx.run.progress.event(
        f"iteration {ctx.iteration}: raters kept {k} of {len(pool)} candidates ({how})"
    )
    return chosen


def _scores(
    pool: list[TrainingExample],
    ctx: IterationContext,
    cfg: RatersSettings,
    samples: list[Sample],
    problems: dict[str, Problem],
) -> dict[str, list[float | None]]:
    """Each chosen rater's score of each candidate, from the cache or freshly rated."""
    assert ctx.iteration is not None
    registry = raters_registry(ctx.run)
    names = _chosen(ctx.run, cfg)
    cache = JsonlLog(ctx.run.run_dir.stage_dir(ctx.iteration) / "ratings.jsonl", Rating)
    cache.repair()
    known = {(r.rater, r.example): r.score for r in cache}
    earlier = _earlier_selected(ctx)
    out: dict[str, list[float | None]] = {}
    for name in names:
        missing = [ex for ex in pool if (name, ex.id) not in known]
        if missing:
            rctx = RatingContext(
                stage=ctx,
                candidates=pool,
                problems=problems,
                samples=samples,
                earlier=earlier,
                options=dict(cfg.options.get(name, {})),
            )
            rated = list(registry.get(name)(missing, rctx))
            if len(rated) != len(missing):
                raise PluginError(
                    f"rater {name!r} (from {registry.owner(name)!r}) returned {len(rated)} "
                    f"scores for {len(missing)} examples"
                )
            rows = [
                Rating(example=ex.id, rater=name, score=_number(s))
                for ex, s in zip(missing, rated, strict=True)
            ]
            cache.append(rows)
            known.update({(name, r.example): r.score for r in rows})
        out[name] = [known[(name, ex.id)] for ex in pool]
    return out


def _number(score: Any) -> float | None:
    if score is None:
        return None
    value = float(score)
    return value if value == value and abs(value) != float("inf") else None


def _earlier_selected(ctx: IterationContext) -> list[TrainingExample]:
    out: list[TrainingExample] = []
    for it in range(ctx.iteration or 0):
        path = ctx.run.run_dir.stage_dir(it) / "selected.jsonl"
        if path.exists():
            out.extend(read_jsonl(path, TrainingExample))
    return out


def _silent(values: list[float | None]) -> bool:
    return len({v for v in values if v is not None}) < 2


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


PASS_BUCKETS = ("0-25%", "25-50%", "50-75%", "75-100%")


def _buckets(
    examples: list[TrainingExample],
    problems: dict[str, Problem],
    samples: list[Sample],
    kind: str,
) -> dict[str, int]:
    """How many examples fall in each difficulty (``level``) or pass-rate (``pass``) bucket."""
    if kind == "level":
        counts = Counter(
            problems[ex.problem_id].difficulty if ex.problem_id in problems else "unknown"
            for ex in examples
        )
        return dict(sorted(counts.items()))
    by_problem: dict[str, list[Sample]] = {}
    for s in samples:
        by_problem.setdefault(s.problem_id, []).append(s)
    rates = {pid: plain_pass_rate(own) for pid, own in by_problem.items()}
    counts = Counter()
    for ex in examples:
        rate = rates.get(ex.problem_id)
        if rate is None:
            counts["no plain samples"] += 1
        else:
            counts[PASS_BUCKETS[min(3, int(rate * 4))]] += 1
    return {b: counts[b] for b in (*PASS_BUCKETS, "no plain samples") if counts[b]}
