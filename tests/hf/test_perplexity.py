"""Perplexity scoring on the trained tokens, with the real packaged model."""

from __future__ import annotations

import math

import pytest

from reasonloop.hf.perplexity import PerplexityScorer

QUESTION = [{"role": "user", "content": "What is 12 + 7?"}]


@pytest.fixture(scope="module")
def scorer(smollm2: str) -> PerplexityScorer:
    s = PerplexityScorer(smollm2)
    yield s
    s.close()


def _row(answer: str) -> dict:
    return {"prompt": QUESTION, "completion": [{"role": "assistant", "content": answer}]}


def test_batched_scores_equal_one_at_a_time(scorer: PerplexityScorer) -> None:
    rows = [
        _row("12 + 7 = 19. Answer: 19"),
        _row("19"),
        _row("We add twelve and seven, which gives nineteen, so the answer is 19."),
    ]
    together = scorer.score(rows, batch_size=3)
    alone = [scorer.score([r], batch_size=1)[0] for r in rows]
    for a, b in zip(together, alone, strict=True):
        assert a is not None and b is not None
        assert math.isclose(a, b, rel_tol=1e-3)


def test_gibberish_is_more_surprising_than_an_answer(scorer: PerplexityScorer) -> None:
    sensible, gibberish = scorer.score(
        [_row("12 + 7 = 19. The answer is 19."), _row("zq vorp 19 ]]} klax plim ~~ 7 grob")]
    )
    assert sensible is not None and gibberish is not None
    assert gibberish > 3 * sensible


def test_masked_turns_do_not_count(scorer: PerplexityScorer) -> None:
    chain = [
        *QUESTION,
        {"role": "assistant", "content": "zq vorp klax 400"},
        {"role": "user", "content": "That is wrong. Try again."},
        {"role": "assistant", "content": "12 + 7 = 19. Answer: 19"},
    ]
    masked = {"messages": chain, "train_turns": [3]}
    same_as_completion = {"prompt": chain[:3], "completion": chain[3:]}
    both = {"messages": chain}  # every assistant turn, the gibberish included
    a, b, c = scorer.score([masked, same_as_completion, both])
    assert a is not None and b is not None and c is not None
    assert math.isclose(a, b, rel_tol=1e-3)
    assert c > a


def test_rows_with_nothing_to_train_score_none(scorer: PerplexityScorer) -> None:
    only_user = {"messages": QUESTION, "train_turns": []}
    progress: list[int] = []
    scores = scorer.score([only_user, _row("19")], on_progress=progress.append)
    assert scores[0] is None and scores[1] is not None
    assert sum(progress) == 2
