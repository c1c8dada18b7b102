"""The loop: sample -> verify -> select -> train -> evaluate, for N iterations.

Each stage writes its artifact atomically and is then recorded in
``state.json``; a resumed run skips recorded stages, and the sampling stages
skip requests whose samples are already on disk.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import pluggy
import yaml

from reasonloop.core.context import IterationContext, RunContext
from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.evaluation import evaluate_stage
from reasonloop.core.hooks import Hooks, stop_on_plugin_failure
from reasonloop.core.plugins import Registry, build_checked, describe_plugins, make_plugin_manager
from reasonloop.core.preferences import unique_pairs, unpaired_rows
from reasonloop.core.progress import RunProgress
from reasonloop.core.protocols import TrainResult, capability
from reasonloop.core.recipe import Recipe
from reasonloop.core.records import PreferencePair, Problem, Request, Sample, TrainingExample
from reasonloop.core.report import StageSummary, stage_summary, write_report
from reasonloop.core.rundir import (
    JsonlLog,
    RunDirectory,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    write_records,
)
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.core.settings import validate_plugin_settings
from reasonloop.core.tracking import check_tracking, trainer_report_args
from reasonloop.core.validation import did_you_mean
from reasonloop.core.verification import DomainVerifiers
from reasonloop.errors import UsageError

__all__ = ["Loop", "build_run_context"]


def build_run_context(
    recipe: Recipe,
    run_dir: Path,
    progress: RunProgress,
    pm: pluggy.PluginManager | None = None,
) -> RunContext:
    """Load plugins and registries for a recipe, checking every name it uses."""
    pm = pm or make_plugin_manager(disable=recipe.plugins.disable)
    run = RunContext(
        recipe=recipe,
        run_dir=RunDirectory(run_dir),
        pm=pm,
        hooks=Hooks(pm),
        backends=Registry.collect(pm, "reasonloop_register_backends", "backend"),
        verifiers=Registry.collect(pm, "reasonloop_register_verifiers", "verifier"),
        trainers=Registry.collect(pm, "reasonloop_register_trainers", "trainer"),
        datasets=Registry.collect(pm, "reasonloop_register_datasets", "dataset"),
        progress=progress,
        settings=validate_plugin_settings(recipe, pm),
        rewards=Registry.collect(pm, "reasonloop_register_rewards", "reward"),
    )
    for note in run.settings.notes():
        progress.event(note)
    for role, cfg in recipe.roles.items():
        _known(run.backends, cfg.backend, f"roles.{role}.backend", recipe.source)
        _check_backend_options(run.backends.get(cfg.backend), role, cfg.backend_options, recipe)
    _known(run.verifiers, recipe.verifier.name, "verifier.name", recipe.source)
    for domain, chosen in recipe.verifier.domains.items():
        _known(run.verifiers, chosen.name, f"verifier.domains.{domain}.name", recipe.source)
    _known(run.trainers, recipe.trainer.name, "trainer.name", recipe.source)
    for split in ("train", "eval"):
        for i, spec in enumerate(getattr(recipe.data, split)):
            _known(run.datasets, spec.name, f"data.{split}.{i}.name", recipe.source)
    # Trainers only validate their options when built, which is cheap: do it
    # now so a misspelt option fails before hours of sampling, not after.
    trainer = build_checked(
        run.trainers.get(recipe.trainer.name),
        "trainer.options",
        dict(recipe.trainer.options),
        source=recipe.source,
    )
    _check_actor_follows_training(run, trainer)
    for name in getattr(trainer, "shaping_rewards", ()):
        _known(run.rewards, name, f"trainer.options.rewards.{name}", recipe.source)
    check_tracking(recipe)
    return run


def _check_backend_options(
    factory: Any, role: str, options: dict[str, Any], recipe: Recipe
) -> None:
    """Check a role's backend options against the model its backend declares, if any.

    Building a backend loads a model or opens connections; its options model
    is checked alone, so a misspelt ``tensor_parallel_size`` fails here.
    """
    model = getattr(factory, "options_model", None)
    if model is None:
        return
    given = {k: v for k, v in options.items() if k != "defaults"}
    build_checked(
        model.model_validate, f"roles.{role}.backend_options", given, source=recipe.source
    )


def _check_actor_follows_training(run: RunContext, trainer: Any) -> None:
    """A served actor cannot load a full checkpoint: say so before any work."""
    actor = run.recipe.roles.get("actor")
    if actor is None or not run.recipe.iterations:
        return
    if not capability(trainer, "changes_model") or capability(trainer, "trains_adapter"):
        return
    if capability(run.backends.get(actor.backend), "loads_checkpoints"):
        return
    raise UsageError(
        f"roles.actor.backend: {actor.backend!r} serves only what its servers serve, and "
        f"trainer {run.recipe.trainer.name!r} writes a full checkpoint they cannot load; "
        "train LoRA adapters (trainer.options.method: lora), which are loaded into the "
        "servers, or set trainer.name: none"
    )


def _known(registry: Registry, name: str, key: str, source: str) -> None:
    """Stop with the file, the key and the close names when ``name`` is not registered."""
    if name not in registry.entries:
        raise UsageError(
            f"{source}: {key}: unknown {registry.kind} {name!r}"
            f"{did_you_mean(name, registry.names())} (known: "
            f"{', '.join(registry.names()) or 'none'})"
        )


class Loop:
    """Runs (or resumes) a recipe in its run directory."""

    def __init__(self, run: RunContext):
        self.run = run
        self.recipe = run.recipe
        self.dir = run.run_dir
        self.state = self.dir.load_state()
        self.backends = BackendPool(run)
        self._verifier: Any = None
        self._built_trainer: Any = None

    # -- bookkeeping -----------------------------------------------------------

    def _done(self, stage: str) -> bool:
        return self.state.done(stage)

    def _complete(self, stage: str, seconds: float) -> None:
        self.state.complete(stage, seconds)
        self.dir.save_state(self.state)

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            self._verifier = DomainVerifiers(self.run)
        return self._verifier

    # -- problems --------------------------------------------------------------

    def _problems(self, split: str) -> list[Problem]:
        path = self.dir.root / "problems" / f"{split}.jsonl"
        if path.exists():
            return read_jsonl(path, Problem)
        problems: list[Problem] = []
        for spec in getattr(self.recipe.data, split):
            problems.extend(self._load(spec))
        ids = [p.id for p in problems]
        if len(set(ids)) != len(ids):
            raise UsageError(f"data.{split}: problem ids are not unique across sources")
        write_records(path, problems)
        return problems

    def _load(self, spec: DatasetSpec) -> list[Problem]:
        loader = self.run.datasets.get(spec.name)
        problems = loader(spec)
        self.run.progress.event(f"loaded {len(problems)} problems from {spec.name}")
        return problems

    def _iteration_problems(self, pool: list[Problem], iteration: int) -> list[Problem]:
        k = self.recipe.data.problems_per_iteration
        if k is None or not pool:
            return pool
        start = (iteration * k) % len(pool)
        chosen = (pool[start:] + pool[:start])[:k]
        if (iteration + 1) * k > len(pool):
            self.run.progress.event(
                f"training pool has {len(pool)} problems; iteration {iteration} reuses some"
            )
        return chosen

    # -- models ----------------------------------------------------------------

    def _models(self, iteration: int | None) -> dict[str, str]:
        """The model of each role in ``iteration`` before it trains (None: base)."""
        models = {role: cfg.model for role, cfg in self.recipe.roles.items()}
        trained = self.state.models
        previous = [k for k in trained if iteration is not None and k < iteration]
        if previous:
            last = max(previous)
            models["actor"] = trained[last]
            adapter = self.state.adapters.get(last)
            if adapter and self._adapters_on_base("actor"):
                # The engine keeps its base model; the adapter is swapped in.
                models["actor"] = adapter
        return models

    def _adapters_on_base(self, role: str) -> bool:
        # Read off what was registered: the backend for this model is not built yet.
        factory = self.run.backends.get(self.run.role_config(role).backend)
        return capability(factory, "adapters_on_base")

    def _models_after(self, iteration: int) -> dict[str, str]:
        return self._models(iteration + 1)

    # -- the run ---------------------------------------------------------------

    def _resume_hint(self) -> str:
        if self.dir.recipe_path.exists():
            return f"once the plugin is fixed, continue with: reasonloop resume {self.dir.root}"
        return "once the plugin is fixed, start the run again"

    def run_all(self) -> list[StageSummary]:
        """Run every remaining stage and write the report; return the summary rows."""
        # A plugin that raises stops the run with one message; resume continues it.
        with stop_on_plugin_failure(self._resume_hint):
            return self._run_all()

    def _run_all(self) -> list[StageSummary]:
        self.run.hooks.run_start(self.run)
        self._write_resolved_recipe()
        train_pool = self._problems("train")
        eval_set = self._problems("eval")
        try:
            if self.recipe.eval.baseline and eval_set:
                self._evaluate(None, eval_set, self._models(None))
            for it in range(self.recipe.iterations):
                self._iteration(it, train_pool, eval_set)
        finally:
            self.backends.close_all()
            if self._verifier is not None:
                self._verifier.close()
            self.run.close()
        return write_report(self.run)

    def evaluate_only(self) -> dict[str, Any]:
        """Evaluate the recipe's actor model on the held-out set; return eval.json."""
        with stop_on_plugin_failure(
            lambda: (
                "once the plugin is fixed, run the same command again: "
                "it reuses the samples already drawn"
            )
        ):
            return self._evaluate_only()

    def _evaluate_only(self) -> dict[str, Any]:
        self.run.hooks.run_start(self.run)
        self._write_resolved_recipe()
        eval_set = self._problems("eval")
        if not eval_set:
            raise UsageError("data.eval: the recipe has no evaluation problems")
        try:
            self._evaluate(None, eval_set, self._models(None))
        finally:
            self.backends.close_all()
            if self._verifier is not None:
                self._verifier.close()
            self.run.close()
        return json.loads((self.dir.stage_dir(None) / "eval.json").read_text())

    def _write_resolved_recipe(self) -> None:
        if self.dir.recipe_path.exists():
            return
        data = self.recipe.model_dump(mode="json")
        data["_plugins"] = {p["name"]: p["version"] for p in describe_plugins(self.run.pm)}
        atomic_write_text(self.dir.recipe_path, yaml.safe_dump(data, sort_keys=False))

    def _iteration(self, it: int, pool: list[Problem], eval_set: list[Problem]) -> None:
        d = self.dir.stage_dir(it)
        problems = self._iteration_problems(pool, it)
        models = self._models(it)
        stage = IterationContext(self.run, it, "train", problems, models)
        stage.sender = partial(self._send, stage, d / "samples.jsonl")
        name = f"iter-{it:03d}"
        # An online trainer samples as it trains: no sampling or selection stage.
        online = capability(self._trainer(), "online")
        if not online and not self._done(f"{name}/sample"):
            began = time.monotonic()
            self.run.progress.event(f"iteration {it}: sampling {len(problems)} problems")
            self._sample(stage, JsonlLog(d / "samples.jsonl", Sample))
            self._complete(f"{name}/sample", time.monotonic() - began)
        if not online and not self._done(f"{name}/select"):
            began = time.monotonic()
            samples = list(JsonlLog(d / "samples.jsonl", Sample))
            kept, ordered = self._select(stage, samples)
            # The train stage must know, even after a resume, that a plugin
            # fixed the order of train.jsonl: it tells the trainer to keep it.
            flags = [i for i in self.state.ordered if i != it] + ([it] if ordered else [])
            self.state.ordered = flags
            self._complete(f"{name}/select", time.monotonic() - began)
            self.run.progress.event(
                f"iteration {it}: kept {len(kept)} training examples from {len(samples)} samples"
            )
        if not self._done(f"{name}/train"):
            began = time.monotonic()
            result = self._train(it, models["actor"], problems if online else None)
            if result.model_path:
                self.state.models[it] = result.model_path
            if result.adapter_path:
                self.state.adapters[it] = result.adapter_path
            self.state.train_metrics[it] = result.metrics
            self._complete(f"{name}/train", time.monotonic() - began)
        if eval_set and not self._done(f"{name}/eval"):
            self._evaluate(it, eval_set, self._models_after(it))
        summary = self._summary(it)
        self.run.hooks.iteration_end(stage, summary)

    def _sample(self, stage: IterationContext, log: JsonlLog[Sample]) -> list[Sample]:
        scheduler = RoundScheduler(stage, self.backends, self.verifier)
        with self.run.progress.task(
            f"sample iter {stage.iteration}", total=0, unit="samples"
        ) as task:
            return scheduler.run_rounds(log, self.recipe.sampling.max_rounds, task)

    def _send(
        self, stage: IterationContext, path: Path, requests: list[Request], label: str
    ) -> list[Sample]:
        """Answer a plugin's requests outside the rounds, into the stage's samples file."""
        scheduler = RoundScheduler(stage, self.backends, self.verifier)
        with self.run.progress.task(label, total=0, unit="samples") as task:
            return scheduler.send(requests, JsonlLog(path, Sample), task)

    def _select(
        self, stage: IterationContext, samples: list[Sample]
    ) -> tuple[list[TrainingExample], bool]:
        """Write the selection and train.jsonl; return the selection and whether it is ordered."""
        by_problem: dict[str, list[Sample]] = {}
        for s in samples:
            by_problem.setdefault(s.problem_id, []).append(s)
        candidates: list[TrainingExample] = []
        pairs: list[PreferencePair] = []
        for problem in stage.problems:
            mine = by_problem.get(problem.id, [])
            candidates.extend(self.run.hooks.training_examples(problem, mine, stage))
            pairs.extend(self.run.hooks.preference_pairs(problem, mine, stage))
        selected = self.run.hooks.select_examples(candidates, stage)
        d = self.dir.stage_dir(stage.iteration)
        write_records(d / "candidates.jsonl", candidates)
        write_records(d / "selected.jsonl", selected)
        # Preference data for the preference trainers (and anyone's own script).
        pairs = unique_pairs(pairs)
        write_records(d / "preferences.jsonl", (p.to_trl() for p in pairs))
        unpaired = unpaired_rows(selected, samples, pairs, self.recipe.preferences)
        write_records(d / "unpaired.jsonl", unpaired)
        train_rows = selected
        if self.recipe.trainer.trains_on_all_iterations:
            train_rows = []
            for it in range(stage.iteration or 0):
                train_rows.extend(
                    read_jsonl(self.dir.stage_dir(it) / "selected.jsonl", TrainingExample)
                )
            train_rows.extend(selected)
        # Ordering sees exactly what the trainer will see, so a curriculum
        # spans the whole file (with trainer.examples: all, earlier selections too).
        ordered = self.run.hooks.order_examples(train_rows, stage)
        write_records(d / "train.jsonl", (ex.to_trl() for ex in ordered or train_rows))
        return selected, ordered is not None

    def _trainer(self) -> Any:
        """The recipe's trainer, built once to read its capabilities."""
        if self._built_trainer is None:
            factory = self.run.trainers.get(self.recipe.trainer.name)
            self._built_trainer = factory(dict(self.recipe.trainer.options))
        return self._built_trainer

    def _write_prompts(self, it: int, problems: list[Problem]) -> Path:
        """``prompts.jsonl`` for an online trainer: the actor's messages per problem."""
        rows = [
            {
                "prompt": [
                    {"role": m.role, "content": m.content} for m in self.run.problem_messages(p)
                ],
                "problem_id": p.id,
                "problem": p.model_dump_json(),
                "iteration": it,
            }
            for p in problems
        ]
        path = self.dir.stage_dir(it) / "prompts.jsonl"
        write_records(path, rows)
        return path

    def _train(
        self, it: int, current_model: str, online_problems: list[Problem] | None = None
    ) -> TrainResult:
        d = self.dir.stage_dir(it)
        factory = self.run.trainers.get(self.recipe.trainer.name)
        trainer = factory(dict(self.recipe.trainer.options))
        data = d / "train.jsonl"
        if online_problems is not None:
            data = self._write_prompts(it, online_problems)
        # Free the generation models before training (engines that can take
        # the adapter this trainer makes stay up).
        kept = self.backends.release_for_training(capability(trainer, "trains_adapter"))
        if kept:
            self.run.progress.event(
                f"iteration {it}: keeping {len(kept)} generation engine(s) up for the LoRA adapter"
            )
        served = self.recipe.roles["actor"].model
        base = self.recipe.trainer.base_model or served
        if current_model == served:
            current_model = base
        start_from = base if self.recipe.trainer.restart_from_base else current_model
        # Only said when true, so trainers written before these flags still work.
        keep: dict[str, Any] = {"ordered": True} if it in self.state.ordered else {}
        if capability(trainer, "takes_seed"):
            keep["seed"] = self.recipe.seed
        what = "examples" if online_problems is None else "prompts"
        if capability(trainer, "uses_preferences"):
            keep.update(preferences=d / "preferences.jsonl", unpaired=d / "unpaired.jsonl")
            data, what = d / trainer.data_file, f"rows of {trainer.data_file}"
        n = sum(1 for _ in data.open()) if data.exists() else 0
        self.run.progress.event(
            f"iteration {it}: training {self.recipe.trainer.name} on {n} {what} from {start_from}"
        )
        if n == 0:
            self.run.progress.event(f"iteration {it}: no training {what}; model unchanged")
            return TrainResult(model_path=None, metrics={"skipped": f"no training {what}"})
        with self.run.progress.task(f"train iter {it}", total=0, unit="steps") as task:

            def on_progress(step: int, total: int) -> None:
                if total != task.total:
                    task.set_total(total)
                task.advance(step - task.done)

            report = trainer_report_args(self.recipe, self.dir.root, it)
            if report and capability(trainer, "accepts_report"):
                keep["report"] = report
            if online_problems is not None:
                keep["verifier"] = self.verifier
            rewards = {
                name: self.run.rewards.get(name)(self.run)
                for name in getattr(trainer, "shaping_rewards", ())
            }
            if rewards:
                keep["rewards"] = rewards
            try:
                return trainer.train(data, start_from, d, on_progress, **keep)
            finally:
                for reward in rewards.values():
                    if callable(getattr(reward, "close", None)):
                        reward.close()

    def _evaluate(
        self, iteration: int | None, problems: list[Problem], models: dict[str, str]
    ) -> None:
        label = "base" if iteration is None else f"iter-{iteration:03d}"
        key = f"{label}/eval"
        if self._done(key):
            return
        began = time.monotonic()
        stage = IterationContext(self.run, iteration, "eval", problems, models)
        self.run.progress.event(f"{label}: evaluating {models['actor']} on {len(problems)}")
        d = self.dir.stage_dir(iteration)
        stage.sender = partial(self._send, stage, d / "eval_samples.jsonl")
        scheduler = RoundScheduler(stage, self.backends, self.verifier)
        with self.run.progress.task(f"eval {label}", total=0, unit="samples") as task:
            samples = scheduler.run_rounds(
                JsonlLog(d / "eval_samples.jsonl", Sample), self.recipe.eval.max_rounds, task
            )
        metrics = evaluate_stage(stage, samples)
        atomic_write_json(d / "eval.json", metrics)
        self.run.progress.event(f"{label}: accuracy {metrics['accuracy']:.1%}")
        self._complete(key, time.monotonic() - began)

    def _summary(self, it: int) -> dict[str, Any]:
        """The iteration's summary row, as ``reasonloop_iteration_end`` receives it."""
        return stage_summary(self.dir, it, self.state.seconds).model_dump(mode="json")
