"""The recipe: a YAML file that says what a run does.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key
is an error that names it. :func:`load_recipe` turns every failure (missing
file, YAML syntax, validation) into one :class:`RecipeError` naming the file,
the dotted key and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import SamplingParams
from reasonloop.core.validation import describe_validation_error
from reasonloop.errors import RecipeError, UsageError

__all__ = [
    "RECIPE_VERSION",
    "DataConfig",
    "DomainVerifierConfig",
    "EvalConfig",
    "PreferenceConfig",
    "Recipe",
    "RoleConfig",
    "SamplingConfig",
    "SelectionConfig",
    "TrackingConfig",
    "TrainerConfig",
    "VerifierConfig",
    "apply_overrides",
    "load_recipe",
    "recipe_from_dict",
]

RECIPE_VERSION = 1


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleConfig(Section):
    """Who answers a role's requests: a backend, a model and its defaults."""

    backend: str = "transformers"
    model: str
    #: Passed to the backend factory as is (dtype, batch size, server URLs...).
    backend_options: dict[str, Any] = Field(default_factory=dict)
    #: Defaults for requests that leave a sampling parameter unset.
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.5, top_p=0.95, max_tokens=256)
    )
    #: A system message put before every request's messages; ``None`` keeps
    #: the model's chat-template default.
    system_prompt: str | None = None


DEFAULT_CODE_TEMPLATE = (
    "Complete the following Python function. Reply with the whole function, "
    "imports included, in one ```python code block.\n\n```python\n{prompt}```"
)


class PromptConfig(Section):
    """How a problem becomes the actor's user message."""

    #: ``{prompt}`` is replaced by the problem text (math and other domains).
    template: str = "{prompt}"
    #: The template for code problems; the completion's program is taken from
    #: its python code block, or read as a continuation of the prompt.
    code_template: str = DEFAULT_CODE_TEMPLATE


class DataConfig(Section):
    """Where training and evaluation problems come from."""

    train: list[DatasetSpec] = Field(default_factory=list)
    eval: list[DatasetSpec] = Field(default_factory=list)
    #: Fresh training problems drawn (without replacement) per iteration;
    #: ``None`` uses the whole training pool every iteration.
    problems_per_iteration: int | None = Field(default=None, ge=1)


class SamplingConfig(Section):
    """The training-time sampling stage."""

    #: Plain samples per training problem in round 0.
    n: int = Field(default=4, ge=1)
    #: The most rounds (round 0 included) plugins may ask for.
    max_rounds: int = Field(default=8, ge=1)
    #: Requests sent to a backend per chunk; samples are saved after each.
    chunk_size: int = Field(default=256, ge=1)


class DomainVerifierConfig(Section):
    """The verifier for one problem domain."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class VerifierConfig(Section):
    """How samples are verified: one verifier per problem domain."""

    #: The verifier for problems whose domain has no entry in ``domains``.
    name: str = "math"
    options: dict[str, Any] = Field(default_factory=dict)
    #: A verifier per problem domain, taking precedence over ``name``; by
    #: default code problems are run by the ``code`` verifier (the execution
    #: pool). Setting this mapping replaces the default.
    domains: dict[str, DomainVerifierConfig] = Field(
        default_factory=lambda: {"code": DomainVerifierConfig(name="code")}
    )

    def for_domain(self, domain: str) -> tuple[str, dict[str, Any], str]:
        """(verifier name, options, recipe key) for problems of ``domain``."""
        if domain in self.domains:
            chosen = self.domains[domain]
            return chosen.name, chosen.options, f"verifier.domains.{domain}"
        return self.name, self.options, "verifier"


class SelectionConfig(Section):
    """Which verified samples become training examples."""

    #: Keep at most this many examples per problem (``None``: no cap).
    max_per_problem: int | None = Field(default=2, ge=1)
    #: Drop examples whose completion repeats one already kept.
    dedupe: bool = True
    #: Cut a kept math sample after the sentence where the correct answer
    #: first appears and append ``Answer: N``, so the model learns to stop.
    clean: bool = True


class PreferenceConfig(Section):
    """How verified samples become preference data (``preferences.jsonl``, ``unpaired.jsonl``)."""

    #: Pairs per problem from correct vs wrong samples (``None``: no cap).
    max_per_problem: int | None = Field(default=4, ge=1)
    #: ``random``: each correct and each wrong sample in at least one pair,
    #: partners drawn at random; ``all``: every correct with every wrong;
    #: ``hardest-wrong``: each correct with the most plausible wrong answers
    #: first (an answer nearest the reference before a farther or missing one).
    pairing: Literal["random", "all", "hardest-wrong"] = "random"
    #: Wrong plain samples per problem in ``unpaired.jsonl`` (``None``: all).
    max_wrong_per_problem: int | None = Field(default=4, ge=1)


class TrainerConfig(Section):
    name: str = "trl-sft"
    options: dict[str, Any] = Field(default_factory=dict)
    #: Each iteration trains from the base model instead of continuing from
    #: the last iteration's model.
    restart_from_base: bool = False
    #: What each iteration trains on: its own selected examples
    #: (``iteration``) or every iteration's so far (``all``). ``auto``: ``all``
    #: with ``restart_from_base``, ``iteration`` without. The GSI paper's
    #: regime is ``restart_from_base: true`` with ``examples: iteration``.
    examples: Literal["auto", "iteration", "all"] = "auto"
    #: The local checkpoint the first training starts from, when the actor's
    #: ``model`` is not one (a name a server serves, with ``backend: openai``);
    #: default: the actor's model.
    base_model: str | None = None

    @property
    def trains_on_all_iterations(self) -> bool:
        """Whether ``train.jsonl`` holds every iteration's selection, not only the current one."""
        if self.examples == "auto":
            return self.restart_from_base
        return self.examples == "all"


class EvalConfig(Section):
    """Held-out evaluation after every iteration."""

    #: Evaluate the base model before the first iteration.
    baseline: bool = True
    #: Samples per problem; ``temperature: 0`` with ``n: 1`` is greedy.
    n: int = Field(default=1, ge=1)
    temperature: float = 0.0
    max_tokens: int | None = None
    max_rounds: int = Field(default=8, ge=1)


class TrackingConfig(Section):
    """Where per-stage numbers and training loss are logged (see docs/tracking.md)."""

    #: Tracking backends, each an optional extra (``tensorboard``, ``wandb``,
    #: ``mlflow``, ``trackio``); empty: no tracking, and the trainer reports nowhere.
    backends: list[Literal["tensorboard", "wandb", "mlflow", "trackio"]] = Field(
        default_factory=list
    )
    #: The project (wandb, trackio) or experiment (mlflow) the run is logged
    #: under; default: the recipe's name.
    project: str | None = None
    #: The run's name in the tracker; default: the run directory's name.
    run_name: str | None = None
    #: Where local logs go (tensorboard event files, wandb's offline files,
    #: mlflow's sqlite store, trackio's databases);
    #: default ``<run_dir>/tracking``, relative paths from the run directory.
    dir: str | None = None


class PluginsConfig(Section):
    """Which plugins run, and their settings."""

    #: Plugin names not to load at all (like ``pytest -p no:NAME``).
    disable: list[str] = Field(default_factory=list)
    #: Settings per plugin name, each checked against the model its plugin
    #: declares; a method plugin (critic, guidance...) is active only when it
    #: has an entry here.
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Recipe(Section):
    """A whole run."""

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    seed: int = 0
    #: Run the recipe once per seed (each with ``seed`` set to it) in a seed
    #: group: ``runs/<name>/seed-<s>/`` and a pooled summary in
    #: ``runs/<name>/seeds.json`` (see docs/statistics.md); ``--seeds`` overrides it.
    seeds: list[int] | None = Field(default=None, min_length=1)
    iterations: int = Field(default=1, ge=0)
    #: Where the run writes; default ``runs/<name>``.
    run_dir: str | None = None
    roles: dict[str, RoleConfig]
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    data: DataConfig
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    verifier: VerifierConfig = Field(default_factory=VerifierConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    preferences: PreferenceConfig = Field(default_factory=PreferenceConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    _source: str = PrivateAttr(default="<recipe>")

    @property
    def source(self) -> str:
        """The file the recipe was read from, as error messages name it."""
        return self._source

    @model_validator(mode="after")
    def _needs_actor(self) -> Recipe:
        if "actor" not in self.roles:
            raise ValueError("roles must define an 'actor'")
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: each seed may be given only once")
        return self

    def resolved_run_dir(self, base: Path | None = None) -> Path:
        path = Path(self.run_dir) if self.run_dir else Path("runs") / self.name
        return path if path.is_absolute() or base is None else base / path


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides; values are parsed as YAML."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"{source}: --set {item!r}: expected dotted.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise RecipeError(f"{source}: --set {key}: value is not valid YAML: {exc}") from None
        parts = key.strip().split(".")
        node: Any = data
        for i, part in enumerate(parts):
            where = ".".join(parts[: i + 1])
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise RecipeError(
                        f"{source}: --set {key}: {where}: no item {part} in a list of {len(node)}"
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                parent = ".".join(parts[:i])
                raise RecipeError(f"{source}: --set {key}: {parent} is not a mapping or list")
    return data


def recipe_from_dict(data: Any, source: str = "<recipe>") -> Recipe:
    """Validate a recipe mapping, raising one clear :class:`RecipeError`."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a YAML mapping, got {type(data).__name__}")
    if "version" not in data:
        raise RecipeError(f"{source}: version: missing (add 'version: {RECIPE_VERSION}')")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(describe_validation_error(exc, source, model=Recipe)) from None
    recipe._source = source
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load and validate a recipe file, with ``--set`` overrides applied."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecipeError(f"{source}: no such recipe file") from None
    except OSError as exc:
        raise RecipeError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{source}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if isinstance(data, dict) and overrides:
        data = apply_overrides(data, overrides, source)
    return recipe_from_dict(data, source)


def load_run_recipe(run_dir: Path) -> Recipe:
    """The resolved recipe a run directory was started with (its ``recipe.yaml``)."""
    path = Path(run_dir) / "recipe.yaml"
    if not path.exists():
        raise UsageError(f"{run_dir}: not a run directory (no recipe.yaml)")
    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data.pop("_plugins", None)  # the plugin versions the run was started with
    return recipe_from_dict(data, str(path))
