"""The records that flow through the loop: problems, requests, samples, examples.

All of them are pydantic models written as JSON lines, one object per line,
that ``datasets.load_dataset("json", data_files=...)`` reads as is.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Completion",
    "Domain",
    "Message",
    "PreferencePair",
    "Problem",
    "Reference",
    "Request",
    "Sample",
    "SamplingParams",
    "TrainingExample",
    "Verdict",
    "stable_id",
]

Domain = Literal["math", "code"]


def stable_id(*parts: object, length: int = 16) -> str:
    """Return a short deterministic id for ``parts`` (same input, same id)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=length // 2).hexdigest()


class Record(BaseModel):
    """Common configuration: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid")


class Reference(Record):
    """What the data says is right. Hidden from plugins in evaluation mode."""

    #: The gold final answer (math), as written in the source.
    answer: str | None = None
    #: The gold rationale or worked solution, when the source has one.
    rationale: str | None = None
    #: Test code run after a program (code), e.g. a block of asserts.
    tests: str | None = None
    #: The function a HumanEval-style ``check(candidate)`` test calls.
    entry_point: str | None = None
    #: A known-correct program (code); never shown to plugins in eval mode.
    solution: str | None = None


class Problem(Record):
    """One task to solve: a math question or a programming problem."""

    id: str
    domain: Domain = "math"
    prompt: str
    reference: Reference | None = None
    #: Where it came from (``source``), how hard it is (``difficulty``), etc.
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", "unknown"))

    @property
    def difficulty(self) -> str:
        return str(self.metadata.get("difficulty", "all"))

    def without_reference(self) -> Problem:
        """Return the view a plugin gets in evaluation mode."""
        return self.model_copy(update={"reference": None})


class Message(Record):
    """One chat turn. ``train`` marks the turns a trainer computes loss on."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    train: bool | None = None


class SamplingParams(Record):
    """How to sample one request. ``None`` means "the role's default"."""

    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None


class Request(Record):
    """A prompt for one role, asked by one plugin for one purpose.

    ``id`` must be deterministic: the same plugin, asked the same question in
    the same round after the same samples, must produce the same id. Resume
    relies on it to skip requests whose samples are already on disk.
    """

    id: str
    problem_id: str
    #: Which role answers it: ``actor``, ``critic``, ``teacher``, ...
    role: str = "actor"
    messages: list[Message]
    #: Text pre-filled as the start of the assistant's answer (state reset).
    prefill: str | None = None
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    #: The plugin that asked, and why (``sample``, ``critique``, ``refine``...).
    plugin: str = "core"
    purpose: str = "sample"
    #: How a sample answering it was produced (``plain``, ``refined-after-critique``,
    #: ``guided-answer``, ``debug-post``, ...; see :mod:`reasonloop.core.lineage`).
    how: str = "plain"
    #: The sample this request follows up on, if any.
    parent_sample_id: str | None = None
    round: int = 0
    #: Whether a completion is an answer to the problem, to be verified
    #: against its reference (a critique or a generated test is not).
    answers_problem: bool = True
    #: Free-form plugin data carried to the samples (e.g. the critique text).
    meta: dict[str, Any] = Field(default_factory=dict)


class Completion(Record):
    """What a backend returns for one of a request's ``n`` samples."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Prompt tokens the engine took from its prefix cache (0: none or unknown).
    cached_tokens: int = 0
    finish_reason: str | None = None


class Verdict(str, enum.Enum):
    """The verifier's judgement of a sample."""

    CORRECT = "correct"
    WRONG = "wrong"
    UNPARSABLE = "unparsable"
    ERROR = "error"
    TIMEOUT = "timeout"


class Sample(Record):
    """One completion with its verification result and lineage."""

    id: str
    problem_id: str
    request: Request
    #: The index of this completion among the request's ``n``.
    index: int = 0
    #: The generated text, without the request's pre-filled prefix.
    completion: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Of ``prompt_tokens``, those served from the engine's prefix cache.
    cached_tokens: int = 0
    finish_reason: str | None = None
    #: This sample's share of the wall time of the backend call that made it.
    seconds: float = 0.0
    extracted: str | None = None
    verdict: Verdict | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    iteration: int = 0
    mode: Literal["train", "eval"] = "train"

    @property
    def role(self) -> str:
        return self.request.role

    @property
    def text(self) -> str:
        """The full answer: pre-filled prefix plus what the model wrote."""
        return (self.request.prefill or "") + self.completion

    @property
    def correct(self) -> bool:
        return self.verdict == Verdict.CORRECT

    def redacted(self) -> Sample:
        """Return the view a plugin gets in evaluation mode (no verdict)."""
        return self.model_copy(update={"verdict": None, "evidence": {}})


class TrainingExample(Record):
    """What a trainer sees: chat messages, with ``train`` on the turns to learn.

    ``to_trl()`` gives TRL's conversational prompt-completion form when only
    the final turn is trained, and the plain ``messages`` form otherwise, with
    ``train_turns`` (the trained message indices) unless exactly the
    assistant turns are trained.
    """

    id: str
    problem_id: str
    sample_id: str | None = None
    messages: list[Message]
    plugin: str = "core"
    how: str = "plain"
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_trl(self) -> dict[str, Any]:
        trained = [i for i, m in enumerate(self.messages) if self._trains(i)]
        last = len(self.messages) - 1
        if trained == [last]:
            return {
                "prompt": [_plain(m) for m in self.messages[:last]],
                "completion": [_plain(self.messages[last])],
            }
        row: dict[str, Any] = {"messages": [_plain(m) for m in self.messages]}
        if trained != [i for i, m in enumerate(self.messages) if m.role == "assistant"]:
            # Trainers train every assistant turn of a plain messages row; say which.
            row["train_turns"] = trained
        return row

    def _trains(self, i: int) -> bool:
        m = self.messages[i]
        if m.train is not None:
            return m.train
        return m.role == "assistant" and i == len(self.messages) - 1


class PreferencePair(Record):
    """A preferred answer and a dispreferred one to the same prompt, and how they were paired.

    ``to_trl()`` gives TRL's conversational preference row (``prompt``,
    ``chosen``, ``rejected`` chat lists) with the provenance alongside, so
    ``preferences.jsonl`` is read as is by ``datasets`` and by TRL's
    ``DPOTrainer``.
    """

    id: str
    problem_id: str
    #: The chat the model answers (hints, critiques, feedback left out).
    prompt: list[Message]
    chosen: str
    rejected: str
    chosen_sample_id: str | None = None
    rejected_sample_id: str | None = None
    #: The plugin that made the pair (``selfimprove``, ``critic``, ...).
    source: str = "core"
    #: The rule that paired them: ``random``, ``all``, ``hardest-wrong``
    #: (correct vs wrong samples), ``correction`` (a correction over the
    #: attempt it corrected), ...
    pairing: str = "all"
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_trl(self) -> dict[str, Any]:
        return {
            "prompt": [_plain(m) for m in self.prompt],
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
            "id": self.id,
            "problem_id": self.problem_id,
            "chosen_sample_id": self.chosen_sample_id,
            "rejected_sample_id": self.rejected_sample_id,
            "source": self.source,
            "pairing": self.pairing,
        }


def _plain(m: Message) -> dict[str, str]:
    return {"role": m.role, "content": m.content}
