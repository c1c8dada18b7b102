"""What plugins register: the Backend, Verifier and Trainer protocols, and what each can do.

A backend, verifier or trainer is any object with the protocol's methods.
The optional capabilities are typed attributes with documented defaults;
an implementation that subclasses the protocol inherits the defaults, and
one that does not gets them through :func:`capability`, the one place the
core reads a capability (``isinstance`` against a protocol checks every
member, capabilities included, so the core never relies on it). Built-in
implementations subclass the protocols and state every capability they have.

Building a backend loads a model, and the loop must know two things before
it does: whether to hand a LoRA iteration's adapter instead of the merged
checkpoint (``adapters_on_base``) and whether a full fine-tune's checkpoint
can be loaded at all (``loads_checkpoints``). These two are therefore read
off what the plugin registered: a backend class registered as its own
factory (``register("echo", EchoBackend)``) answers with its class
attributes; a factory function answers with attributes of its own, or gets
the defaults. ``serves_adapters`` and the trainer capabilities are read off
the built object, since they may depend on its options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.records import Completion, Problem, Request, Verdict

__all__ = [
    "Backend",
    "BackendCapability",
    "BackendFactory",
    "ProgressCallback",
    "TrainProgress",
    "TrainResult",
    "Trainer",
    "TrainerCapability",
    "TrainerFactory",
    "Verifier",
    "VerifierFactory",
    "VerifyResult",
    "capability",
]

#: Called by a backend after each finished chunk with the number of
#: completions and completion tokens it just produced.
ProgressCallback = Callable[[int, int], None]

#: Called as training advances with (steps done, total steps).
TrainProgress = Callable[[int, int], None]


@runtime_checkable
class Backend(Protocol):
    """Turns a batch of requests into completions.

    ``generate`` receives every request of one role in one call and returns,
    for each request in order, a list of ``request.sampling.n`` completions.
    Sampling parameters left as ``None`` in a request take the backend's
    defaults (the role's settings from the recipe). A request with
    ``prefill`` continues that text as the start of the assistant's answer;
    the completion excludes the prefill.
    """

    #: Given a LoRA iteration's adapter directory as its model, the backend
    #: runs it on the loaded base model (a LoRARequest in-process, or loaded
    #: into the servers at run time); the loop then hands it the adapter
    #: instead of the merged checkpoint. Read before the backend is built.
    adapters_on_base: bool = False
    #: The backend can load a full fine-tune's checkpoint. ``False`` (a remote
    #: server serves only what it serves): a recipe pairing it, as the actor's
    #: backend, with a trainer that writes full checkpoints fails at start.
    #: Read before the backend is built.
    loads_checkpoints: bool = True
    #: This built backend can serve the adapter the running trainer makes on
    #: the base model it holds, so it stays open while a LoRA trainer runs.
    serves_adapters: bool = False
    #: The built backend scores given text as well as generating it: it has
    #: ``token_logprobs(sequences) -> list[list[float | None]]``, which takes
    #: a batch of token-id sequences (in the model's own tokenizer) and
    #: returns, per sequence, log p(token t | tokens before t) for every t,
    #: ``None`` at t = 0. Perplexity-based plugins (the curriculum's PD) score
    #: through it; the whole batch is one call, so the engine batches it.
    #: Read off what was registered, before the backend is built.
    scores_tokens: bool = False

    def generate(
        self,
        requests: Sequence[Request],
        on_progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]: ...

    def close(self) -> None:
        """Release the model (memory, GPU, processes). Safe to call twice."""


#: ``factory(model, options)`` builds a backend; ``options`` are the role's
#: ``backend_options`` from the recipe plus its sampling defaults under
#: ``"defaults"``. A backend class with that constructor is its own factory.
BackendFactory = Callable[[str, dict[str, Any]], Backend]


class VerifyResult(BaseModel):
    """A verifier's judgement of one answer, with what it was based on."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    extracted: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Verifier(Protocol):
    """Judges answers against a problem's reference.

    ``verify`` gets (problem, answer text) pairs in one batch, so a verifier
    can run them in parallel, and returns one result per pair, in order.
    A problem without a reference gets ``Verdict.ERROR``.
    """

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[VerifyResult]: ...

    def close(self) -> None: ...


#: ``factory(options)`` builds a verifier from the recipe's verifier options.
VerifierFactory = Callable[[dict[str, Any]], Verifier]


class TrainResult(BaseModel):
    """What a trainer produced."""

    model_config = ConfigDict(extra="forbid")

    #: A checkpoint the backends can load (``None``: the model did not change).
    model_path: str | None
    #: A LoRA adapter directory, when the trainer trained one.
    adapter_path: str | None = None
    #: Loss, steps, examples, seconds... whatever the trainer measured.
    metrics: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Trainer(Protocol):
    """Fine-tunes a model on training examples.

    ``data_path`` is a JSON-lines file in TRL's formats (one object per line
    with ``prompt``/``completion`` chat lists, or ``messages``). The trainer
    writes its checkpoint under ``output_dir`` and returns where it is.

    ``ordered=True`` says a plugin put the rows in the order they must be
    learnt (a curriculum, :func:`reasonloop_order_examples`): the trainer
    then feeds them in file order, whatever its shuffling option says, and
    every epoch repeats that order. The loop passes ``ordered`` only when it
    is true, so a trainer that never receives ordered data may omit it.

    ``report`` (only to a trainer with ``accepts_report``, and only when the
    recipe has ``tracking``) is where the trainer reports its own metrics:
    ``report_to``, ``run_name``, ``logging_dir`` and ``project`` as in
    transformers' ``TrainingArguments``, and ``env``, the environment to set
    while training (see :func:`reasonloop.core.tracking.trainer_report_args`).
    ``seed=`` is the recipe's ``seed``, passed only to a trainer that
    declares ``takes_seed = True``: it seeds what training draws at random
    (weight initialisation, data order), so each seed of a seed group
    trains differently.
    """

    #: ``False`` when the trainer never changes the model (``none``): any
    #: backend can follow it.
    changes_model: bool = True
    #: The trainer trains a LoRA adapter (the base weights stay), so
    #: generation engines that serve adapters stay up while it runs.
    trains_adapter: bool = False
    #: ``train`` takes ``ordered=True`` and then keeps the file's order;
    #: plugins that order the data (curriculum) refuse a trainer without it.
    accepts_order: bool = False
    #: ``train`` takes ``report=`` (the recipe's tracking) and logs its
    #: training metrics there; other trainers are not passed it.
    accepts_report: bool = False
    #: The trainer draws its own samples as it trains (online RL, ``trl-grpo``).
    #: The loop then skips the sampling and selection stages and hands it
    #: ``prompts.jsonl``: one row per problem of the iteration, with the
    #: actor's messages as ``prompt`` (the recipe's template and system
    #: prompt, as the sampling stage asks), the problem as JSON under
    #: ``problem`` and the ``iteration``; ``train`` also receives
    #: ``verifier=`` (the run's verifier, routing each problem by domain).
    #: The trainer appends what it generates, verified, as samples to
    #: ``output_dir/samples.jsonl``, so the compute ledger, the report and
    #: tracking count them as they count sampled ones.
    online: bool = False
    #: ``train`` takes ``preferences=`` (the iteration's ``preferences.jsonl``)
    #: and ``unpaired=`` (``unpaired.jsonl``) as well as the SFT data; the
    #: loop skips training when the file named by ``data_file`` is empty.
    uses_preferences: bool = False
    #: The iteration file a trainer that ``uses_preferences`` trains on.
    data_file: str = "train.jsonl"
    #: ``train`` takes ``seed=`` (the recipe's seed) for its random draws.
    takes_seed: bool = False

    def train(
        self,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None = None,
        *,
        ordered: bool = False,
        seed: int | None = None,
    ) -> TrainResult: ...


#: ``factory(options)`` builds a trainer from the recipe's ``trainer.options``.
#: A trainer class with that constructor is its own factory.
TrainerFactory = Callable[[dict[str, Any]], Trainer]


BackendCapability = Literal[
    "adapters_on_base", "loads_checkpoints", "serves_adapters", "scores_tokens"
]
TrainerCapability = Literal[
    "changes_model",
    "trains_adapter",
    "accepts_order",
    "accepts_report",
    "online",
    "uses_preferences",
    "takes_seed",
]

#: Each capability's default, as the protocols document it.
_DEFAULTS: dict[str, bool] = {
    **{name: getattr(Backend, name) for name in get_args(BackendCapability)},
    **{name: getattr(Trainer, name) for name in get_args(TrainerCapability)},
}


def capability(implementation: object, name: BackendCapability | TrainerCapability) -> bool:
    """Whether ``implementation`` has capability ``name``; the protocol's default if it is silent.

    ``implementation`` is a built backend or trainer, or what a plugin
    registered (a class, or a factory with attributes of its own).
    """
    return bool(getattr(implementation, name, _DEFAULTS[name]))
