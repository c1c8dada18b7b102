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

Shaping rewards are named in ``trainer.options.rewards`` with their weights;
:data:`SHAPING_REWARDS` holds the built-in ones (``format``, ``length``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reasonloop.core.protocols import Verifier
from reasonloop.core.records import Problem, Request, Sample, SamplingParams, Verdict, stable_id
from reasonloop.core.rundir import JsonlLog
from reasonloop.verifiers.code import extract_code
from reasonloop.verifiers.math.extract import extract_answer

__all__ = [
    "SHAPING_REWARDS",
    "GenerationClock",
    "Rollout",
    "RolloutScorer",
    "format_reward",
    "length_reward",
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


#: The built-in shaping rewards, by the name ``trainer.options.rewards`` uses.
SHAPING_REWARDS: dict[str, Callable[[Rollout], float]] = {
    "format": format_reward,
    "length": length_reward,
}


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
    ) -> None:
        unknown = sorted(set(weights) - {"verifier", *SHAPING_REWARDS})
        if unknown:
            raise ValueError(f"unknown rewards: {', '.join(unknown)}")
        self.verifier = verifier
        self.weights = dict(weights)
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
        rollouts = [
            Rollout(p, t, n, self.max_tokens, v.verdict)
            for p, t, n, v in zip(problems, texts, tokens, verdicts, strict=True)
        ]
        parts: dict[str, list[float]] = {}
        for name in self.weights:
            if name == "verifier":
                parts[name] = [1.0 if r.verdict == Verdict.CORRECT else 0.0 for r in rollouts]
            else:
                parts[name] = [SHAPING_REWARDS[name](r) for r in rollouts]
        totals = [
            sum(self.weights[name] * values[i] for name, values in parts.items())
            for i in range(len(rollouts))
        ]
        if log_metric is not None:
            for name, values in parts.items():
                log_metric(f"rewards/{name}", sum(values) / max(len(values), 1))
        step = int(getattr(trainer_state, "global_step", 0) or 0)
        seconds, prompt_tokens = self.clock.take()
        if len(prompt_tokens) != len(rollouts):
            prompt_tokens = [0] * len(rollouts)
        self.completions += len(rollouts)
        self.completion_tokens += sum(tokens)
        self.prompt_tokens += sum(prompt_tokens)
        self.generation_seconds += seconds
        self.rewards.extend(totals)
        self.correct += sum(1 for r in rollouts if r.verdict == Verdict.CORRECT)
        if self.log is not None:
            its = list(iteration) if iteration is not None else [0] * len(rollouts)
            self.log.append(
                self._samples(
                    prompts, rollouts, verdicts, parts, totals, prompt_tokens, seconds, step, its
                )
            )
        return totals

    def _samples(
        self,
        prompts: Sequence[Any],
        rollouts: list[Rollout],
        verdicts: Sequence[Any],
        parts: dict[str, list[float]],
        totals: list[float],
        prompt_tokens: list[int],
        seconds: float,
        step: int,
        iterations: list[int],
    ) -> list[Sample]:
        share = seconds / len(rollouts) if rollouts else 0.0
        seen: dict[str, int] = {}
        samples = []
        for i, r in enumerate(rollouts):
            pid = r.problem.id
            k = seen.get(pid, 0)
            seen[pid] = k + 1
            group, index = divmod(k, max(self.sampling.n, 1))
            request = Request(
                id=stable_id(PLUGIN, iterations[i], pid, step, group),
                problem_id=pid,
                role="actor",
                messages=_messages(prompts[i]),
                sampling=self.sampling,
                plugin=PLUGIN,
                purpose=PURPOSE,
                how="grpo-rollout",
                round=step,
            )
            result = verdicts[i]
            samples.append(
                Sample(
                    id=stable_id(request.id, index),
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
                        "step": step,
                        "reward": totals[i],
                        "rewards": {name: values[i] for name, values in parts.items()},
                    },
                    iteration=iterations[i],
                    mode="train",
                )
            )
        return samples


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
