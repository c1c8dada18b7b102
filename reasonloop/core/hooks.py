"""Typed calls into the plugin hooks, so the core never touches ``pm.hook`` directly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reasonloop.core.context import owner_of
from reasonloop.errors import PluginError

if TYPE_CHECKING:
    import pluggy

    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import Problem, Request, Sample, TrainingExample

__all__ = ["Hooks"]


class Hooks:
    """One method per hook, returning what the core needs in the type it needs."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm

    def run_start(self, run: RunContext) -> None:
        self.pm.hook.reasonloop_run_start(run=run)

    def round_requests(self, ctx: RoundContext) -> list[Request]:
        requests: list[Request] = []
        for result in self.pm.hook.reasonloop_round_requests(ctx=ctx):
            if result:
                requests.extend(result)
        return requests

    def training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample]:
        examples: list[TrainingExample] = []
        results = self.pm.hook.reasonloop_training_examples(
            problem=problem, samples=samples, ctx=ctx
        )
        # pluggy calls the last-registered plugin first; keep registration order.
        for result in reversed(results):
            if result:
                examples.extend(result)
        return examples

    def select_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample]:
        chosen = self.pm.hook.reasonloop_select_examples(examples=examples, ctx=ctx)
        return examples if chosen is None else chosen

    def order_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        """The examples in a plugin's order; ``None`` when no plugin ordered them."""
        ordered = self.pm.hook.reasonloop_order_examples(examples=examples, ctx=ctx)
        if ordered is None:
            return None
        if sorted(e.id for e in ordered) != sorted(e.id for e in examples):
            raise PluginError("reasonloop_order_examples must return the same examples")
        return ordered

    def final_answer(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> Sample | None:
        return self.pm.hook.reasonloop_final_answer(problem=problem, samples=samples, ctx=ctx)

    def eval_metrics(
        self, problems: list[Problem], samples: list[Sample], ctx: IterationContext
    ) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        impls = self.pm.hook.reasonloop_eval_metrics.get_hookimpls()
        for impl in impls:
            result = impl.function(problems=problems, samples=samples, ctx=ctx)
            if result:
                merged[owner_of(impl.plugin_name)] = result
        return merged

    def iteration_end(self, ctx: IterationContext, summary: dict[str, Any]) -> None:
        self.pm.hook.reasonloop_iteration_end(ctx=ctx, summary=summary)

    def report_sections(self, run: RunContext) -> list[str]:
        sections: list[str] = []
        for result in reversed(self.pm.hook.reasonloop_report_sections(run=run)):
            if result:
                sections.extend(result)
        return sections
