"""``reasonloop critic-data``: step labels from rollouts, exported as TRL rows."""

from __future__ import annotations

import json

from reasonloop.core.loop import Loop
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl
from reasonloop.plugins.critic.critique import parse_critique
from reasonloop.plugins.critic.data import export_critic_data, monotone_labels
from reasonloop.plugins.critic.settings import CriticSettings


def test_critic_data_exports_trl_stepwise_rows(tmp_path, cli, run_context, critic_run, scripted):
    settings = {"rollouts": 2}
    run, _ = critic_run(
        run_context, tmp_path, settings, data={"train": [{"name": "twos"}]}, iterations=1
    )
    Loop(run).run_all()
    out = tmp_path / "critic.jsonl"
    counts = export_critic_data(tmp_path, out, cfg=CriticSettings(**settings))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert counts["rows"] == len(rows) and counts["rolled_out"] == 3
    for row in rows:
        assert set(row) == {"prompt", "completions", "labels", "first_error", "scores"}
        assert len(row["completions"]) == len(row["labels"]) and row["prompt"] == scripted.QUESTION
        assert all(isinstance(x, bool) for x in row["labels"])
    wrong = [r for r in rows if not r["labels"][-1]]
    assert [r["labels"] for r in wrong] == [[True, False, False]] * 3
    assert [r["first_error"] for r in wrong] == [2] * 3
    assert {r["first_error"] for r in rows if r["labels"][-1]} == {None}
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(out), split="train")
    assert ds.column_names == ["prompt", "completions", "labels", "first_error", "scores"]

    outcome = cli("critic-data", tmp_path, "-o", tmp_path / "c2.jsonl", "--format", "critique")
    assert outcome.exit_code == 0, outcome.stderr
    row = json.loads((tmp_path / "c2.jsonl").read_text().splitlines()[0])
    assert row["completion"][0]["content"].endswith("Final answer: wrong")
    assert parse_critique(row["completion"][0]["content"], 3).steps == (True, False, False)
    assert row["first_error"] == 2


def test_mc_labels_are_monotone_and_locate_the_first_error():
    # A lucky rollout after the error (step 3 scores 0.5) does not make step 3 right.
    assert monotone_labels([1.0, 0.0, 0.5, 0.0]) == [True, False, False, False]
    assert monotone_labels([0.5, 0.25, 1.0], threshold=0.3) == [True, False, False]
    assert monotone_labels([1.0, 1.0]) == [True, True]


def test_mc_critique_targets_follow_the_prompt_format(tmp_path, run_context, critic_run):
    """With the authors' prompt, MC-labelled targets are written in the authors' format."""
    settings = {"rollouts": 2, "critique_prompt": "mathcritique"}
    run, _ = critic_run(
        run_context, tmp_path, settings, data={"train": [{"name": "twos"}]}, iterations=1
    )
    Loop(run).run_all()
    out = tmp_path / "c.jsonl"
    export_critic_data(tmp_path, out, "critique", cfg=CriticSettings(**settings))
    row = json.loads(out.read_text().splitlines()[0])
    text = row["completion"][0]["content"]
    assert text.startswith("Step sentence: Mia has 2 apples.\nCorrectness of the step: Correct")
    assert row["prompt"][0]["content"].startswith("Instruction:")
    c = parse_critique(text, 3, "mathcritique")
    assert c.steps == (True, False, False) and c.final_correct is False


def test_critic_data_without_rollouts_is_a_clear_error(tmp_path, cli, run_context, critic_run):
    run, _ = critic_run(run_context, tmp_path, {}, data={"train": [{"name": "twos"}]}, iterations=1)
    Loop(run).run_all()
    outcome = cli("critic-data", tmp_path, "-o", tmp_path / "c.jsonl")
    assert outcome.exit_code == 2 and "rollouts > 0" in outcome.stderr


def test_critic_data_checks_the_runs_critic_settings_like_a_run(tmp_path, cli):
    """A run directory whose recipe has a bad critic block gets the run's own message."""
    (tmp_path / "recipe.yaml").write_text(
        "version: 1\nname: r\nroles: {actor: {model: m}}\n"
        "data: {train: [{name: arithmetic}]}\n"
        "plugins: {settings: {critic: {rolouts: 2}}}\n"
    )
    outcome = cli("critic-data", tmp_path, "-o", tmp_path / "c.jsonl")
    assert outcome.exit_code == 2
    assert "plugins.settings.critic.rolouts: unknown key; did you mean 'rollouts'?" in (
        outcome.stderr
    )
    assert "Traceback" not in outcome.stderr and not (tmp_path / "c.jsonl").exists()


def test_annotated_critiques_are_kept_when_a_refinement_from_them_succeeds(
    tmp_path, cli, run_context, critic_run, scripted
):
    """The annotator writes the training critiques; the filter keeps those that helped."""
    settings = {"annotator": True, "critiques_per_problem": 2, "annotate_correct": 1}
    run, _ = critic_run(
        run_context, tmp_path, settings, data={"train": [{"name": "twos"}]}, iterations=1
    )
    Loop(run).run_all()
    samples = [
        s
        for s in JsonlLog(tmp_path / "iter-000" / "samples.jsonl", Sample)
        if s.request.purpose.startswith("critique")
    ]
    assert {s.request.role for s in samples} == {"annotator"}
    # The annotator is told the gold answer; the critic it trains never is.
    assert all("the correct final answer is 4" in s.request.messages[-1].content for s in samples)
    assert sum(s.request.purpose == "critique-correct" for s in samples) == 2  # p0, p2

    out = tmp_path / "critic" / "train.jsonl"
    outcome = cli("critic-data", tmp_path, "-o", out, "--format", "annotated")
    assert outcome.exit_code == 0, outcome.stderr
    # p0's and p1's first wrong answers were fixed by a refinement; p1's second
    # was not, p3's critique is unparsable; both correct answers were accepted.
    assert "kept 2 of 4 critiques of wrong answers" in outcome.stdout
    assert "2 of 2 of correct ones; 1 unparsable" in outcome.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert set(row) == {"prompt", "completion"}
        assert "correct final answer" not in row["prompt"][0]["content"]
        assert "Example review:" in row["prompt"][0]["content"]
        assert row["completion"][0]["content"].startswith("Step 1:")
    examples = read_jsonl(out.with_name("train.examples.jsonl"), TrainingExample)
    assert {e.metadata["role"] for e in examples} == {"critic"}
    assert sorted(e.metadata["answer_correct"] for e in examples) == [False, False, True, True]
    assert [
        e.metadata["first_wrong_step"] for e in examples if not e.metadata["answer_correct"]
    ] == [
        2,
        2,
    ]
    # Training needs a trainer: this run has none.
    outcome = cli(
        "critic-data", tmp_path, "-o", out, "--format", "annotated", "--train", tmp_path / "m"
    )
    assert outcome.exit_code == 2 and "--trainer trl-sft" in outcome.stderr
