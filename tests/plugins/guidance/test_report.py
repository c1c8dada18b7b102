"""The guidance report sections, plots and ``reasonloop guidance-compare`` on a whole run."""

from __future__ import annotations

import json

from reasonloop.core.rundir import RunDirectory


def test_a_run_writes_guidance_metrics_and_report_sections(tmp_path, run_context, cli, scripted):
    data = {
        "train": [{"name": "arithmetic", "options": {"count": 24, "seed": 2, "split": "train"}}],
        "eval": [{"name": "arithmetic", "options": {"count": 6, "seed": 0, "split": "eval"}}],
        "problems_per_iteration": 12,
    }

    def respond(request, index, problem):
        if request.plugin == "selfimprove" and problem.metadata["difficulty"] == 3:
            return "Answer: 0"  # the tail: plain sampling never solves difficulty 3
        if request.plugin == "selfimprove" or request.role == "actor":
            text = scripted.worked(problem)
            return text[len(request.prefill or "") :]
        return "Check the last step."

    run, _ = scripted.run_loop(run_context, tmp_path, {"strategy": "state_reset"}, data, respond)
    root = run.run_dir.root
    metrics = json.loads((root / "iter-000" / "guidance.json").read_text())
    hard = metrics["buckets"]["3"]
    assert hard["plain_coverage"] == 0.0 and hard["coverage"] == 1.0
    assert hard["guided_examples"] == hard["problems"] > 0
    report = (root / "report.md").read_text()
    assert "## Guidance: coverage by difficulty" in report
    assert "| 1 | 3 |" in report  # iteration 1, difficulty 3
    assert "## Guidance: attempts and tokens by role and strategy" in report
    assert (root / "guidance_coverage.png").stat().st_size > 0
    assert "state-reset" in report  # the core's compute table splits the strategy out
    # The comparison command reads any run directory.
    outcome = cli("guidance-compare", root, root, "-o", tmp_path / "cmp.png")
    assert outcome.exit_code == 0, outcome.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 0
    assert f"| {root.name} | 1 | 3 | " in outcome.stdout and "plot: " in outcome.stdout
    outcome = cli("guidance-compare", root, tmp_path / "nowhere")
    assert outcome.exit_code == 2 and "nowhere" in outcome.stderr
    from reasonloop.plugins.guidance.report import plot_comparison

    bars = plot_comparison([("plain", metrics), ("guided", metrics)], tmp_path / "b.png", "t")
    assert bars.stat().st_size > 0
    assert RunDirectory(root).load_state().completed[-1] == "iter-001/eval"
