"""The compute ledger: tokens and time per role, plugin and purpose, from the samples."""

from __future__ import annotations

from reasonloop.core.accounting import compute_ledger, merge_ledgers, total_tokens
from reasonloop.core.records import Message, Request, Sample


def _sample(sid: str, rid: str, role: str = "actor", plugin: str = "core", **tokens) -> Sample:
    request = Request(
        id=rid,
        problem_id="p",
        role=role,
        plugin=plugin,
        purpose="critique" if role == "critic" else "sample",
        messages=[Message(role="user", content="q")],
    )
    return Sample(id=sid, problem_id="p", request=request, completion="a", **tokens)


def test_ledger_counts_requests_once_and_sums_every_sample():
    samples = [
        # Two samples of one request (n=2): one request, both samples' tokens.
        _sample("s1", "r1", prompt_tokens=10, completion_tokens=5, seconds=0.5),
        _sample("s2", "r1", prompt_tokens=10, completion_tokens=7, cached_tokens=10),
        _sample("s3", "r2", role="critic", plugin="critic", prompt_tokens=30, completion_tokens=9),
    ]
    ledger = compute_ledger(samples)
    assert [(r["role"], r["plugin"], r["purpose"]) for r in ledger] == [
        ("actor", "core", "sample"),
        ("critic", "critic", "critique"),
    ]
    actor, critic = ledger
    assert (actor["requests"], actor["samples"]) == (1, 2)
    assert (actor["prompt_tokens"], actor["completion_tokens"]) == (20, 12)
    assert actor["cached_tokens"] == 10
    assert actor["seconds"] == 0.5
    assert (critic["requests"], critic["samples"], critic["prompt_tokens"]) == (1, 1, 30)
    assert total_tokens(ledger) == 20 + 12 + 30 + 9


def test_merged_ledgers_add_row_by_row_and_accept_older_rows():
    train = compute_ledger([_sample("s1", "r1", prompt_tokens=4, completion_tokens=2)])
    evaluation = compute_ledger([_sample("s2", "r2", prompt_tokens=6, completion_tokens=1)])
    older = [{k: v for k, v in evaluation[0].items() if k != "cached_tokens"}]
    merged = merge_ledgers(train, older)
    assert len(merged) == 1
    assert merged[0]["requests"] == 2
    assert merged[0]["prompt_tokens"] == 10
    assert merged[0]["cached_tokens"] == 0
    assert total_tokens(merged) == 13
    assert compute_ledger([]) == [] and total_tokens([]) == 0
