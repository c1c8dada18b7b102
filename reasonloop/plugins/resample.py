"""Brute-force resampling at a token budget: more plain samples until the budget is spent.

The baseline a method is measured against at equal compute. After round 0,
each round asks for more plain samples (the actor's own prompt, no hint,
no critique) until the stage's token budget is spent: in training the
problems with the fewest correct samples first, at test time every problem
in turn, where the final answer is then the majority vote over the
problem's plain answers (:func:`reasonloop.verifiers.vote.majority`).

A round shares what is left of the budget out one sample at a time over the
problems, round-robin, costing each sample at its problem's measured
prompt tokens plus the mean completion so far; a sample is asked while at
least half its estimated cost is left. The next round measures what was
really spent and tops up, so a stage ends within about half a sample of its
budget unless the round limit (``sampling.max_rounds``, ``eval.max_rounds``)
comes first. Everything follows from the samples, so resume is exact.

``reasonloop attribute --matched`` uses it for a plugin's token-matched off
state: the plugin switched off, the tokens it spent spent on this instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop import hookimpl
from reasonloop.core.selection import correct_examples

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import Problem, Request, Sample, TrainingExample

__all__ = ["NAME", "Resample", "ResampleSettings", "stage_label"]

NAME = "resample"
PURPOSE = "resample"


class ResampleSettings(BaseModel):
    """``plugins.settings.resample``: how many tokens of plain resampling each stage gets."""

    model_config = ConfigDict(extra="forbid")

    #: Tokens (prompt and completion) every sampling and evaluation stage may
    #: spend on resampling; ``None``: only the stages in ``budgets``.
    token_budget: int | None = Field(default=None, ge=0)
    #: Per stage, overriding ``token_budget``: ``iter-000/train`` (an
    #: iteration's sampling), ``iter-000/eval``, ``base/eval`` (evaluations).
    budgets: dict[str, int] = Field(default_factory=dict)

    def budget_for(self, label: str) -> int:
        if label in self.budgets:
            return max(0, self.budgets[label])
        return self.token_budget or 0


def stage_label(iteration: int | None, mode: str) -> str:
    """``base/eval``, ``iter-000/train``, ...: the stage's directory and mode."""
    stage = "base" if iteration is None else f"iter-{iteration:03d}"
    return f"{stage}/{mode}"


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, ResampleSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    settings: ResampleSettings | None = run.settings_for(NAME)
    if settings is not None:
        run.register_plugin(Resample(settings), NAME)


def _is_plain(s: Sample) -> bool:
    r = s.request
    return r.role == "actor" and r.how == "plain" and r.prefill is None and r.answers_problem


class Resample:
    """Resampling for one run: its budgets and the hooks that spend them."""

    def __init__(self, settings: ResampleSettings):
        self.settings = settings

    @hookimpl
    def reasonloop_round_requests(self, ctx: RoundContext) -> list[Request] | None:
        if ctx.round == 0:
            return None
        budget = self.settings.budget_for(stage_label(ctx.stage.iteration, ctx.mode))
        spent = sum(
            s.prompt_tokens + s.completion_tokens for s in ctx.samples if s.request.plugin == NAME
        )
        plain = [s for s in ctx.samples if _is_plain(s)]
        if budget - spent <= 0 or not plain:
            return None
        completion = sum(s.completion_tokens for s in plain) / len(plain)
        prompt = {s.problem_id: s.prompt_tokens for s in plain}
        mean_prompt = sum(prompt.values()) / len(prompt)
        problems = list(ctx.problems)
        if ctx.mode == "train":
            # Fewest correct first: brute force spends where samples are missing.
            problems.sort(key=lambda p: sum(s.correct for s in ctx.samples_for(p.id)))
        counts = allocate(
            [prompt.get(p.id, mean_prompt) + completion for p in problems], budget - spent
        )
        return [
            self._request(ctx, p, k) for p, k in zip(problems, counts, strict=True) if k > 0
        ] or None

    def _request(self, ctx: RoundContext, problem: Problem, n: int) -> Request:
        params: dict[str, Any] = {"n": n}
        if ctx.mode == "eval":
            ev = ctx.recipe.eval
            params["temperature"] = ev.temperature
            if ev.max_tokens is not None:
                params["max_tokens"] = ev.max_tokens
        return ctx.request(
            problem,
            ctx.run.problem_messages(problem),
            plugin=NAME,
            purpose=PURPOSE,
            how="plain",
            key=f"round-{ctx.round}",
            **params,
        )

    @hookimpl
    def reasonloop_training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        return correct_examples(problem, samples, ctx, NAME)

    @hookimpl(trylast=True)
    def reasonloop_final_answer(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> Sample | None:
        if not any(s.request.plugin == NAME for s in samples):
            return None
        from reasonloop.verifiers.vote import majority

        return majority([s for s in samples if _is_plain(s)])


def allocate(costs: list[float], left: float) -> list[int]:
    """Samples per problem, one at a time round-robin, while half a sample's cost is left."""
    counts = [0] * len(costs)
    if not costs or min(costs) <= 0:
        return counts
    while True:
        for i, cost in enumerate(costs):
            if left < cost / 2:
                return counts
            counts[i] += 1
            left -= cost
