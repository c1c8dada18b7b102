"""A real seed group: the packaged model, real training, two seeds, an interruption, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAINING

pytestmark = pytest.mark.slow

#: The tiny recipe, trained, with short answers: two seeds of it run in about a minute.
CHANGES = {
    "name": "tiny-seeds",
    "roles.actor.sampling.max_tokens": 24,
    "eval": {"max_tokens": 24},
    "trainer": {**TINY_TRAINING, "options": {**TINY_TRAINING["options"], "max_length": 96}},
}


def completions(run: Path) -> list[str]:
    return [json.loads(line)["completion"] for line in (run / "iter-000/samples.jsonl").open()]


def test_two_seeds_run_resume_and_compare(tmp_path, tiny_recipe, cli):
    group = tmp_path / "group"
    recipe = tiny_recipe({**CHANGES, "run_dir": str(group)})
    outcome = cli("run", recipe, "--seeds", "0,1", "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    assert "seed 0 (1 of 2): starting" in outcome.stderr
    assert "seed 1 (2 of 2): starting" in outcome.stderr
    assert "mean [pooled 95%]" in outcome.stdout

    # Two ordinary run directories, each the recipe with its own seed.
    for seed in (0, 1):
        run = group / f"seed-{seed}"
        state = json.loads((run / "state.json").read_text())
        assert state["completed"][-1] == "iter-000/eval"
        assert f"seed: {seed}\n" in (run / "recipe.yaml").read_text()
        assert (run / "report.md").exists()
    # The seeds change the sampling: same requests, different request seeds and completions.
    samples = {s: group / f"seed-{s}" / "iter-000/samples.jsonl" for s in (0, 1)}
    first = [json.loads(line) for line in samples[0].open()]
    second = [json.loads(line) for line in samples[1].open()]
    assert [s["request"]["id"] for s in first] == [s["request"]["id"] for s in second]
    assert first[0]["request"]["sampling"]["seed"] != second[0]["request"]["sampling"]["seed"]
    assert completions(group / "seed-0") != completions(group / "seed-1")

    data = json.loads((group / "seeds.json").read_text())
    assert data["seeds"] == [0, 1] and data["finished"] == [0, 1]
    assert [st["stage"] for st in data["stages"]] == ["base", "iter-000"]
    for st in data["stages"]:
        assert st["seeds"] == 2 and st["problems"] == 8 and len(st["per_seed"]) == 2
        assert st["min"] <= st["mean"] <= st["max"]
        lo, hi = st["interval"]
        assert 0.0 <= lo <= st["mean"] <= hi <= 1.0
    # Greedy evaluation of the same base model: the seeds agree exactly there.
    assert data["stages"][0]["std"] == 0.0
    assert data["difference"]["from"] == "base" and data["difference"]["to"] == "iter-000"
    assert "| iter-000 | 2 | 8 |" in (group / "seeds.md").read_text()

    # The same command again refuses to overwrite; resume is the way on.
    again = cli("run", recipe, "--seeds", "0,1", "--no-progress")
    assert again.exit_code != 0 and "already holds a seed group" in again.stderr

    # An interruption during seed 1's last evaluation: seed 0 finished, seed 1 half done.
    seed0_state = (group / "seed-0" / "state.json").read_bytes()
    seed1 = group / "seed-1"
    kept_samples = completions(seed1)
    state = json.loads((seed1 / "state.json").read_text())
    state["completed"].remove("iter-000/eval")
    (seed1 / "state.json").write_text(json.dumps(state))
    (seed1 / "iter-000" / "eval.json").unlink()
    data["finished"] = [0]
    (group / "seeds.json").write_text(json.dumps(data))
    resumed = cli("resume", group, "--no-progress")
    assert resumed.exit_code == 0, resumed.stderr
    assert "seed 0" not in resumed.stderr and "seed 1 (2 of 2): continuing" in resumed.stderr
    assert (group / "seed-0" / "state.json").read_bytes() == seed0_state
    assert (seed1 / "iter-000" / "eval.json").exists()
    assert completions(seed1) == kept_samples  # sampling was not repeated
    assert json.loads((group / "seeds.json").read_text())["finished"] == [0, 1]

    # compare takes the group as one run, next to a plain run on the same problems.
    table = cli("compare", group / "seed-0", group)
    assert table.exit_code == 0, table.stderr
    assert "2 seeds, std" in table.stdout and "A seed group is one run" in table.stdout
    assert cli("report", group).exit_code == 0
