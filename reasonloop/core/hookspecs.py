"""Every hook a reasonloop plugin can implement.

A plugin is a module or object with functions decorated by
``reasonloop.hookimpl`` whose names match the specifications below. Built-in
plugins use exactly the same hooks as third-party ones.

Sampling is a round scheduler. In round 0 and after every round, the core
calls :func:`reasonloop_round_requests`; every plugin may ask for requests
addressed to a role (``actor``, ``critic``, ``teacher``...). The core groups
all requests of a round by role and sends each group to its backend as one
batched call, verifies the samples, appends them to disk and starts the next
round, until no plugin asks for more or the round limit is reached.

Plugins must derive their state from the samples they are given (their
lineage and ``request.meta``), not from memory: that is what makes
``reasonloop resume`` exact after a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer
    from pydantic import BaseModel

    from reasonloop.core.context import IterationContext, RoundContext, RunContext
    from reasonloop.core.records import (
        PreferencePair,
        Problem,
        Request,
        Sample,
        TrainingExample,
    )

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "reasonloop"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- Contributing named things --------------------------------------------------


@hookspec
def reasonloop_register_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register generation backends.

    Called once per run when its plugins are loaded (also by ``validate``). Call
    ``register(name, factory)`` for each backend; ``factory(model, options)``
    returns an object that follows :class:`reasonloop.core.protocols.Backend`.
    ``options`` holds the role's ``backend_options`` and its sampling
    defaults under ``"defaults"``. A name registered twice is an error that
    names both plugins. The return value is ignored.
    """


@hookspec
def reasonloop_register_verifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register verifiers, one per domain or checking method.

    Called once per run when its plugins are loaded (also by ``validate``). Call
    ``register(name, factory)``; ``factory(options)`` returns an object that
    follows :class:`reasonloop.core.protocols.Verifier` (``verify`` takes a
    batch of (problem, answer text) pairs). The return value is ignored.
    """


@hookspec
def reasonloop_register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register trainers.

    Called once per run when its plugins are loaded (also by ``validate``). Call
    ``register(name, factory)``; ``factory(options)`` returns an object that
    follows :class:`reasonloop.core.protocols.Trainer`. The return value is
    ignored.
    """


@hookspec
def reasonloop_register_datasets(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register data sources a recipe can name under ``data``.

    Called once per run when its plugins are loaded (also by ``validate``). Call
    ``register(name, loader)``; ``loader(spec)`` takes a
    :class:`reasonloop.core.dataspec.DatasetSpec` and returns a list of
    :class:`~reasonloop.core.records.Problem`. The return value is ignored.
    """


@hookspec
def reasonloop_register_raters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register raters that score candidate training examples for the ``raters`` plugin.

    Called once per training iteration by the ``raters`` selection (and at
    run start, to check the names a recipe uses), only when the recipe has
    ``plugins.settings.raters``. Call ``register(name, rate)``;
    ``rate(examples, ctx)`` takes a list of
    :class:`~reasonloop.core.records.TrainingExample` and a
    :class:`reasonloop.plugins.raters.builtin.RatingContext` and returns one
    score per example, higher meaning better, on any scale, or ``None`` where
    the rater has nothing to say. A name registered twice is an error that
    names both plugins. The return value is ignored.
    """


@hookspec
def reasonloop_register_rewards(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register rewards an online trainer learns from (``trl-grpo``'s ``rewards``).

    Called once per run when its plugins are loaded (also by ``validate``,
    which checks every name in ``trainer.options.rewards``). Call
    ``register(name, factory)``; ``factory(run)`` takes the
    :class:`~reasonloop.core.context.RunContext` and is called once per
    training that names the reward, returning ``reward(rollouts)``: it takes
    a list of :class:`reasonloop.trainers.rewards.Rollout` (one generated
    completion each, with its problem and verdict) and returns one float per
    rollout, or a :class:`reasonloop.trainers.rewards.RewardBatch` with the
    floats and the samples the reward generated itself (a critic's
    critiques), which then count in the compute ledger. A reward with a
    ``close()`` method has it called when the training ends. Built in:
    ``verifier``, ``format`` and ``length``; the critic plugin adds
    ``critic``. A name
    registered twice is an error that names both plugins. The return value
    is ignored.
    """


@hookspec
def reasonloop_register_commands(cli: typer.Typer) -> None:
    """Add subcommands to the ``reasonloop`` command.

    Called once when the command-line app is built, before any argument is
    parsed or recipe read, so a recipe's ``plugins.disable`` does not apply:
    ``REASONLOOP_DISABLE_PLUGINS`` removes a plugin's commands.
    ``cli`` is the :class:`typer.Typer` app; decorate functions with
    ``@cli.command()`` (or add a group with ``cli.add_typer``). A command
    name that is already taken is an error that names the plugin. Raise
    :class:`reasonloop.errors.UsageError` (or another ``ReasonloopError``)
    for bad input: the CLI prints it without a traceback and exits with its
    code. The return value is ignored.
    """


@hookspec
def reasonloop_register_settings(register: Callable[[str, type[BaseModel]], None]) -> None:
    """Declare the settings a plugin reads from the recipe's ``plugins.settings``.

    Called once per run when its plugins are loaded (also by ``validate``
    and ``schema``). Call ``register(name, model)`` with a pydantic model
    class (``extra="forbid"``, so a misspelt key is an error); the recipe's
    ``plugins.settings.<name>`` is then validated against it once, before
    any work, and a block that no plugin declares, an unknown key or a bad
    value stops the command with an error naming the file and the dotted
    key. The validated model is ``run.settings_for(name)`` (``None`` when
    the recipe has no block), and ``reasonloop schema`` includes it. A
    plugin that is only switched on registers
    :class:`reasonloop.core.settings.NoSettings`. A name registered twice is
    an error that names both plugins. The return value is ignored.
    """


# -- The run --------------------------------------------------------------------


@hookspec
def reasonloop_run_start(run: RunContext) -> None:
    """Prepare for a run (or a resumed run).

    Called once after the recipe is loaded and the run directory exists,
    before any stage. ``run`` gives the recipe, the run directory, this
    plugin's validated settings (``run.settings_for(name)``, see
    :func:`reasonloop_register_settings`) and the plugin manager; a plugin
    that keeps state for the run registers one instance here
    (``run.pm.register(obj)``) that holds its settings and implements the
    per-run hooks. The return value is ignored.
    """


@hookspec
def reasonloop_round_requests(ctx: RoundContext) -> list[Request] | None:
    """Ask for the requests of the next sampling round.

    Called at the start of every round, round 0 included, in training
    (``ctx.mode == "train"``) and evaluation (``"eval"``). ``ctx`` gives the
    round number, the problems, every sample drawn so far in this stage
    (``ctx.samples_for(problem_id)``), the samples of the previous round
    (``ctx.new_samples``), a request builder (``ctx.request(...)``) and the
    recipe. In evaluation mode problems carry no reference and samples no
    verdict, so a test-time method sees only what it would in deployment.

    Return the requests to send (each addressed to a role), or ``None`` /
    an empty list for none. Request ids must be deterministic (use
    ``ctx.request``). Sampling stops when no plugin returns a request.
    """


@hookspec
def reasonloop_training_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[TrainingExample] | None:
    """Turn a problem's verified samples into training examples.

    Called once per training problem after sampling. ``samples`` are all of
    the problem's samples of this iteration, with verdicts. Each plugin
    converts the samples it produced (by ``sample.request.plugin``) and
    removes what the model must not learn to rely on (hints, critiques).
    Return a list of examples, or ``None`` for none. All results are
    concatenated.
    """


@hookspec
def reasonloop_preference_pairs(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[PreferencePair] | None:
    """Turn a problem's verified samples into preference pairs (preferred over dispreferred).

    Called once per training problem after sampling, next to
    :func:`reasonloop_training_examples`, with the same arguments. Each
    plugin pairs the samples it produced: a correct answer over a wrong one,
    a correction over the attempt it corrected. Build pairs with
    ``ctx.run.preference_pair(problem, (good, text), (bad, text), source=...,
    pairing=...)``, which puts the plain question in the prompt (hints,
    critiques and feedback left out), and clean the chosen text as the
    plugin's training examples are cleaned. Return a list of pairs, or
    ``None`` for none. All results are concatenated, repeats dropped, and
    written to the iteration's ``preferences.jsonl`` (TRL's conversational
    preference format, counted by ``source`` in the report), which the
    ``trl-dpo`` and ``trl-kto`` trainers train on.
    """


@hookspec(firstresult=True)
def reasonloop_select_examples(
    examples: list[TrainingExample], ctx: IterationContext
) -> list[TrainingExample] | None:
    """Choose which candidate training examples the trainer sees.

    Called once per iteration after :func:`reasonloop_training_examples`.
    Return the selected examples, or ``None`` to leave selection to the next
    plugin. Only the first non-``None`` result counts (``firstresult``); the
    built-in selection (deduplicate, cap per problem) runs last.
    """


@hookspec(firstresult=True)
def reasonloop_order_examples(
    examples: list[TrainingExample], ctx: IterationContext
) -> list[TrainingExample] | None:
    """Order the training examples (e.g. a curriculum).

    Called once per iteration after selection, before ``train.jsonl`` is
    written, with every example the trainer will see (with
    ``trainer.examples: all``, the default with ``restart_from_base``,
    earlier iterations' selections too).
    Return the same examples in the order the trainer must see them, or
    ``None`` to keep the order. Only the first non-``None`` result counts.
    When a plugin orders, the loop calls the trainer with ``ordered=True``,
    so it keeps the file's order instead of shuffling.
    """


@hookspec(firstresult=True)
def reasonloop_final_answer(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> Sample | None:
    """Pick the sample that stands as the model's answer in evaluation.

    Called once per evaluation problem after all rounds, with the problem
    (no reference) and its samples (no verdicts). Return the chosen sample,
    or ``None`` to let the next plugin choose. Only the first non-``None``
    result counts; the built-in choice is the last actor sample of the
    deepest round.
    """


@hookspec
def reasonloop_eval_metrics(
    problems: list[Problem], samples: list[Sample], ctx: IterationContext
) -> dict[str, Any] | None:
    """Add metrics to an evaluation.

    Called once per evaluation after the final answers are scored, with the
    problems (references included: the plugin only reports now) and every
    sample with its verdict. Return a dict of extra metrics to merge into
    ``eval.json`` under the plugin's name, or ``None``.
    """


@hookspec
def reasonloop_iteration_end(ctx: IterationContext, summary: dict[str, Any]) -> None:
    """Observe a finished iteration.

    Called after an iteration's evaluation is written (a resumed run calls it
    again for the iterations it had finished), with ``ctx``, the iteration's
    training context, and ``summary``, its row of the run summary: the dict
    of a :class:`reasonloop.core.report.StageSummary`, the same row the report
    and the CLI's table show. Keys: ``stage`` (``iter-NNN``), ``iteration``,
    ``accuracy`` (held-out, ``None`` without an eval set), ``by`` (accuracy
    by problem metadata), ``pass_at_k``, ``samples`` drawn, examples
    ``kept``, ``tokens`` (sampling and evaluation), ``seconds`` of wall time
    and ``compute`` (tokens by role, plugin and purpose). The return value
    is ignored.
    """


@hookspec
def reasonloop_report_sections(run: RunContext) -> list[str] | None:
    """Add sections to ``report.md``.

    Called when the report is written. Return Markdown sections (each
    starting with a ``##`` heading), or ``None``.
    """
