"""Rewards for online training: the verifier's verdict plus optional shaping terms.

:class:`RolloutScorer` is the reward function ``trl-grpo`` hands to TRL's
``GRPOTrainer``. It verifies each generated completion with the run's
verifier (the math verifier for math problems; the sandboxed execution pool
for code, so model-written programs never run in the training process), adds
the weighted shaping rewards the recipe asks for, and appends every
completion, with its verdict, rewards and token counts, as a
:class:`~reasonloop.core.records.Sample` to the iteration's
``samples.jsonl``: the compute ledger and the report count online samples as
they count sampled ones.

Shaping rewards are named in ``trainer.options.rewards`` with their weights.
Plugins register them through ``reasonloop_register_rewards``: a factory
that takes the run and returns a function from a batch of :class:`Rollout`
to one float each (or a :class:`RewardBatch`, which also carries the samples
the reward generated, so a critic's tokens count in the ledger).
:data:`REWARDS` holds the built-in per-rollout ones (``verifier``,
``format``, ``length``); the critic plugin adds ``critic``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasonloop.core.protocols import Verifier
from reasonloop.core.records import Problem, Request, Sample, SamplingParams, Verdict, stable_id
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import PluginError
from reasonloop.verifiers.code import extract_code
from reasonloop.verifiers.math.extract import extract_answer

__all__ = [
    "REWARDS",
    "GenerationClock",
    "RewardBatch",
    "RewardFunction",
    "Rollout",
    "RolloutScorer",
    "each_rollout",
    "format_reward",
    "length_reward",
    "verifier_reward",
]

#: The plugin and purpose rollouts are filed under in the compute ledger.
PLUGIN = "trl-grpo"
PURPOSE = "rollout"

_MARKED = re.compile(r"\\boxed\s*\{|^\s*####|(?i:\banswer\b\s*(?:is\b|:|=))", re.M)


@dataclass(frozen=True)
class Rollout:
    """One generated completion, as a shaping reward sees it."""

    problem: Problem
    text: str
    completion_tokens: int
    #: The generation cap: a completion this long was cut off.
    max_tokens: int
    #: The verifier's verdict on the completion.
    verdict: Verdict | None
    #: The loop iteration and the trainer's step it was generated in.
    iteration: int = 0
    step: int = 0
    #: The id of the sample it is written as (a reward's own samples name it as parent).
    sample_id: str | None = None


@dataclass
class RewardBatch:
    """What a shaping reward may return: one value per rollout, and what it generated.

    ``samples`` are the reward's own generations (a critic's critiques of the
    rollouts): they are written to the iteration's ``samples.jsonl`` with the
    rollouts, so their tokens count in the compute ledger.
    """

    values: list[float]
    samples: list[Sample] = field(default_factory=list)


#: A shaping reward: rollouts in, one value each (or a :class:`RewardBatch`) out.
RewardFunction = Callable[[list[Rollout]], "list[float] | RewardBatch"]


def verifier_reward(rollout: Rollout) -> float:
    """1 for an answer the verifier accepts, else 0: the reward GRPO learns from."""
    return 1.0 if rollout.verdict == Verdict.CORRECT else 0.0


def format_reward(rollout: Rollout) -> float:
    """1 when the answer is stated in a form the verifier reads without guessing, else 0.

    Math: a ``\\boxed{}``, a ``####`` line or an "Answer:" / "answer is"
    sentence with an answer in it (not just a last number). Code: a fenced
    program that parses.
    """
    text = rollout.text
    if rollout.problem.domain == "code":
        if "```" not in text:
            return 0.0
        try:
            ast.parse(extract_code(text, _entry_point(rollout.problem)))
        except SyntaxError:
            return 0.0
        return 1.0
    return 1.0 if _MARKED.search(text) and extract_answer(text) is not None else 0.0


def length_reward(rollout: Rollout) -> float:
    """Shorter correct answers earn more: ``1 - tokens / max_tokens``, 0 when wrong or cut off.

    Wrong answers earn nothing, so the model is never paid for being short
    and wrong.
    """
    if rollout.verdict != Verdict.CORRECT or rollout.max_tokens <= 0:
        return 0.0
    return max(0.0, 1.0 - rollout.completion_tokens / rollout.max_tokens)


#: The built-in rewards, by the name ``trainer.options.rewards`` uses.
REWARDS: dict[str, Callable[[Rollout], float]] = {
    "verifier": verifier_reward,
    "format": format_reward,
    "length": length_reward,
}


def each_rollout(reward: Callable[[Rollout], float]) -> Callable[[Any], RewardFunction]:
    """A ``reasonloop_register_rewards`` factory for a reward of one rollout at a time."""

    def factory(run: Any = None) -> RewardFunction:
        return lambda rollouts: [reward(r) for r in rollouts]

    return factory


def _entry_point(problem: Problem) -> str | None:
    return problem.reference.entry_point if problem.reference else None


class GenerationClock:
    """What the trainer's last generation call took: seconds and prompt token counts."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.prompt_tokens: list[int] = []

    def record(self, seconds: float, prompt_tokens: list[int]) -> None:
        self.seconds = seconds
        self.prompt_tokens = prompt_tokens

    def take(self) -> tuple[float, list[int]]:
        """The last call's measurements, once (a second take gets zeros)."""
        seconds, prompts = self.seconds, self.prompt_tokens
        self.seconds, self.prompt_tokens = 0.0, []
        return seconds, prompts


class RolloutScorer:
    """TRL reward function: verifier verdict plus weighted shaping, each completion logged."""

    #: TRL names a reward function's metrics after it (``rewards/reasonloop/mean``).
    __name__ = "reasonloop"

    def __init__(
        self,
        verifier: Verifier,
        weights: dict[str, float],
        *,
        max_tokens: int,
        sampling: SamplingParams,
        log: JsonlLog[Sample] | None = None,
        clock: GenerationClock | None = None,
        shaping: dict[str, RewardFunction] | None = None,
    ) -> None:
        if shaping is None:
            shaping = {name: each_rollout(fn)() for name, fn in REWARDS.items()}
        unknown = sorted(set(weights) - set(shaping))
        if unknown:
            raise ValueError(f"unknown rewards: {', '.join(unknown)}")
        self.verifier = verifier
        self.weights = dict(weights)
        #: The reward functions by name (those ``weights`` names are called).
        self.shaping = dict(shaping)
        self.max_tokens = max_tokens
        self.sampling = sampling
        self.log = log
        self.clock = clock or GenerationClock()
        #: Totals over the run, for the trainer's metrics.
        self.completions = 0
        self.completion_tokens = 0
        self.prompt_tokens = 0
        self.generation_seconds = 0.0
        self.rewards: list[float] = []
        self.correct = 0
        #: What the shaping rewards generated (a critic's critiques).
        self.shaping_samples = 0
        self.shaping_tokens = 0

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        problem: Sequence[str] | None = None,
        iteration: Sequence[int] | None = None,
        trainer_state: Any = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        if problem is None:
            raise ValueError("the GRPO data has no 'problem' column (write it with prompts.jsonl)")
        problems = [Problem.model_validate_json(p) for p in problem]
        texts = [_text(c) for c in completions]
        tokens = (
            [len(ids) for ids in completion_ids] if completion_ids is not None else [0] * len(texts)
        )
        verdicts = self.verifier.verify(list(zip(problems, texts, strict=True)))
        step = int(getattr(trainer_state, "global_step", 0) or 0)
        its = list(iteration) if iteration is not None else [0] * len(texts)
        keys = self._keys(problems, its, step)
        rollouts = [
            Rollout(p, t, n, self.max_tokens, v.verdict, it, step, stable_id(*key))
            for p, t, n, v, it, key in zip(
                problems, texts, tokens, verdicts, its, keys, strict=True
            )
        ]
        parts: dict[str, list[float]] = {}
        extra: list[Sample] = []
        for name in self.weights:
            parts[name], made = self._shaping(name, rollouts)
            extra += [_stamped(s, name, step) for s in made]
        totals = [
            sum(self.weights[name] * values[i] for name, values in parts.items())
            for i in range(len(rollouts))
        ]
        if log_metric is not None:
            for name, values in parts.items():
                log_metric(f"rewards/{name}", sum(values) / max(len(values), 1))
        seconds, prompt_tokens = self.clock.take()
        if len(prompt_tokens) != len(rollouts):
            prompt_tokens = [0] * len(rollouts)
        self.completions += len(rollouts)
        self.completion_tokens += sum(tokens)
        self.prompt_tokens += sum(prompt_tokens)
        self.generation_seconds += seconds
        self.rewards.extend(totals)
        self.correct += sum(1 for r in rollouts if r.verdict == Verdict.CORRECT)
        self.shaping_samples += len(extra)
        self.shaping_tokens += sum(s.completion_tokens for s in extra)
        if self.log is not None:
            self.log.append(
                self._samples(
                    prompts, rollouts, keys, verdicts, parts, totals, prompt_tokens, seconds
                )
                + extra
            )
        return totals

    def _shaping(self, name: str, rollouts: list[Rollout]) -> tuple[list[float], list[Sample]]:
        """Call shaping reward ``name``; its values (checked) and the samples it made."""
        out = self.shaping[name](rollouts)
        values, made = (out.values, out.samples) if isinstance(out, RewardBatch) else (out, [])
        values = list(values)
        if len(values) != len(rollouts):
            raise PluginError(
                f"reward {name!r} returned {len(values)} values for {len(rollouts)} rollouts"
            )
        bad = [v for v in values if not isinstance(v, int | float) or not math.isfinite(v)]
        if bad:
            raise PluginError(f"reward {name!r} returned a value that is not a number: {bad[0]!r}")
        return [float(v) for v in values], list(made)

    def _keys(
        self, problems: list[Problem], iterations: list[int], step: int
    ) -> list[tuple[str, int]]:
        """Each rollout's request id and index: a problem's ``n`` completions per request."""
        seen: dict[str, int] = {}
        keys = []
        for p, it in zip(problems, iterations, strict=True):
            k = seen.get(p.id, 0)
            seen[p.id] = k + 1
            group, index = divmod(k, max(self.sampling.n, 1))
            keys.append((stable_id(PLUGIN, it, p.id, step, group), index))
        return keys

    def _samples(
        self,
        prompts: Sequence[Any],
        rollouts: list[Rollout],
        keys: list[tuple[str, int]],
        verdicts: Sequence[Any],
        parts: dict[str, list[float]],
        totals: list[float],
        prompt_tokens: list[int],
        seconds: float,
    ) -> list[Sample]:
        share = seconds / len(rollouts) if rollouts else 0.0
        samples = []
        for i, r in enumerate(rollouts):
            pid = r.problem.id
            request_id, index = keys[i]
            request = Request(
                id=request_id,
                problem_id=pid,
                role="actor",
                messages=_messages(prompts[i]),
                sampling=self.sampling,
                plugin=PLUGIN,
                purpose=PURPOSE,
                how="grpo-rollout",
                round=r.step,
            )
            result = verdicts[i]
            samples.append(
                Sample(
                    id=r.sample_id or stable_id(request.id, index),
                    problem_id=pid,
                    request=request,
                    index=index,
                    completion=r.text,
                    prompt_tokens=prompt_tokens[i],
                    completion_tokens=r.completion_tokens,
                    finish_reason="length" if r.completion_tokens >= self.max_tokens else "stop",
                    seconds=round(share, 6),
                    extracted=result.extracted,
                    verdict=result.verdict,
                    evidence={
                        **result.evidence,
                        "step": r.step,
                        "reward": totals[i],
                        "rewards": {name: values[i] for name, values in parts.items()},
                    },
                    iteration=r.iteration,
                    mode="train",
                )
            )
        return samples


def _stamped(sample: Sample, reward: str, step: int) -> Sample:
    """A shaping reward's sample, marked with the reward and step (resume drops redone steps)."""
    return sample.model_copy(
        update={"evidence": {**sample.evidence, "step": step, "shaping": reward}}
    )


def _text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def _messages(prompt: Any) -> list[Any]:
    from reasonloop.core.records import Message

    if isinstance(prompt, str):
        return [Message(role="user", content=prompt)]
    return [Message(role=m["role"], content=m["content"]) for m in prompt]
