"""Refinement trajectories as training data: the forms, the loss masks, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop.core.context import RunContext
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import (
    Message,
    Problem,
    Reference,
    Request,
    Sample,
    TrainingExample,
)
from reasonloop.core.report import write_report
from reasonloop.core.rundir import RunDirectory, RunState, write_records
from reasonloop.hf.perplexity import PerplexityScorer

QUESTION = "What is 12 + 7?"
WRONG = "12 + 7 = 21. Answer: 21"
FEEDBACK = "Step 1 is wrong: 12 + 7 is not 21. Add again."
RIGHT = "12 + 7 = 19. Answer: 19"


def make_run(tmp_path: Path) -> RunContext:
    recipe = recipe_from_dict(
        {"version": 1, "name": "t", "roles": {"actor": {"model": "m"}}, "data": {}}
    )
    return build_run_context(recipe, tmp_path, RunProgress(enabled=False))


def corrected(problem: Problem) -> tuple[Sample, list[Message]]:
    trajectory = [
        Message(role="user", content=QUESTION),
        Message(role="assistant", content=WRONG),
        Message(role="user", content=FEEDBACK),
    ]
    request = Request(
        id="r", problem_id=problem.id, messages=trajectory, plugin="critic", how="refined"
    )
    return Sample(id="s", problem_id=problem.id, request=request, completion=RIGHT), trajectory


@pytest.mark.parametrize(
    ("form", "kinds"),
    [("plain", ["refined"]), ("chain", ["refined-chain"]), ("both", ["refined", "refined-chain"])],
)
def test_each_form_gives_its_examples(tmp_path: Path, form: str, kinds: list[str]) -> None:
    run = make_run(tmp_path)
    problem = Problem(
        id="p", prompt=QUESTION, reference=Reference(answer="19"), metadata={"difficulty": 2}
    )
    sample, trajectory = corrected(problem)
    examples = run.refinement_examples(
        problem, sample, RIGHT, trajectory=trajectory, form=form, plugin="critic"
    )
    assert [e.how for e in examples] == kinds
    assert len({e.id for e in examples}) == len(examples)
    for e in examples:
        assert e.metadata["difficulty"] == "2"
        if e.how.endswith("-chain"):
            row = e.to_trl()
            # The wrong attempt and the feedback are context; only the correction is learnt.
            assert [m["content"] for m in row["prompt"]] == [QUESTION, WRONG, FEEDBACK]
            assert row["completion"] == [{"role": "assistant", "content": RIGHT}]
        else:
            assert e.to_trl()["completion"][0]["content"] == RIGHT
            assert WRONG not in json.dumps(e.to_trl())


@pytest.mark.slow
def test_training_on_chains_learns_the_correction_not_the_wrong_attempt(
    tmp_path: Path, smollm2: str
) -> None:
    """Real trl-sft training: a masked wrong attempt is not learnt; an unmasked one is."""
    from reasonloop.trainers.trl_sft import TrlSftTrainer

    def chain(i: int, mask_wrong: bool) -> dict:
        wrong = f"zq vorp klax {i} grob plim"  # what a model must not learn to write
        messages = [
            {"role": "user", "content": f"Row {i}: what is {i} + 5?"},
            {"role": "assistant", "content": wrong},
            {"role": "user", "content": "That is wrong. Try again."},
            {"role": "assistant", "content": f"{i} + 5 = {i + 5}. Answer: {i + 5}"},
        ]
        return {"messages": messages, "train_turns": [3] if mask_wrong else [1, 3]}

    def probe(rows: list[dict], turn: int) -> list[dict]:
        # The text of one assistant turn as a completion after everything before it.
        return [{"prompt": r["messages"][:turn], "completion": [r["messages"][turn]]} for r in rows]

    def mean(xs: list[float | None]) -> float:
        values = [x for x in xs if x is not None]
        return sum(values) / len(values)

    options = {"epochs": 3, "learning_rate": 1e-4, "max_length": 128, "batch_size": 8}
    results = {}
    for name, masked in (("masked", True), ("unmasked", False)):
        rows = [chain(i, masked) for i in range(16)]
        data = tmp_path / f"{name}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        model = TrlSftTrainer(options).train(data, smollm2, tmp_path / name).model_path
        scorer = PerplexityScorer(model)
        results[name] = (mean(scorer.score(probe(rows, 1))), mean(scorer.score(probe(rows, 3))))
        scorer.close()
    base = PerplexityScorer(smollm2)
    rows = [chain(i, True) for i in range(16)]
    before = (mean(base.score(probe(rows, 1))), mean(base.score(probe(rows, 3))))
    base.close()

    (masked_wrong, masked_right), (unmasked_wrong, unmasked_right) = (
        results["masked"],
        results["unmasked"],
    )
    # Both learn the correction...
    assert masked_right < 0.7 * before[1] and unmasked_right < 0.7 * before[1]
    # ...but only training on the wrong attempt makes the model likely to write it.
    assert unmasked_wrong < 0.3 * before[0]
    assert masked_wrong > 3 * unmasked_wrong, (before, results)


def test_report_counts_examples_and_chains(tmp_path: Path) -> None:
    run_dir = RunDirectory(tmp_path)
    d = run_dir.stage_dir(0)
    d.mkdir(parents=True)

    def ex(i: int, plugin: str, how: str, chain: bool) -> TrainingExample:
        messages = [Message(role="user", content="q")]
        if chain:
            messages += [
                Message(role="assistant", content="wrong", train=False),
                Message(role="user", content="feedback"),
            ]
        messages.append(Message(role="assistant", content="right"))
        return TrainingExample(
            id=f"e{i}", problem_id="p", messages=messages, plugin=plugin, how=how
        )

    candidates = [
        ex(0, "selfimprove", "plain", False),
        ex(1, "selfimprove", "plain", False),
        ex(2, "critic", "refined", False),
        ex(3, "critic", "refined-chain", True),
        ex(4, "critic", "refined-chain", True),
    ]
    write_records(d / "candidates.jsonl", candidates)
    write_records(d / "selected.jsonl", [candidates[0], candidates[2], candidates[3]])
    run_dir.save_state(RunState())
    write_report(run_dir=run_dir)
    report = run_dir.report_path.read_text()
    assert "## Training examples by plugin" in report
    assert "| iter-000 | critic | refined-chain | 2 | 1 | 1 |" in report
    assert "| iter-000 | critic | refined | 1 | 1 | 0 |" in report
    assert "| iter-000 | selfimprove | plain | 2 | 1 | 0 |" in report
