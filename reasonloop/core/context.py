"""What hooks receive: the run, one iteration's stage, and one sampling round."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reasonloop.core.records import (
    Message,
    PreferencePair,
    Problem,
    Request,
    Sample,
    SamplingParams,
    TrainingExample,
    stable_id,
)
from reasonloop.errors import UsageError

if TYPE_CHECKING:
    import pluggy

    from reasonloop.core.hooks import Hooks
    from reasonloop.core.plugins import Registry
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.recipe import Recipe, RoleConfig
    from reasonloop.core.rundir import RunDirectory
    from reasonloop.core.settings import PluginSettings

__all__ = [
    "AFTER_ROUNDS",
    "IterationContext",
    "RoundContext",
    "RunContext",
    "TrajectoryForm",
    "owner_of",
]

#: The suffix of a per-run instance's plugin name (see :meth:`RunContext.register_plugin`).
RUN_SUFFIX = ".run"


def owner_of(plugin_name: str) -> str:
    """The plugin a registered name belongs to: ``critic`` for its per-run ``critic.run``."""
    return plugin_name.removesuffix(RUN_SUFFIX)


Mode = Literal["train", "eval"]
#: The ``round`` of a request sent after the sampling rounds (:meth:`IterationContext.generate`).
AFTER_ROUNDS = -1
#: How a plugin turns a corrected attempt into training examples (its
#: ``trajectories`` setting): see :meth:`RunContext.refinement_examples`.
TrajectoryForm = Literal["plain", "chain", "both"]


@dataclass
class RunContext:
    """One run: the recipe, its directory, plugins and registries."""

    recipe: Recipe
    run_dir: RunDirectory
    pm: pluggy.PluginManager
    hooks: Hooks
    backends: Registry
    verifiers: Registry
    trainers: Registry
    datasets: Registry
    progress: RunProgress
    #: The recipe's ``plugins.settings``, validated against each plugin's model.
    settings: PluginSettings
    #: Shaping rewards for online trainers (``reasonloop_register_rewards``).
    rewards: Registry | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("reasonloop"))
    #: Roles the recipe may leave out, and the role each one copies.
    role_defaults: dict[str, str] = field(default_factory=dict)
    _closers: list[Any] = field(default_factory=list, repr=False)
    _run_plugins: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Per-run instances belong to one run: drop those an earlier run on
        # this plugin manager left behind.
        for name, plugin in self.pm.list_name_plugin():
            if name.endswith(RUN_SUFFIX) and plugin is not None:
                self.pm.unregister(plugin)

    def on_close(self, callback: Any) -> None:
        """Call ``callback()`` when the run's stages end (even on error).

        A plugin that starts processes for the run (an execution pool, a
        server) registers their shutdown here.
        """
        self._closers.append(callback)

    def close(self) -> None:
        """Run the ``on_close`` callbacks, most recent first."""
        while self._closers:
            self._closers.pop()()

    def settings_for(self, name: str) -> Any:
        """The validated ``plugins.settings.<name>``; ``None`` when the recipe has none.

        The value is an instance of the model the plugin registered with
        :func:`~reasonloop.core.hookspecs.reasonloop_register_settings`.
        """
        return self.settings.values.get(name)

    def register_plugin(self, plugin: object, owner: str) -> None:
        """Register ``plugin`` as the per-run instance of plugin ``owner`` (named ``owner.run``).

        A plugin calls this in :func:`reasonloop_run_start` with one object
        that holds its validated settings and implements the per-run hooks.
        An instance left by an earlier run on the same plugin manager is
        replaced. Instances are kept in the order their owners were
        registered in, so their hooks are called in the order the owners'
        own hooks would be (which orders requests and training examples).
        """
        self._run_plugins[owner] = plugin
        for name in self._run_plugins:
            old = self.pm.get_plugin(name + RUN_SUFFIX)
            if old is not None:
                self.pm.unregister(old)
        order = {name: i for i, (name, _) in enumerate(self.pm.list_name_plugin())}
        for name in sorted(self._run_plugins, key=lambda n: order.get(n, len(order))):
            self.pm.register(self._run_plugins[name], name=name + RUN_SUFFIX)

    def default_role(self, role: str, like: str = "actor") -> None:
        """Let the recipe leave ``role`` out: it then uses ``like``'s configuration.

        A plugin that asks a helper role (``critic``, ``teacher``) calls this
        in :func:`reasonloop_run_start`, so the role runs on the actor's
        backend and base model unless the recipe configures it.
        """
        self.role_defaults.setdefault(role, like)

    def role_config(self, role: str) -> RoleConfig:
        """The configuration of ``role``: the recipe's, or the role it defaults to."""
        roles = self.recipe.roles
        if role in roles:
            return roles[role]
        if role in self.role_defaults and self.role_defaults[role] in roles:
            return roles[self.role_defaults[role]]
        raise UsageError(
            f"role {role!r} is not defined in the recipe (roles: {', '.join(roles)}); "
            f"add roles.{role} with a backend and model"
        )

    def problem_messages(self, problem: Problem, text: str | None = None) -> list[Message]:
        """The actor's messages for a problem: system prompt (if set) and user turn.

        ``text`` replaces the formatted problem (plugins add hints this way,
        starting from :meth:`format_problem`).
        """
        messages = []
        system = self.recipe.roles["actor"].system_prompt
        if system:
            messages.append(Message(role="system", content=system))
        messages.append(Message(role="user", content=text or self.format_problem(problem)))
        return messages

    def solution_example(
        self,
        problem: Problem,
        sample: Sample,
        text: str,
        *,
        plugin: str,
        metadata: dict[str, Any] | None = None,
    ) -> TrainingExample:
        """The plain training example: the problem as the actor sees it -> ``text``.

        Method plugins use it for what the model should learn to write on
        its own (hints, critiques and feedback left out of the prompt).
        """
        meta = {"difficulty": problem.difficulty, "source": problem.source}
        return TrainingExample(
            id=stable_id("example", sample.id),
            problem_id=problem.id,
            sample_id=sample.id,
            messages=[*self.problem_messages(problem), Message(role="assistant", content=text)],
            plugin=plugin,
            how=sample.request.how,
            metadata={**meta, **(metadata or {})},
        )

    def refinement_examples(
        self,
        problem: Problem,
        sample: Sample,
        text: str,
        *,
        trajectory: list[Message],
        form: TrajectoryForm,
        plugin: str,
        chain_text: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[TrainingExample]:
        """Examples from a corrected attempt, as a plugin's ``trajectories`` setting asks.

        ``trajectory`` is the conversation that led to the correction: the
        question, the wrong attempt (assistant) and the feedback on it (user),
        possibly several rounds. ``plain`` gives the question -> ``text``
        example (:meth:`solution_example`); ``chain`` gives the whole
        trajectory followed by the correction (``chain_text``, default
        ``text``), trained on the correction only: the wrong attempts are in
        the context but carry no loss, so the model learns to recover from its
        own errors, not to make them; ``both`` gives the two.
        """
        examples = []
        if form in ("plain", "both"):
            examples.append(
                self.solution_example(problem, sample, text, plugin=plugin, metadata=metadata)
            )
        if form in ("chain", "both"):
            turns = [
                m.model_copy(update={"train": False}) if m.role == "assistant" else m
                for m in trajectory
            ]
            final = Message(role="assistant", content=chain_text or text, train=True)
            meta = {"difficulty": problem.difficulty, "source": problem.source}
            examples.append(
                TrainingExample(
                    id=stable_id("chain", sample.id),
                    problem_id=problem.id,
                    sample_id=sample.id,
                    messages=[*turns, final],
                    plugin=plugin,
                    how=f"{sample.request.how}-chain",
                    metadata={**meta, **(metadata or {}), "trajectory": "chain"},
                )
            )
        return examples

    def preference_pair(
        self,
        problem: Problem,
        chosen: tuple[Sample, str],
        rejected: tuple[Sample, str],
        *,
        source: str,
        pairing: str,
        metadata: dict[str, Any] | None = None,
    ) -> PreferencePair:
        """A pair on the problem as the actor sees it: ``chosen`` (sample, text) over ``rejected``.

        The prompt is the plain question, as for :meth:`solution_example`, so
        hints, critiques and feedback stay out of what the model learns from.
        """
        (good, good_text), (bad, bad_text) = chosen, rejected
        meta = {"difficulty": problem.difficulty, "source": problem.source}
        return PreferencePair(
            id=stable_id("pair", good.id, bad.id),
            problem_id=problem.id,
            prompt=self.problem_messages(problem),
            chosen=good_text,
            rejected=bad_text,
            chosen_sample_id=good.id,
            rejected_sample_id=bad.id,
            source=source,
            pairing=pairing,
            metadata={**meta, "chosen_how": good.request.how, **(metadata or {})},
        )

    def format_problem(self, problem: Problem) -> str:
        """The problem as the actor's user message, through its domain's template."""
        prompt = self.recipe.prompt
        template = prompt.code_template if problem.domain == "code" else prompt.template
        return template.replace("{prompt}", problem.prompt)


@dataclass
class IterationContext:
    """One stage of one iteration: which problems, which mode, which models."""

    run: RunContext
    #: ``None`` for the base model's evaluation, else 0, 1, ...
    iteration: int | None
    mode: Mode
    problems: list[Problem]
    #: The model each role uses in this stage.
    models: dict[str, str]
    #: Sends requests for :meth:`generate`; the loop sets it for the stages it runs.
    sender: Callable[[list[Request], str], list[Sample]] | None = field(default=None, repr=False)

    @property
    def recipe(self) -> Recipe:
        return self.run.recipe

    def request(
        self,
        problem: Problem,
        messages: Sequence[Message],
        *,
        plugin: str,
        round: int,
        purpose: str = "sample",
        how: str = "plain",
        role: str = "actor",
        parent: Sample | None = None,
        key: str = "",
        prefill: str | None = None,
        meta: dict[str, Any] | None = None,
        answers_problem: bool | None = None,
        **sampling: Any,
    ) -> Request:
        """Build a request with a deterministic id and seed.

        ``round`` is the sampling round that asks (:meth:`RoundContext.request`
        fills it in), or :data:`AFTER_ROUNDS` for a request a plugin sends
        with :meth:`generate` once the rounds are over.

        ``key`` tells apart requests that share everything else (e.g. the
        strategy or attempt number). ``sampling`` sets :class:`SamplingParams`
        fields; unset ones take the role's defaults at the backend.
        ``answers_problem`` defaults to whether the role is the actor.
        """
        rid = stable_id(
            self.mode,
            self.iteration,
            problem.id,
            round,
            plugin,
            purpose,
            parent.id if parent else "",
            key,
        )
        params = SamplingParams(**sampling)
        if params.seed is None:
            # Each request gets its own seed, derived from the role's seed (or
            # the recipe's), so resampling is reproducible request by request.
            known = role in self.recipe.roles or role in self.run.role_defaults
            base = self.run.role_config(role).sampling.seed if known else None
            base = self.recipe.seed if base is None else base
            params.seed = int(stable_id(base, rid, length=8), 16) % (2**31)
        return Request(
            id=rid,
            problem_id=problem.id,
            role=role,
            messages=list(messages),
            prefill=prefill,
            sampling=params,
            plugin=plugin,
            purpose=purpose,
            how=how,
            parent_sample_id=parent.id if parent else None,
            round=round,
            answers_problem=role == "actor" if answers_problem is None else answers_problem,
            meta=meta or {},
        )

    def generate(self, requests: list[Request], label: str) -> list[Sample]:
        """Send ``requests`` to their roles' backends now, outside the sampling rounds.

        For a plugin that needs another role's answers after sampling (the
        raters plugin asks a judge while it selects). The core batches them
        per role as it batches a round, appends the samples to the stage's
        samples file (so the compute ledger counts them under the request's
        plugin and purpose) and, on a resumed run, returns the samples of
        requests already answered instead of asking again. ``label`` names the
        progress bar. Returns the samples in request order.
        """
        if self.sender is None:
            raise UsageError(
                f"{self.mode} stage of iteration {self.iteration} was not started by the loop: "
                "it cannot send requests"
            )
        return self.sender(requests, label)


@dataclass
class RoundContext:
    """One sampling round, as plugins see it.

    In evaluation mode :attr:`problems` carry no reference and samples no
    verdict: a test-time method sees what it would see in deployment.
    """

    stage: IterationContext
    round: int
    problems: list[Problem]
    #: Every sample of this stage so far, oldest first.
    samples: list[Sample]
    #: The samples drawn in the previous round (empty in round 0).
    new_samples: list[Sample]
    _by_problem: dict[str, list[Sample]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            grouped[s.problem_id].append(s)
        self._by_problem = dict(grouped)

    @property
    def mode(self) -> Mode:
        return self.stage.mode

    @property
    def run(self) -> RunContext:
        return self.stage.run

    @property
    def recipe(self) -> Recipe:
        return self.stage.run.recipe

    def samples_for(self, problem_id: str) -> list[Sample]:
        return self._by_problem.get(problem_id, [])

    def request(
        self,
        problem: Problem,
        messages: Sequence[Message],
        *,
        plugin: str,
        purpose: str = "sample",
        how: str = "plain",
        role: str = "actor",
        parent: Sample | None = None,
        key: str = "",
        prefill: str | None = None,
        meta: dict[str, Any] | None = None,
        answers_problem: bool | None = None,
        **sampling: Any,
    ) -> Request:
        """Build a request of this round with a deterministic id and seed.

        ``key`` tells apart requests that share everything else (e.g. the
        strategy or attempt number). ``sampling`` sets :class:`SamplingParams`
        fields; unset ones take the role's defaults at the backend.
        ``answers_problem`` defaults to whether the role is the actor.
        """
        return self.stage.request(
            problem,
            messages,
            round=self.round,
            plugin=plugin,
            purpose=purpose,
            how=how,
            role=role,
            parent=parent,
            key=key,
            prefill=prefill,
            meta=meta,
            answers_problem=answers_problem,
            **sampling,
        )
