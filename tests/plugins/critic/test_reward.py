"""The ``critic`` reward: trl-grpo's rollouts paid for what the critic role accepts."""

from __future__ import annotations

import pytest

from reasonloop import hookimpl
from reasonloop.core.accounting import compute_ledger
from reasonloop.core.records import Completion, Sample, SamplingParams
from reasonloop.core.rundir import JsonlLog
from reasonloop.plugins.critic.reward import CriticReward
from reasonloop.trainers.rewards import REWARDS, RewardBatch, Rollout, RolloutScorer, each_rollout

from .conftest import RIGHT, WRONG, problems

#: The authors' released critic format: step sentence, correctness, explanation.
MATHCRITIQUE_ACCEPT = (
    "Step sentence: Mia has 2 apples.\nCorrectness of the step: Correct\n"
    "Explanation: stated in the question.\n"
    "Step sentence: She gets 2 more, 2 + 2 = 4.\nCorrectness of the step: Correct\n"
    "Explanation: 2 + 2 is 4.\n"
    "Step sentence: Answer: 4\nCorrectness of the step: Correct\nExplanation: follows.\n"
    "Correctness of the final answer: Correct"
)


def judge(text: str) -> str:
    """The critic's answer to a critique prompt showing solution ``text``."""
    if "2 + 2 = 4" in text:
        return "Step 1: correct\nStep 2: correct\nStep 3: correct\nFinal answer: correct"
    if "2 + 2 = 6" in text:
        return "Step 1: correct\nStep 2: wrong - 2 + 2 is 4.\nStep 3: wrong\nFinal answer: wrong"
    if "2 + 2 = 7" in text:
        return "I like this solution a lot."  # unparsable
    return MATHCRITIQUE_ACCEPT


def after(prefill: str | None, critique: str) -> str:
    """What the critic writes after the request's pre-filled start of its critique."""
    return critique.removeprefix(prefill) if prefill else critique


class CriticBackend:
    def __init__(self, seen: list):
        self.seen = seen

    def generate(self, requests, on_progress=None):
        self.seen.extend(requests)
        return [
            [
                Completion(
                    text=after(r.prefill, judge(r.messages[-1].content)),
                    prompt_tokens=30,
                    completion_tokens=7,
                )
            ]
            for r in requests
        ]

    def close(self):
        self.seen.append("closed")


class CriticServer:
    def __init__(self, seen):
        self.seen = seen

    @hookimpl
    def reasonloop_register_backends(self, register):
        register("critic-server", lambda model, options: CriticBackend(self.seen))


def reward_run(run_context, tmp_path, critic_settings=None):
    seen: list = []
    recipe = {
        "version": 1,
        "name": "t",
        "roles": {
            "actor": {"backend": "transformers", "model": "actor-model"},
            "critic": {"backend": "critic-server", "model": "judge-model"},
        },
        "data": {},
        "trainer": {"name": "trl-grpo", "options": {"rewards": {"verifier": 1.0, "critic": 0.5}}},
        "plugins": {"settings": {"critic": critic_settings or {}}},
    }
    run = run_context(recipe, extra_plugins=[CriticServer(seen)], run_dir=tmp_path, start=False)
    return run, seen


def rollouts(texts: list[str]) -> list[Rollout]:
    [problem] = problems(1)
    return [
        Rollout(problem, t, 10, 48, None, iteration=1, step=3, sample_id=f"s{i}")
        for i, t in enumerate(texts)
    ]


def test_a_rollout_earns_one_when_the_critique_accepts_it(run_context, tmp_path):
    run, seen = reward_run(run_context, tmp_path)
    reward = run.rewards.get("critic")(run)
    texts = [RIGHT, WRONG[6], WRONG[7], "Mia has 2.\nShe has 4 now.\nAnswer: 4"]
    out = reward(rollouts(texts))
    assert isinstance(out, RewardBatch)
    # Accepted; rejected at step 2; unparsable pays nothing; the authors' format accepted.
    assert out.values == [1.0, 0.0, 0.0, 1.0]
    requests = [r for r in seen if r != "closed"]
    assert [r.role for r in requests] == ["critic"] * 4
    # Each critique request shows the rollout's steps and never the reference.
    assert "2 + 2 = 6" in requests[1].messages[-1].content
    assert all("GOLD-RATIONALE" not in r.messages[-1].content for r in requests)
    assert [s.request.parent_sample_id for s in out.samples] == ["s0", "s1", "s2", "s3"]
    assert [s.evidence["critique"]["accepts"] for s in out.samples] == [True, False, False, True]
    assert {(s.request.plugin, s.request.purpose, s.iteration) for s in out.samples} == {
        ("critic", "reward", 1)
    }
    reward.close()
    assert seen[-1] == "closed"


def test_the_critic_reward_goes_through_the_scorer_into_the_ledger(run_context, tmp_path):
    from reasonloop.core.verification import DomainVerifiers

    run, _ = reward_run(run_context, tmp_path)
    verifier = DomainVerifiers(run)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    built_in = {name: each_rollout(fn)() for name, fn in REWARDS.items()}
    scorer = RolloutScorer(
        verifier,
        {"verifier": 1.0, "critic": 0.5},
        max_tokens=48,
        sampling=SamplingParams(n=2),
        log=log,
        shaping={**built_in, "critic": run.rewards.get("critic")(run)},
    )
    [problem] = problems(1)
    totals = scorer(
        prompts=[[{"role": "user", "content": problem.prompt}]] * 2,
        completions=[[{"role": "assistant", "content": t}] for t in (RIGHT, WRONG[6])],
        problem=[problem.model_dump_json()] * 2,
        iteration=[0, 0],
        completion_ids=[[1] * 10, [1] * 12],
    )
    assert totals == [1.5, 0.0]
    ledger = {(r["role"], r["plugin"], r["purpose"]): r for r in compute_ledger(list(log))}
    assert ledger["critic", "critic", "reward"]["completion_tokens"] == 14
    assert scorer.shaping_samples == 2 and scorer.shaping_tokens == 14
    verifier.close()


def test_an_unknown_reward_name_is_refused_before_anything_runs(run_context, tmp_path):
    from reasonloop.errors import UsageError

    recipe = {
        "version": 1,
        "name": "t",
        "roles": {"actor": {"backend": "transformers", "model": "m"}},
        "data": {},
        "trainer": {"name": "trl-grpo", "options": {"rewards": {"critc": 1.0}}},
    }
    with pytest.raises(UsageError, match="did you mean 'critic'"):
        run_context(recipe, run_dir=tmp_path, start=False)


def test_the_critic_role_defaults_to_the_actor(run_context, tmp_path):
    recipe = {
        "version": 1,
        "name": "t",
        "roles": {"actor": {"backend": "critic-server", "model": "actor-model"}},
        "data": {},
        "trainer": {"name": "trl-grpo", "options": {"rewards": {"critic": 1.0}}},
    }
    seen: list = []
    run = run_context(recipe, extra_plugins=[CriticServer(seen)], run_dir=tmp_path, start=False)
    reward = run.rewards.get("critic")(run)
    assert isinstance(reward, CriticReward) and reward.model == "actor-model"
    assert reward(rollouts([RIGHT])).values == [1.0]


def test_a_critic_backend_that_drops_requests_is_named(run_context, tmp_path):
    from reasonloop.errors import PluginError

    run, _ = reward_run(run_context, tmp_path)
    reward = run.rewards.get("critic")(run)
    backend = reward.pool.get("critic", reward.model)
    backend.generate = lambda requests, on_progress=None: []
    with pytest.raises(PluginError, match="backend returned 0 results for 2 requests"):
        reward(rollouts([RIGHT, WRONG[6]]))
