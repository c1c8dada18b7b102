"""The ``critic`` reward: online training paid for answers the critic accepts.

Registered through ``reasonloop_register_rewards``, so ``trl-grpo`` can add
``rewards: {critic: w}`` to the verifier's reward. For each batch of
rollouts the critic role (by default the actor's backend and base model, as
the critic plugin's; ``roles.critic`` picks another) is asked, with the
critic plugin's prompt and format settings (``plugins.settings.critic``, or
their defaults), to judge every rollout step by step. A rollout earns 1 when
its critique parses and accepts it (final answer correct, no step wrong),
else 0: an unparsable critique pays nothing, so a critic that cannot follow
the format adds no signal rather than noise. The critique never sees the
reference.

The critiques are returned with the values and written to the iteration's
``samples.jsonl`` (plugin ``critic``, purpose ``reward``, each a child of the
rollout it judges), so the compute ledger counts the critic's tokens beside
the rollouts'.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from reasonloop.core.records import Message, Request, Sample, SamplingParams, stable_id
from reasonloop.core.scheduler import BackendPool, completion_samples
from reasonloop.plugins.critic.critique import split_steps
from reasonloop.plugins.critic.rounds import critique_of, critique_prompt
from reasonloop.plugins.critic.settings import NAME, CriticSettings
from reasonloop.trainers.rewards import RewardBatch, Rollout

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["REWARD", "CriticReward"]

#: The name ``trainer.options.rewards`` uses.
REWARD = "critic"
PURPOSE = "reward"


class CriticReward:
    """1 for each rollout whose critique accepts it, 0 otherwise; the critiques as samples."""

    def __init__(self, run: RunContext):
        self.cfg: CriticSettings = run.settings_for(NAME) or CriticSettings()
        run.default_role("critic")
        self.model = run.role_config("critic").model
        self.pool = BackendPool(run)
        self.run = run

    def _request(self, rollout: Rollout) -> Request:
        steps = split_steps(rollout.text)
        text = critique_prompt(self.cfg, rollout.problem.prompt, steps)
        temperature = self.cfg.critique_temperature
        return Request(
            id=stable_id(NAME, PURPOSE, rollout.iteration, rollout.sample_id or rollout.text),
            problem_id=rollout.problem.id,
            role="critic",
            messages=[Message(role="user", content=text)],
            prefill=self.cfg.critique_prefill or None,
            # Judging is greedy unless the settings say otherwise.
            sampling=SamplingParams(
                n=1,
                temperature=0.0 if temperature is None else temperature,
                max_tokens=self.cfg.critique_max_tokens,
            ),
            plugin=NAME,
            purpose=PURPOSE,
            how="critique",
            parent_sample_id=rollout.sample_id,
            round=rollout.step,
            answers_problem=False,
            meta={"steps": steps, "depth": 0, "format": self.cfg.critique_format},
        )

    def __call__(self, rollouts: list[Rollout]) -> RewardBatch:
        if not rollouts:
            return RewardBatch([])
        requests = [self._request(r) for r in rollouts]
        backend = self.pool.get("critic", self.model)
        began = time.perf_counter()
        outputs = backend.generate(requests)
        critiques = completion_samples(
            requests,
            outputs,
            time.perf_counter() - began,
            iteration=rollouts[0].iteration,
            mode="train",
        )
        values: list[float] = []
        samples: list[Sample] = []
        for sample in critiques:
            critique = critique_of(sample)
            samples.append(sample.model_copy(update={"evidence": {"critique": critique.as_dict()}}))
            values.append(1.0 if critique.accepts else 0.0)
        return RewardBatch(values, samples)

    def close(self) -> None:
        self.pool.close_all()


def critic_reward(run: RunContext) -> Any:
    """The ``reasonloop_register_rewards`` factory."""
    return CriticReward(run)
