"""The curriculum plugin as a whole: scoring, caching, the summary and the real loop.

Scoring and caching run on hand-made perplexities; the real model scores
and trains in the slow tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reasonloop.core.context import IterationContext
from reasonloop.core.records import Message, TrainingExample
from reasonloop.core.rundir import read_jsonl
from reasonloop.plugins.curriculum import SCORES, SUMMARY, ScoreRecord, curriculum_order


def examples(n: int) -> list[TrainingExample]:
    return [
        TrainingExample(
            id=f"e{i}",
            problem_id=f"p{i}",
            messages=[
                Message(role="user", content=f"What is {i} + {i}?"),
                Message(role="assistant", content=f"{i} + {i} = {2 * i}\nAnswer: {2 * i}"),
            ],
        )
        for i in range(n)
    ]


def cache(ctx: IterationContext, rows: list[tuple[str, str, float | None]]) -> Path:
    path = ctx.run.run_dir.stage_dir(ctx.iteration) / SCORES
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for model, id, ppl in rows:
            f.write(ScoreRecord(model=model, id=id, perplexity=ppl).model_dump_json() + "\n")
    return path


def test_pd_from_cached_perplexities_orders_low_pd_first(tmp_path, run_context, stage):
    # "base", "big" and "ckpt" are no loadable models: every score must come from the cache.
    ctx = stage(
        run_context,
        tmp_path,
        {"preference": "linear", "strong_model": "big"},
        models={"actor": "ckpt"},
    )
    exs = examples(6)
    weak = [10.0, 10.0, 8.0, 4.0, 6.0, 5.0]
    strong = [9.0, 2.0, 8.0, 1.0, 3.0, None]
    path = cache(ctx, [("base", e.id, w) for e, w in zip(exs, weak, strict=True)])
    cache(ctx, [("big", e.id, s) for e, s in zip(exs, strong, strict=True)])
    before = path.read_text()

    ordered = curriculum_order(exs, ctx, ctx.run.settings_for("curriculum"))

    assert path.read_text() == before  # nothing rescored
    summary = json.loads((path.parent / SUMMARY).read_text())
    assert summary["score"] == "pd"
    # The strong model is the fixed one the recipe names, not the sampler's checkpoint.
    assert (summary["weak_model"], summary["strong_model"]) == ("base", "big")
    assert (summary["strong"], summary["backend"]) == ("fixed", "transformers")
    pd = {r["id"]: r["score"] for r in summary["order"]}
    assert pd == {
        "e0": pytest.approx(0.1),
        "e1": pytest.approx(0.8),
        "e2": pytest.approx(0.0),
        "e3": pytest.approx(0.75),
        "e4": pytest.approx(0.5),
        "e5": None,
    }
    # High pool: the three highest PDs; linear schedule from 0 to 1.
    assert {r["id"] for r in summary["order"] if r["high"]} == {"e1", "e3", "e4"}
    assert [r["high"] for r in summary["order"]] == [False, False, True, False, True, True]
    assert [e.id for e in ordered] == [r["id"] for r in summary["order"]]
    assert summary["unscored"] == 1
    assert summary["scores"]["max"] == pytest.approx(0.8)
    assert (summary["share_start"], summary["share_end"]) == (0.0, 1.0)


def test_strong_current_is_the_iterations_checkpoint(tmp_path, run_context, stage):
    ctx = stage(run_context, tmp_path, {"strong_model": "current"}, models={"actor": "ckpt"})
    exs = examples(4)
    cache(ctx, [("base", e.id, 10.0) for e in exs])
    cache(ctx, [("ckpt", e.id, 10.0 - i) for i, e in enumerate(exs)])
    curriculum_order(exs, ctx, ctx.run.settings_for("curriculum"))
    summary = json.loads((ctx.run.run_dir.stage_dir(1) / SUMMARY).read_text())
    assert (summary["strong_model"], summary["strong"], summary["score"]) == (
        "ckpt",
        "current",
        "pd",
    )
    assert {r["id"] for r in summary["order"] if r["high"]} == {"e2", "e3"}


def test_falling_direction_puts_the_high_pool_first(tmp_path, run_context, stage):
    ctx = stage(run_context, tmp_path, {"strong_model": "big", "direction": "falling"})
    exs = examples(6)
    cache(ctx, [("base", e.id, 10.0) for e in exs])
    cache(ctx, [("big", e.id, 10.0 - i) for i, e in enumerate(exs)])
    curriculum_order(exs, ctx, ctx.run.settings_for("curriculum"))
    summary = json.loads((ctx.run.run_dir.stage_dir(1) / SUMMARY).read_text())
    assert summary["direction"] == "falling"
    assert (summary["share_start"], summary["share_end"]) == (1.0, 0.0)
    assert [r["high"] for r in summary["order"]] == [True, True, False, True, False, False]


def test_same_model_keep_leaves_the_order_and_scores_nothing(tmp_path, run_context, stage):
    ctx = stage(
        run_context,
        tmp_path,
        {"same_model": "keep", "strong_model": "current"},
        models={"actor": "base"},
    )
    settings = ctx.run.settings_for("curriculum")
    assert curriculum_order(examples(3), ctx, settings) is None
    d = ctx.run.run_dir.stage_dir(1)
    assert not (d / SCORES).exists()
    assert json.loads((d / SUMMARY).read_text())["score"] is None


@pytest.mark.slow
def test_resume_scores_only_what_the_cache_lacks(tmp_path, run_context, smollm2, stage):
    ctx = stage(
        run_context, tmp_path, {"strong_model": "current"}, models={"actor": smollm2}, model=smollm2
    )
    exs = examples(6)
    # An earlier, interrupted attempt scored three examples (made-up values).
    path = cache(ctx, [(smollm2, e.id, 100.0 + i) for i, e in enumerate(exs[:3])])

    ordered = curriculum_order(exs, ctx, ctx.run.settings_for("curriculum"))

    rows = read_jsonl(path, ScoreRecord)
    assert [r.id for r in rows] == [e.id for e in exs]  # the three missing ones, once each
    assert [r.perplexity for r in rows[:3]] == [100.0, 101.0, 102.0]
    assert all(1 < r.perplexity < 50 for r in rows[3:])  # real perplexities
    summary = json.loads((path.parent / SUMMARY).read_text())
    # Weak = strong (the same model): ordered by the model's own perplexity,
    # and the made-up, highest perplexities form the high pool.
    assert summary["score"] == "perplexity"
    assert {r["id"] for r in summary["order"] if r["high"]} == {"e0", "e1", "e2"}
    assert len(ordered) == 6

    curriculum_order(
        exs, ctx, ctx.run.settings_for("curriculum")
    )  # a second pass (a resume) scores nothing
    assert len(read_jsonl(path, ScoreRecord)) == 6


TINY = """\
version: 1
name: tiny-curriculum
seed: 3
iterations: 2
run_dir: {run_dir}
roles:
  actor:
    model: {model}
    backend_options: {{batch_size: 16}}
    sampling: {{temperature: 0.5, top_p: 0.95, max_tokens: 32}}
prompt:
  template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 16, seed: 5, split: train,
           kinds: [multiplication], difficulties: [1]}}}}]
  eval: [{{name: arithmetic, options: {{count: 6, seed: 0, split: eval}}}}]
  problems_per_iteration: 8
sampling: {{n: 3, chunk_size: 4}}
trainer:
  name: trl-sft
  options: {{method: full, learning_rate: 3.0e-5, epochs: 1, batch_size: 4, max_length: 128}}
eval: {{baseline: false}}
plugins:
  settings:
    curriculum: {{strong_model: current, preference: sigmoid, steepness: 8}}
"""


@pytest.mark.slow
def test_tiny_loop_trains_in_curriculum_order(tmp_path, smollm2, cli):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(run_dir=tmp_path / "run", model=smollm2))
    outcome = cli("run", path, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    run = tmp_path / "run"
    state = json.loads((run / "state.json").read_text())
    assert state["ordered"] == [0, 1]
    for it, kind in ((0, "perplexity"), (1, "pd")):
        d = run / f"iter-{it:03d}"
        summary = json.loads((d / SUMMARY).read_text())
        assert summary["score"] == kind
        expected_strong = smollm2 if it == 0 else state["models"]["0"]
        assert (summary["weak_model"], summary["strong_model"]) == (smollm2, expected_strong)
        selected = {e.id: e for e in read_jsonl(d / "selected.jsonl", TrainingExample)}
        rows = [json.loads(line) for line in (d / "train.jsonl").open()]
        # train.jsonl holds the selection exactly in curriculum.json's order ...
        assert rows == [selected[r["id"]].to_trl() for r in summary["order"]]
        assert len(rows) == summary["examples"] > 0
        # ... with real scores, and the trainer kept that order.
        assert all(r["score"] is not None and math.isfinite(r["score"]) for r in summary["order"])
        assert state["train_metrics"][str(it)]["shuffled"] is False
        assert sum(r["high"] for r in summary["order"]) == round(0.5 * len(rows))
        cached = read_jsonl(d / SCORES, ScoreRecord)
        assert len(cached) == len(rows) * (1 if kind == "perplexity" else 2)
    report = (run / "report.md").read_text()
    assert "## Curriculum: perplexity-difference order" in report
    assert "| 1 | pd |" in report and "| 0 | perplexity |" in report
    assert (run / "curriculum_order.png").stat().st_size > 1000
