"""Typed calls into the plugin hooks, so the core never touches ``pm.hook`` directly.

Every call goes through pluggy, so an implementation may take a subset of a
hook's arguments, and ``REASONLOOP_TRACE_HOOKS`` and hook wrappers see it.
Where the core needs to know which plugin gave which result (the
``register_*`` hooks, ``eval_metrics``), it calls the hook once per plugin
through :func:`plugin_callers`. An exception raised inside a plugin's hook
becomes a :class:`~reasonloop.errors.PluginHookError` naming the plugin and
the hook; :func:`stop_on_plugin_failure` writes its traceback to the run's log.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from reasonloop.core.context import owner_of
from reasonloop.errors import PluginError, PluginHookError, ReasonloopError

if TYPE_CHECKING:
    import pluggy

    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import (
        PreferencePair,
        Problem,
        Request,
        Sample,
        TrainingExample,
    )

__all__ = ["Hooks", "plugin_callers", "stop_on_plugin_failure"]

log = logging.getLogger("reasonloop")


def _culprit(hook: pluggy.HookCaller, exc: BaseException, default: str) -> str:
    """The plugin whose hook implementation raised ``exc``.

    pluggy re-raises the plugin's own exception; the deepest traceback frame
    that runs one of the hook's implementations is the one that failed
    (a wrapper only when no plain implementation is on the way).
    """
    plain: dict[object, str] = {}
    wrappers: dict[object, str] = {}
    for impl in hook.get_hookimpls():
        code = getattr(inspect.unwrap(impl.function), "__code__", None)
        if code is not None:
            kind = wrappers if (impl.hookwrapper or impl.wrapper) else plain
            kind[code] = impl.plugin_name
    found = {"plain": "", "wrapper": ""}
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code in plain:
            found["plain"] = plain[code]
        elif code in wrappers:
            found["wrapper"] = wrappers[code]
        tb = tb.tb_next
    return found["plain"] or found["wrapper"] or default


def _guarded(hook: pluggy.HookCaller, default_owner: str = "?") -> Callable[..., Any]:
    """``hook`` that raises a PluginHookError naming the plugin when one of its impls fails.

    reasonloop's own errors (a plugin's deliberate UsageError, a name clash)
    pass through unchanged: they already say what is wrong.
    """

    def call(**kwargs: Any) -> Any:
        try:
            return hook(**kwargs)
        except ReasonloopError:
            raise
        except Exception as exc:
            raise PluginHookError(_culprit(hook, exc, default_owner), hook.name, exc) from exc

    return call


def plugin_callers(
    pm: pluggy.PluginManager, hook_name: str
) -> list[tuple[str, Callable[..., Any]]]:
    """One caller per plugin that implements ``hook_name``, in registration order.

    Each caller runs the hook through pluggy with only that plugin's
    implementation (and every hook wrapper), so its result belongs to it.
    Call it with keyword arguments, as ``pm.hook``; it returns pluggy's
    result list (empty when the plugin returned ``None``).
    """
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    plain = [i for i in impls if not (i.hookwrapper or i.wrapper)]
    callers = []
    for impl in plain:
        others = [i.plugin for i in plain if i.plugin is not impl.plugin]
        hook = pm.subset_hook_caller(hook_name, remove_plugins=others)
        callers.append((impl.plugin_name, _guarded(hook, impl.plugin_name)))
    return callers


@contextlib.contextmanager
def stop_on_plugin_failure(hint: Callable[[], str] | None = None) -> Iterator[None]:
    """Log a failing plugin's traceback (to ``run.log``); re-raise it with ``hint()`` added.

    The screen shows only the message that names the plugin and the hook.
    """
    try:
        yield
    except PluginHookError as exc:
        if exc.hint:  # an inner block already logged it
            raise
        files = [
            h.baseFilename
            for h in log.handlers
            if isinstance(h, logging.FileHandler) and hasattr(h, "baseFilename")
        ]
        where = f"the traceback is in {', '.join(files)}" if files else ""
        if log.hasHandlers():
            log.error("%s", exc, exc_info=exc.cause)
        text = "; ".join(t for t in ("what is on disk is kept", where, hint() if hint else "") if t)
        raise PluginHookError(exc.plugin, exc.hook, exc.cause, text) from exc.cause


class Hooks:
    """One method per hook, returning what the core needs in the type it needs."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm

    def _call(self, hook_name: str, **kwargs: Any) -> Any:
        return _guarded(getattr(self.pm.hook, hook_name))(**kwargs)

    def run_start(self, run: RunContext) -> None:
        self._call("reasonloop_run_start", run=run)

    def round_requests(self, ctx: RoundContext) -> list[Request]:
        requests: list[Request] = []
        for result in self._call("reasonloop_round_requests", ctx=ctx):
            if result:
                requests.extend(result)
        return requests

    def training_examples(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[TrainingExample]:
        examples: list[TrainingExample] = []
        results = self._call(
            "reasonloop_training_examples", problem=problem, samples=samples, ctx=ctx
        )
        # pluggy calls the last-registered plugin first; keep registration order.
        for result in reversed(results):
            if result:
                examples.extend(result)
        return examples

    def preference_pairs(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> list[PreferencePair]:
        pairs: list[PreferencePair] = []
        results = self._call(
            "reasonloop_preference_pairs", problem=problem, samples=samples, ctx=ctx
        )
        for result in reversed(results):  # registration order, as for training_examples
            if result:
                pairs.extend(result)
        return pairs

    def select_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample]:
        chosen = self._call("reasonloop_select_examples", examples=examples, ctx=ctx)
        return examples if chosen is None else chosen

    def order_examples(
        self, examples: list[TrainingExample], ctx: IterationContext
    ) -> list[TrainingExample] | None:
        """The examples in a plugin's order; ``None`` when no plugin ordered them."""
        ordered = self._call("reasonloop_order_examples", examples=examples, ctx=ctx)
        if ordered is None:
            return None
        if sorted(e.id for e in ordered) != sorted(e.id for e in examples):
            raise PluginError("reasonloop_order_examples must return the same examples")
        return ordered

    def final_answer(
        self, problem: Problem, samples: list[Sample], ctx: IterationContext
    ) -> Sample | None:
        return self._call("reasonloop_final_answer", problem=problem, samples=samples, ctx=ctx)

    def eval_metrics(
        self, problems: list[Problem], samples: list[Sample], ctx: IterationContext
    ) -> dict[str, Any]:
        """Every plugin's extra metrics, filed under the plugin's name."""
        merged: dict[str, Any] = {}
        for name, call in plugin_callers(self.pm, "reasonloop_eval_metrics"):
            for result in call(problems=problems, samples=samples, ctx=ctx):
                if result:
                    merged[owner_of(name)] = result
        return merged

    def iteration_end(self, ctx: IterationContext, summary: dict[str, Any]) -> None:
        self._call("reasonloop_iteration_end", ctx=ctx, summary=summary)

    def report_sections(self, run: RunContext) -> list[str]:
        sections: list[str] = []
        for result in reversed(self._call("reasonloop_report_sections", run=run)):
            if result:
                sections.extend(result)
        return sections
