"""``reasonloop compare``: runs side by side, paired on the same held-out problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.comparison import compare_runs, load_run_stage, plot_comparison
from reasonloop.core.records import Request, Sample
from reasonloop.core.rundir import RunDirectory, RunState, atomic_write_json, write_records
from reasonloop.core.statistics import wilson_interval
from reasonloop.errors import UsageError


def sample(sid: str, purpose: str, tokens: int, plugin: str = "core") -> Sample:
    request = Request(id=f"r-{sid}", problem_id="p", messages=[], purpose=purpose, plugin=plugin)
    return Sample(
        id=sid, problem_id="p", request=request, completion="", prompt_tokens=tokens,
        completion_tokens=tokens,
    )  # fmt: skip


def make_run(root: Path, stages: dict[str, set[int]], n: int = 100, ids: str = "p") -> Path:
    """A run directory as the loop leaves it: per stage samples, eval.json with answers."""
    run_dir = RunDirectory(root)
    for name, solved in stages.items():
        d = root / name
        d.mkdir(parents=True)
        if name != "base":
            train = [sample(f"{name}-{i}", "sample", 10, plugin="guidance") for i in range(4)]
            write_records(d / "samples.jsonl", [s.model_dump() for s in train])
        answers = [{"problem_id": f"{ids}{i}", "correct": i in solved} for i in range(n)]
        atomic_write_json(
            d / "eval.json",
            {
                "accuracy": len(solved) / n,
                "problems": n,
                "interval": list(wilson_interval(len(solved), n)),
                "by": {},
                "compute": compute_ledger([sample(f"{name}-e", "eval", 50)]),
                "answers": answers,
            },
        )
    run_dir.save_state(RunState(seconds={}))
    return root


def test_compare_pairs_each_run_with_the_first_and_states_the_tokens(tmp_path):
    a = make_run(tmp_path / "plain", {"base": set(range(20)), "iter-000": set(range(22))})
    b = make_run(tmp_path / "guided", {"base": set(range(20)), "iter-000": set(range(5, 50))})
    text = compare_runs([load_run_stage(a), load_run_stage(b)])
    assert f"| {a} | iter-000 | 22.0% [15.0, 31.1] | - |" in text
    row = next(line for line in text.splitlines() if line.startswith(f"| {b} |"))
    assert "45.0% [35.6, 54.8] | +23.0 points [" in row
    assert "| 28 | 5 |" in row and row.endswith("| distinguishable |")
    # Tokens over base and iter-000: two evaluations (100 each) and four samples (20 each).
    assert row.split(" | ")[-2] == "280"
    assert f"| {b} | actor | guidance | sample | 4 | 40 | 40 |" in text
    at_base = compare_runs([load_run_stage(a, "base"), load_run_stage(b, "base")])
    assert "| +0.0 points [+0.0, +0.0] | 1 | 0 | 0 | 100 | not distinguishable" in at_base


def test_compare_refuses_what_cannot_be_paired(tmp_path):
    a = make_run(tmp_path / "a", {"base": {1, 2}})
    other = make_run(tmp_path / "b", {"base": {1}}, ids="q")
    with pytest.raises(UsageError, match=r"different held-out problems .* 100 only in .*a \(p0"):
        compare_runs([load_run_stage(a), load_run_stage(other)])
    with pytest.raises(UsageError, match=r"no evaluated stage 'iter-003'.*evaluated: base"):
        load_run_stage(a, "iter-003")
    with pytest.raises(UsageError, match="at least two"):
        compare_runs([load_run_stage(a)])
    with pytest.raises(UsageError, match="not a run directory"):
        load_run_stage(tmp_path / "nowhere")
    old = make_run(tmp_path / "old", {"base": {1}})
    data = (old / "base" / "eval.json").read_text().replace('"answers"', '"old_answers"')
    (old / "base" / "eval.json").write_text(data)
    with pytest.raises(UsageError, match="no per-problem answers"):
        load_run_stage(old)


def test_the_compare_command_prints_or_writes_the_table(tmp_path, cli):
    a = make_run(tmp_path / "a", {"base": set(range(10))})
    b = make_run(tmp_path / "b", {"base": set(range(30))})
    outcome = cli("compare", a, b)
    assert outcome.exit_code == 0 and "# Run comparison" in outcome.stdout
    assert "+20.0 points" in outcome.stdout
    target = tmp_path / "compare.md"
    outcome = cli("compare", a, b, "--stage", "base", "-o", target)
    assert outcome.exit_code == 0 and "+20.0 points" in target.read_text()
    # The plot lands beside the table, which links it.
    png = tmp_path / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(compare.png)" in target.read_text()
    elsewhere = tmp_path / "plots" / "runs.png"
    elsewhere.parent.mkdir()
    assert cli("compare", a, b, "--plot", elsewhere).exit_code == 0 and elsewhere.exists()
    refused = cli("compare", a, tmp_path / "missing")
    assert refused.exit_code != 0 and "not a run directory" in refused.stderr


def test_compare_shows_training_coverage_by_difficulty(tmp_path):
    a = make_run(tmp_path / "a", {"base": {1}, "iter-000": {1, 2}})
    b = make_run(tmp_path / "b", {"base": {1}, "iter-000": {1, 2, 3}})
    problems = [
        {"id": "p", "prompt": "x", "metadata": {"difficulty": 2}},
        {"id": "q", "prompt": "y", "metadata": {"difficulty": 3}},
    ]
    for root in (a, b):
        write_records(root / "problems" / "train.jsonl", problems)
    # Run b also samples q and keeps an example of each problem; run a keeps none.
    extra = sample("q-0", "sample", 10).model_copy(update={"problem_id": "q"})
    write_records(b / "iter-000" / "samples.jsonl",
                  [sample("b-0", "sample", 10).model_dump(), extra.model_dump()])  # fmt: skip
    write_records(b / "iter-000" / "selected.jsonl", [
        {"id": "e1", "problem_id": "p", "messages": []},
        {"id": "e2", "problem_id": "q", "messages": []},
    ])  # fmt: skip
    stages = [load_run_stage(a), load_run_stage(b)]
    text = compare_runs(stages)
    section = text.split("## Training coverage by difficulty")[1]
    assert f"| {a} | iter-000 | 2 | 1 | 0 (0.0% [0.0, 79.3]) | 0 |" in section
    assert f"| {b} | iter-000 | 2 | 1 | 1 (100.0% [20.7, 100.0]) | 1 |" in section
    assert f"| {b} | iter-000 | 3 | 1 | 1 (100.0% [20.7, 100.0]) | 1 |" in section
    at_base = compare_runs([load_run_stage(a, "base"), load_run_stage(b, "base")])
    assert "Training coverage" not in at_base
    png = plot_comparison(stages, tmp_path / "c.png")
    assert png.stat().st_size > 10_000
