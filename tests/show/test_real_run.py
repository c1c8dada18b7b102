"""``reasonloop show`` on a run of the packaged model, opened in a real headless Chromium."""

from __future__ import annotations

import json

import pytest

from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog

from .conftest import Page

pytestmark = pytest.mark.slow

#: The tiny recipe on harder problems, with the critic in training (2 samples each).
CHANGES = {
    "name": "show-tiny",
    "seed": 0,
    "roles.actor.sampling.max_tokens": 40,
    "data": {
        "train": [{"name": "arithmetic", "options": {"count": 6, "seed": 2, "split": "train",
                   "kinds": ["subtraction"], "difficulties": [2]}}],
        "eval": [{"name": "arithmetic", "options": {"count": 3, "seed": 0, "split": "eval"}}],
    },
    "sampling": {"n": 2},
    "eval": {"baseline": True, "max_tokens": 40},
    "plugins": {"settings": {"critic": {
        "refinements": 1, "test_time": "off", "critique_max_tokens": 48,
        "critique_temperature": 0.7, "refine_unparsable": True}}},
}  # fmt: skip


def test_a_real_run_browses_with_its_critique_chains(tmp_path, tiny_recipe, cli, chromium):
    recipe = tiny_recipe(CHANGES)
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    outcome = cli("show", run, "-o", tmp_path / "page.html")
    assert outcome.exit_code == 0, outcome.stderr

    samples = list(JsonlLog(run / "iter-000" / "samples.jsonl", Sample))
    critiques = [s for s in samples if s.request.purpose == "critique"]
    refinements = [s for s in samples if s.request.purpose == "refine"]
    assert critiques and refinements  # SmolLM2 is wrong often enough at difficulty 2
    evals = sum(1 for _ in (run / "base" / "eval_samples.jsonl").open())
    evals += sum(1 for _ in (run / "iter-000" / "eval_samples.jsonl").open())

    page = Page(chromium, tmp_path / "page.html")
    assert page.errors == []
    assert (
        page.counts()
        == f"9 of 9 problems, {len(samples) + evals} of {len(samples) + evals} samples match"
    )
    accuracy = json.loads((run / "base" / "eval.json").read_text())["accuracy"]
    assert f"{accuracy:.1%}" in page.page.inner_text("#summary-rows")
    # Each refinement is drawn below its critique, below the answer that was critiqued.
    r = refinements[0]
    c = next(s for s in critiques if s.id == r.request.parent_sample_id)
    chain = page.page.locator(
        f'[data-sample="{c.request.parent_sample_id}"] > .children > [data-sample="{c.id}"]'
        f' > .children > [data-sample="{r.id}"]'
    )
    assert chain.count() == 1
    assert chain.locator("pre.completion").first.text_content().startswith(r.completion[:200])
    page.choose("#f-plugin", "critic")
    assert set(page.problems()) == {s.problem_id for s in critiques}
    page.page.screenshot(path=str(tmp_path / "real-run.png"), full_page=True)
    assert (tmp_path / "real-run.png").stat().st_size > 20_000
    assert page.errors == []
    page.page.close()
