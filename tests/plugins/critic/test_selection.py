"""Test time: refine and select modes in evaluation, majority voting, and what the critic sees."""

from __future__ import annotations

from reasonloop import hookimpl
from reasonloop.core.loop import Loop
from reasonloop.core.records import Request, Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.plugins.critic.selection import majority, prefix_sizes


class Peek:
    """Records what plugins are shown in evaluation."""

    def __init__(self):
        self.problems = []
        self.samples = []
        self.final = []

    @hookimpl
    def reasonloop_round_requests(self, ctx):
        self.problems += ctx.problems
        self.samples += ctx.samples

    @hookimpl(tryfirst=True)
    def reasonloop_final_answer(self, problem, samples, ctx):
        self.final += [problem, *samples]


def eval_run(critic_run, run_context, tmp_path, settings, eval_cfg):
    peek = Peek()
    run, calls = critic_run(
        run_context,
        tmp_path,
        settings,
        [peek],
        data={"eval": [{"name": "twos"}]},
        eval=eval_cfg,
    )
    metrics = Loop(run).evaluate_only()
    samples = list(JsonlLog(tmp_path / "base" / "eval_samples.jsonl", Sample))
    return metrics, samples, calls, peek


def test_refine_mode_revises_until_accepted_and_never_sees_references(
    tmp_path, run_context, critic_run
):
    settings = {"test_time": "refine", "refine_rounds": 2}
    metrics, samples, calls, peek = eval_run(critic_run, run_context, tmp_path, settings, {"n": 1})
    # Greedy answers: p0, p2 right; p1, p3 wrong. Round 1 critiques all 4; the
    # critic accepts p0 and p2 (stop), rejects p1, garbles p3 (no revision);
    # p1's revision is critiqued again, accepted, and stands.
    assert calls == [("actor", 4), ("critic", 4), ("actor", 1), ("critic", 1)]
    assert metrics["accuracy"] == 0.75
    m = metrics["plugins"]["critic"]
    assert [r["accuracy"] for r in m["by_rounds"]] == [0.5, 0.75, 0.75]
    assert [r["fixed"] for r in m["by_rounds"]] == [0, 1, 1]
    assert m["parse_rate"] == 0.8 and m["critiques"] == 5
    assert m["tokens"] == {"actor": 150, "critic": 150}
    assert all(p.reference is None for p in peek.problems)
    assert peek.samples and all(s.verdict is None for s in peek.samples)
    assert all(getattr(x, "reference", None) is None for x in peek.final)
    assert all(getattr(x, "verdict", None) is None for x in peek.final)
    assert not any("GOLD-RATIONALE" in m.content for s in samples for m in s.request.messages)
    answers = {a["problem_id"]: a for a in metrics["answers"]}
    assert answers["p1"]["correct"] and not answers["p3"]["correct"]


def test_refine_mode_without_stopping_revises_every_answer(tmp_path, run_context, critic_run):
    settings = {"test_time": "refine", "refine_rounds": 1, "stop_when_accepted": False}
    metrics, _, calls, _ = eval_run(critic_run, run_context, tmp_path, settings, {"n": 1})
    assert calls == [("actor", 4), ("critic", 4), ("actor", 3)]  # p3's critique is unparsable
    assert len(metrics["plugins"]["critic"]["by_rounds"]) == 2


def test_select_mode_votes_over_accepted_answers(tmp_path, run_context, critic_run):
    settings = {"test_time": "select"}
    metrics, _, calls, _ = eval_run(
        critic_run, run_context, tmp_path, settings, {"n": 3, "temperature": 0.7}
    )
    # Each distinct answer is critiqued once: p0 2, p1 3, p2 1, p3 1.
    assert calls == [("actor", 4), ("critic", 7)]
    m = metrics["plugins"]["critic"]
    assert [r["n"] for r in m["by_n"]] == [1, 2, 3]
    # p0: plain vote picks the repeated wrong 5, the critic-guided vote the accepted 4.
    at3 = m["by_n"][-1]
    assert at3["majority_vote_accuracy"] == 0.25 and at3["critic_vote_accuracy"] == 0.5
    assert metrics["accuracy"] == 0.5
    assert m["by_n"][0]["critic_tokens"] == 4 * 30  # one critique per problem at n = 1
    assert at3["actor_tokens"] == 12 * 30 and at3["critic_tokens"] == 7 * 30
    # Plain voting at the same tokens: n = 1 with its critiques costs as much as
    # 2 plain samples; at n = 3 the evaluation has no more samples to spend.
    assert (m["by_n"][0]["same_tokens_n"], m["by_n"][0]["same_tokens_capped"]) == (2, False)
    assert (at3["same_tokens_n"], at3["same_tokens_capped"]) == (3, True)


def test_majority_groups_equivalent_answers_and_breaks_ties_early():
    def s(i, extracted):
        req = Request(id=f"r{i}", problem_id="p", messages=[])
        return Sample(id=f"s{i}", problem_id="p", request=req, completion="", extracted=extracted)

    assert majority([s(0, "3"), s(1, "0.5"), s(2, "1/2"), s(3, None)]).id == "s1"
    assert majority([s(0, "3"), s(1, "4")]).id == "s0"
    assert majority([s(0, None)]) is None
    assert prefix_sizes(8) == [1, 2, 4, 8] and prefix_sizes(6) == [1, 2, 4, 6]
    assert prefix_sizes(1) == [1]


def _chain_sample(i, plugin, purpose, role, parent, verdict, extracted, text=""):
    from reasonloop.core.records import Verdict

    req = Request(
        id=f"r{i}",
        problem_id="p",
        messages=[],
        plugin=plugin,
        purpose=purpose,
        role=role,
        parent_sample_id=parent,
        round=i,
        meta={"steps": ["x"]},
    )
    v = None if verdict is None else Verdict(verdict)
    return Sample(
        id=f"s{i}",
        problem_id="p",
        request=req,
        completion=text,
        extracted=extracted,
        verdict=v,
        prompt_tokens=10,
        completion_tokens=5,
    )


def test_the_oracle_refines_only_wrong_answers_and_is_reported_apart():
    """A right answer the method revises into a wrong one stays right for the oracle."""
    from reasonloop.plugins.critic.selection import CritiqueChains, oracle_metrics, refine_answer

    reject = "Step 1: wrong - no\nFinal answer: wrong"
    right = _chain_sample(0, "selfimprove", "eval", "actor", None, "correct", "4")
    crit = _chain_sample(1, "critic", "critique", "critic", "s0", None, None, reject)
    broken = _chain_sample(2, "critic", "refine", "actor", "s1", "wrong", "5")
    lineage = CritiqueChains([right, crit, broken])
    assert not refine_answer(lineage, 1).correct  # the method: refined into a wrong answer
    rows = oracle_metrics({"p": lineage}, 1)["by_rounds"]
    assert [r["accuracy"] for r in rows] == [1.0, 1.0]
    # The oracle never critiques a right answer: it spends only the first answer.
    assert rows[1]["actor_tokens"] == 15 and rows[1]["critic_tokens"] == 0

    wrong = _chain_sample(0, "selfimprove", "eval", "actor", None, "wrong", "5")
    fixed = _chain_sample(2, "critic", "refine", "actor", "s1", "correct", "4")
    rows = oracle_metrics({"p": CritiqueChains([wrong, crit, fixed])}, 1)["by_rounds"]
    assert [r["accuracy"] for r in rows] == [0.0, 1.0]
    assert rows[1]["actor_tokens"] == 30 and rows[1]["critic_tokens"] == 15


def test_the_oracle_is_in_eval_json_and_needs_every_answer_revised(
    tmp_path, run_context, critic_run
):
    import pytest

    from reasonloop.errors import RecipeError

    settings = {"refine_rounds": 1, "stop_when_accepted": False, "oracle": True}
    metrics, _, _, _ = eval_run(critic_run, run_context, tmp_path, settings, {"n": 1})
    m = metrics["plugins"]["critic"]
    assert [r["accuracy"] for r in m["oracle"]["by_rounds"]] == [0.5, 0.75]
    assert "upper bound" in m["oracle"]["note"]
    # The method's accuracy is its own, not the oracle's.
    assert metrics["accuracy"] == m["by_rounds"][-1]["accuracy"]
    with pytest.raises(RecipeError, match="oracle: the oracle bound needs every answer revised"):
        eval_run(critic_run, run_context, tmp_path / "b", {"oracle": True}, {"n": 1})
