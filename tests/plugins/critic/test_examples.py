"""Training examples from refinements: which are kept, their forms and their masks."""

from __future__ import annotations

from reasonloop.core.records import TrainingExample
from reasonloop.verifiers.shortcut import shortcut_reason


def test_shortcut_filter_on_refinements_of_real_critiques(critic_outputs):
    """Revisions the real actor wrote after those critiques, each labelled by reading it."""
    rows = critic_outputs
    refinements = [(row, r) for row in rows for r in row["refinements"]]
    assert {r["shortcut"] for _, r in refinements} == {True, False}
    for row, r in refinements:
        reason = shortcut_reason(r["text"], problem=row["question"], references=[row["answer"]])
        assert (reason is not None) == r["shortcut"], r["text"]
    # A correct revision that only restates the answer is caught; a worked one is not.
    correct = {
        r["text"].split("\n")[0]: r["shortcut"] for _, r in refinements if r["verdict"] == "correct"
    }
    assert sorted(correct.values()) == [False, True]


def test_kept_refinements_are_correct_worked_and_one_per_critique(
    tmp_path, run_context, sample_rounds, scripted
):
    stage, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"trajectories": "both"})
    p1 = next(p for p in stage.problems if p.id == "p1")
    own = [s for s in samples if s.problem_id == "p1"]
    examples = stage.run.hooks.training_examples(p1, own, stage)
    critic = [e for e in examples if e.plugin == "critic"]
    # p1 had two critiques; only the first led to a worked correct refinement
    # (the "Answer: 4" shortcuts and the wrong refinement are dropped).
    plain, multi = critic
    assert plain.messages[-1].content == scripted.WORKED
    assert all("Step" not in m.content for m in plain.messages)  # no critique in the prompt
    assert [m.role for m in plain.messages] == ["user", "assistant"]
    assert [(m.role, m.train) for m in multi.messages] == [
        ("user", None),
        ("assistant", False),
        ("user", None),
        ("assistant", True),
    ]
    assert (
        multi.messages[1].content == scripted.WRONG[5]
        and "Step 2: wrong" in multi.messages[2].content
    )
    # Masking: the wrong attempt is part of the prompt, only the refinement is trained.
    trl = multi.to_trl()
    assert [m["content"] for m in trl["completion"]] == [scripted.WORKED]
    assert trl["prompt"][1] == {"role": "assistant", "content": scripted.WRONG[5]}


def test_selection_keeps_the_chain_example_beside_the_plain_one(
    tmp_path, run_context, sample_rounds
):
    stage, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"trajectories": "both"})
    p1 = next(p for p in stage.problems if p.id == "p1")
    examples = stage.run.hooks.training_examples(
        p1, [s for s in samples if s.problem_id == "p1"], stage
    )
    selected = stage.run.hooks.select_examples(examples, stage)
    assert {e.how for e in selected} == {
        "refined-after-critique",
        "refined-after-critique-chain",
    }


def test_per_turn_masks_survive_the_trl_form():
    def msg(role, text, train=None):
        from reasonloop.core.records import Message

        return Message(role=role, content=text, train=train)

    chain = [
        msg("user", "q"),
        msg("assistant", "first try", train=True),
        msg("user", "hint"),
        msg("assistant", "wrong again", train=False),
        msg("user", "critique"),
        msg("assistant", "right"),
    ]
    row = TrainingExample(id="x", problem_id="p", messages=chain).to_trl()
    assert row["train_turns"] == [1, 5]
    every = [*chain[:3], msg("assistant", "a", train=True), *chain[4:]]
    assert "train_turns" not in TrainingExample(id="y", problem_id="p", messages=every).to_trl()


def test_pairs_put_the_kept_refinement_over_the_answer_it_revised(
    tmp_path, run_context, sample_rounds, scripted
):
    from reasonloop.core.lineage import SampleTree

    stage, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"trajectories": "both"})
    by_id = {p.id: p for p in stage.problems}
    own = {pid: [s for s in samples if s.problem_id == pid] for pid in by_id}
    pairs = {pid: stage.run.hooks.preference_pairs(by_id[pid], own[pid], stage) for pid in by_id}
    critic = [p for ps in pairs.values() for p in ps if p.source == "critic"]
    # One kept refinement (p1's first critique), as for the training examples.
    # One kept refinement per problem whose answer was revised (p1's second
    # critique led only to a shortcut and a wrong revision).
    assert sorted(p.problem_id for p in critic) == ["p0", "p1"]
    for pair in critic:
        assert pair.pairing == "correction"
        assert pair.chosen == scripted.WORKED and pair.rejected == scripted.WRONG[5]
        # The critique is not in the prompt: the plain question only.
        assert pair.prompt == stage.run.problem_messages(by_id[pair.problem_id])
        tree = SampleTree(own[pair.problem_id])
        refinement = tree.get(pair.chosen_sample_id)
        assert refinement.request.purpose == "refine" and refinement.correct
        assert tree.parent(tree.parent(refinement)).id == pair.rejected_sample_id
        assert not tree.get(pair.rejected_sample_id).correct
    # Plain samples pair correct over wrong where a problem has both (p0 only).
    plain = {pid: [p for p in ps if p.source == "pairs"] for pid, ps in pairs.items()}
    assert {pid for pid, ps in plain.items() if ps} == {"p0"}
    (p0,) = plain["p0"]
    assert p0.rejected == scripted.WRONG[5] and p0.chosen.endswith("Answer: 4")
