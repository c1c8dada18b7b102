"""The critic plugin: step-level critiques at test time and in the training loop.

After the plain round, a critic (role ``critic``; by default the actor's
backend and base model) judges each step of a solution and its final
answer. In training, wrong samples are critiqued and the actor revises them;
correct, non-shortcut revisions become training examples without the
critique (and, for preference training, paired over the answer they
revised). In evaluation, the critic either drives critique-and-revise rounds
(``test_time: refine``) or picks among sampled answers (``select``), never
seeing the reference. Critiques are read in reasonloop's line format or in
the format of AutoMathCritique's released critic. For training a critic,
Monte-Carlo rollouts from step prefixes label steps, and an ``annotator``
role can write the training critiques that ``reasonloop critic-data``
filters by whether a refinement from them succeeds and trains the critic on.

Active only when the recipe has ``plugins.settings.critic``; see
docs/critic.md for every setting.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from reasonloop import hookimpl
from reasonloop.errors import RecipeError
from reasonloop.plugins.critic.examples import refinement_examples, refinement_pairs
from reasonloop.plugins.critic.rater import RATER, acceptance
from reasonloop.plugins.critic.report import report_sections
from reasonloop.plugins.critic.reward import REWARD, critic_reward
from reasonloop.plugins.critic.rounds import round_requests
from reasonloop.plugins.critic.selection import (
    CritiqueChains,
    refine_answer,
    refine_metrics,
    select_answer,
    select_metrics,
)
from reasonloop.plugins.critic.settings import NAME, SETTINGS_KEY, CriticSettings

if TYPE_CHECKING:
    import typer

    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import PreferencePair, Problem, Request, Sample, TrainingExample

__all__ = ["NAME", "Critic", "CriticSettings"]


@hookimpl
def reasonloop_register_settings(register: Any) -> None:
    register(NAME, CriticSettings)


@hookimpl
def reasonloop_run_start(run: RunContext) -> None:
    cfg: CriticSettings | None = run.settings_for(NAME)
    if cfg is None:
        return
    recipe = run.recipe
    if cfg.critiques_per_problem and recipe.sampling.max_rounds < 3:
        raise RecipeError(
            f"sampling.max_rounds: {recipe.sampling.max_rounds} is too few for "
            f"{SETTINGS_KEY} (plain samples, critiques, refinements need 3)"
        )
    needed = 1 + 2 * cfg.refine_rounds
    if cfg.test_time == "refine" and recipe.eval.max_rounds < needed:
        raise RecipeError(
            f"{SETTINGS_KEY}.refine_rounds: {cfg.refine_rounds} revisions need "
            f"eval.max_rounds >= {needed} (it is {recipe.eval.max_rounds})"
        )
    if cfg.oracle and (cfg.test_time != "refine" or cfg.stop_when_accepted):
        raise RecipeError(
            f"{SETTINGS_KEY}.oracle: the oracle bound needs every answer revised: "
            "set test_time: refine and stop_when_accepted: false"
        )
    run.default_role("critic")
    if cfg.annotator:
        run.default_role("annotator")
    run.register_plugin(Critic(cfg), NAME)


class Critic:
    """The critic for one run: its settings and the hooks that act on them."""

    def __init__(self, settings: CriticSettings):
        self.settings = settings

    @hookimpl
    def reasonloop_round_requests(self, ctx: RoundContext) -> list[Request] | None:
        if ctx.round == 0:
            return None
        return round_requests(ctx, self.settings) or None

    @hookimpl
    def reasonloop_training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        return refinement_examples(ctx.run, problem, samples, self.settings) or None

    @hookimpl
    def reasonloop_preference_pairs(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[PreferencePair] | None:
        return refinement_pairs(ctx.run, problem, samples, self.settings) or None

    @hookimpl
    def reasonloop_final_answer(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> Sample | None:
        if self.settings.test_time == "off":
            return None
        lineage = CritiqueChains(samples)
        if not lineage.roots:
            return None
        if self.settings.test_time == "select":
            return select_answer(lineage)
        return refine_answer(lineage)

    @hookimpl
    def reasonloop_eval_metrics(
        self, problems: list[Problem], samples: list[Sample], ctx: IterationContext
    ) -> dict[str, Any] | None:
        if self.settings.test_time == "off":
            return None
        by_problem: dict[str, list[Sample]] = defaultdict(list)
        for s in samples:
            by_problem[s.problem_id].append(s)
        for p in problems:
            by_problem.setdefault(p.id, [])
        if self.settings.test_time == "select":
            return select_metrics(dict(by_problem), ctx.recipe.eval.n)
        return refine_metrics(dict(by_problem), self.settings)

    @hookimpl
    def reasonloop_report_sections(self, run: RunContext) -> list[str] | None:
        return report_sections(run, self.settings) or None


@hookimpl
def reasonloop_register_rewards(register: Any) -> None:
    register(REWARD, critic_reward)


@hookimpl
def reasonloop_register_raters(register: Any) -> None:
    register(RATER, acceptance)


@hookimpl
def reasonloop_register_commands(cli: typer.Typer) -> None:
    from reasonloop.plugins.critic.commands import register

    register(cli)
