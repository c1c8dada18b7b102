"""Preference data: pairing rules, hardness, unpaired rows, the hook, the files datasets reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.core.hooks import Hooks
from reasonloop.core.plugins import make_plugin_manager
from reasonloop.core.preferences import (
    count_by_source,
    hardness_order,
    pair_correct_with_wrong,
    unique_pairs,
    unpaired_rows,
)
from reasonloop.core.recipe import PreferenceConfig
from reasonloop.core.records import (
    Message,
    PreferencePair,
    Problem,
    Request,
    Sample,
    TrainingExample,
    Verdict,
)
from reasonloop.core.rundir import write_records

QUESTION = [Message(role="user", content="What is 2 + 2?")]


def sample(i: int, text: str, verdict: Verdict, extracted: str | None = None, **req) -> Sample:
    request = Request(id=f"r{i}", problem_id="p", messages=QUESTION, **req)
    return Sample(
        id=f"s{i}",
        problem_id="p",
        request=request,
        index=i,
        completion=text,
        verdict=verdict,
        extracted=extracted,
    )


CORRECT = [(sample(0, "2 + 2 = 4. Answer: 4", Verdict.CORRECT, "4"), "2 + 2 = 4. Answer: 4"),
           (sample(1, "Four. Answer: 4", Verdict.CORRECT, "4"), "Four. Answer: 4")]  # fmt: skip
WRONG = [
    sample(2, "2 + 2 = 40. Answer: 40", Verdict.WRONG, "40"),
    sample(3, "I do not know", Verdict.UNPARSABLE),
    sample(4, "2 + 2 = 5. Answer: 5", Verdict.WRONG, "5"),
]


def texts(pairs):
    return [(c.id, r.id) for (c, _), (r, _) in pairs]


def test_hardest_wrong_puts_the_nearest_answer_first_and_unparsable_last():
    assert [s.id for s in hardness_order(WRONG, "4")] == ["s4", "s2", "s3"]
    # Without a numeric reference, stated answers still come before none.
    assert [s.id for s in hardness_order(WRONG, None)] == ["s2", "s4", "s3"]


def test_pairing_rules_and_the_cap():
    wrong = [(s, s.text) for s in WRONG]
    everything = PreferenceConfig(pairing="all", max_per_problem=None)
    every = pair_correct_with_wrong(CORRECT, wrong, everything, seed=1)
    assert len(every) == 6 and len(set(texts(every))) == 6
    hardest = pair_correct_with_wrong(
        CORRECT,
        wrong,
        PreferenceConfig(pairing="hardest-wrong", max_per_problem=2),
        seed=1,
        gold="4",
    )
    assert texts(hardest) == [("s0", "s4"), ("s1", "s2")]
    rand = PreferenceConfig(pairing="random", max_per_problem=None)
    drawn = pair_correct_with_wrong(CORRECT, wrong, rand, seed=7)
    # Every sample on both sides in some pair, max(C, W) pairs, the same on resume.
    assert len(drawn) == 3
    assert {c for c, _ in texts(drawn)} == {"s0", "s1"}
    assert {r for _, r in texts(drawn)} == {"s2", "s3", "s4"}
    assert texts(pair_correct_with_wrong(CORRECT, wrong, rand, seed=7)) == texts(drawn)
    assert any(
        texts(pair_correct_with_wrong(CORRECT, wrong, rand, seed=s)) != texts(drawn)
        for s in range(8, 20)
    )


def test_no_pairs_without_both_sides_and_repeated_texts_count_once():
    cfg = PreferenceConfig(pairing="all", max_per_problem=None)
    assert pair_correct_with_wrong(CORRECT, [], cfg, seed=0) == []
    assert pair_correct_with_wrong([], [(WRONG[0], "x")], cfg, seed=0) == []
    twice = [(WRONG[0], "Answer: 5"), (WRONG[2], " answer:  5 ")]
    assert len(pair_correct_with_wrong(CORRECT[:1], twice, cfg, seed=0)) == 1


def pair(i: int, chosen: str, rejected: str, source: str = "pairs") -> PreferencePair:
    return PreferencePair(
        id=f"pair{i}", problem_id="p", prompt=QUESTION, chosen=chosen, rejected=rejected,
        chosen_sample_id="s0", rejected_sample_id=f"s{i}", source=source, pairing="random",
    )  # fmt: skip


def test_unique_pairs_drops_repeats_and_ties():
    got = unique_pairs(
        [pair(1, "A", "B"), pair(2, "a ", "b"), pair(3, "A", "A"), pair(4, "A", "C")]
    )
    assert [p.id for p in got] == ["pair1", "pair4"]


def test_unpaired_rows_label_selected_answers_and_wrong_plain_samples():
    selected = [
        TrainingExample(
            id="e0", problem_id="p", sample_id="s0", plugin="selfimprove",
            messages=[*QUESTION, Message(role="assistant", content="2 + 2 = 4. Answer: 4")],
        ),
        # A chain example trains a correction in context: not a plain answer to label.
        TrainingExample(
            id="e1", problem_id="p", plugin="critic",
            messages=[*QUESTION, Message(role="assistant", content="5", train=False),
                      Message(role="user", content="No."),
                      Message(role="assistant", content="4", train=True)],
        ),
    ]  # fmt: skip
    hinted = sample(5, "Answer: 7", Verdict.WRONG, "7", how="guided-answer")
    cfg = PreferenceConfig(max_wrong_per_problem=2)
    rows = unpaired_rows(
        selected, [*WRONG, hinted], [pair(9, "4", "critic's wrong", "critic")], cfg
    )
    assert [(r["completion"][0]["content"], r["label"]) for r in rows] == [
        ("2 + 2 = 4. Answer: 4", True),
        ("critic's wrong", False),
        ("2 + 2 = 40. Answer: 40", False),
        ("I do not know", False),  # the cap of 2 wrong plain samples stops before s4
    ]
    assert rows[0]["prompt"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert [r["source"] for r in rows] == ["selfimprove", "critic", "core", "core"]


def test_preference_files_are_read_by_datasets_in_trl_form(tmp_path: Path):
    from datasets import load_dataset

    path = tmp_path / "preferences.jsonl"
    write_records(path, [pair(1, "A", "B").to_trl(), pair(2, "A", "C", "critic").to_trl()])
    ds = load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == 2
    assert ds[0]["prompt"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert ds[1]["chosen"] == [{"role": "assistant", "content": "A"}]
    assert ds[1]["rejected"] == [{"role": "assistant", "content": "C"}]
    assert count_by_source(path) == {"critic": 1, "pairs": 1}
    assert count_by_source(tmp_path / "absent.jsonl") == {}


def test_reasonloop_preference_pairs_concatenate_in_registration_order():
    class First:
        @hookimpl
        def reasonloop_preference_pairs(self, problem, samples, ctx):
            return [pair(1, "A", "B")]

    class Second:
        @hookimpl
        def reasonloop_preference_pairs(self, problem, samples, ctx):
            return [pair(2, "A", "C"), pair(3, "A", "D")]

    class Nothing:
        @hookimpl
        def reasonloop_preference_pairs(self, problem, samples, ctx):
            return None

    pm = make_plugin_manager(
        disable=["pairs", "critic", "guidance", "selfdebug"],
        extra_plugins=[First(), Nothing(), Second()],
    )
    got = Hooks(pm).preference_pairs(Problem(id="p", prompt="q"), [], None)
    assert [p.id for p in got] == ["pair1", "pair2", "pair3"]


@pytest.mark.parametrize("bad", [{"pairing": "best"}, {"max_per_problem": 0}])
def test_bad_preference_settings_are_rejected(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PreferenceConfig(**bad)


def test_a_pair_round_trips_through_json():
    p = pair(1, "A", "B")
    assert json.loads(json.dumps(p.to_trl()))["pairing"] == "random"
    assert PreferencePair.model_validate_json(p.model_dump_json()) == p
