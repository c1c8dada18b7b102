"""The curriculum plugin: preference functions, PD, the offline order, caching, the real loop."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from reasonloop.core.context import IterationContext
from reasonloop.core.records import Message, TrainingExample
from reasonloop.core.rundir import read_jsonl
from reasonloop.errors import RecipeError
from reasonloop.plugins.curriculum import SCORES, SUMMARY, ScoreRecord, curriculum_order
from reasonloop.plugins.curriculum.order import (
    PreferenceFunction,
    arrange,
    perplexity_difference,
    segment_shares,
)
from reasonloop.trainers.base import TrainResult

# -- preference functions ------------------------------------------------------------


@pytest.mark.parametrize("shape", ["linear", "sigmoid"])
@pytest.mark.parametrize("rho", [0.5, 0.3, 0.8])
def test_preference_function_rises_within_0_1_and_averages_the_high_share(shape, rho):
    f = PreferenceFunction(shape, rho, steepness=6)
    grid = [i / 400 for i in range(401)]
    values = [f(t) for t in grid]
    assert all(0 <= v <= 1 + 1e-12 for v in values)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(values))
    assert values[-1] - values[0] == pytest.approx(min(2 * rho, 2 * (1 - rho)))
    # The closed-form cumulative matches a numeric integral, and ends at rho:
    # the order uses every example exactly once.
    for t in (0.1, 0.37, 0.5, 0.9):
        steps = 2000
        numeric = sum(f((k + 0.5) * t / steps) for k in range(steps)) * t / steps
        assert f.cumulative(t) == pytest.approx(numeric, abs=1e-6)
    assert f.cumulative(1.0) == pytest.approx(rho)


def test_median_split_goes_from_no_high_pd_data_to_only_high_pd_data():
    for shape in ("linear", "sigmoid"):
        f = PreferenceFunction(shape, 0.5)
        assert f(0) == pytest.approx(0) and f(1) == pytest.approx(1)
        assert f(0.5) == pytest.approx(0.5)
    assert PreferenceFunction("linear", 0.5)(0.25) == pytest.approx(0.25)


def test_steeper_sigmoid_switches_more_sharply():
    shallow, steep = PreferenceFunction("sigmoid", 0.5, 2), PreferenceFunction("sigmoid", 0.5, 20)
    assert steep(0.25) < shallow(0.25) < 0.25 < 0.75 < shallow(0.75) < steep(0.75)


# -- the order -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["linear", "sigmoid"])
@pytest.mark.parametrize("high_share", [0.5, 0.25, 0.7])
def test_the_order_realises_the_schedule(shape, high_share):
    rng = random.Random(7)
    scores = [rng.uniform(-1, 1) for _ in range(300)]
    plan = arrange(scores, None, shape=shape, high_share=high_share, steepness=8, seed=1)
    n, h = 300, round(high_share * 300)
    assert sorted(plan.order) == list(range(n))
    # The high pool is exactly the h highest scores.
    top = set(sorted(range(n), key=lambda i: scores[i], reverse=True)[:h])
    assert {i for i, high in zip(plan.order, plan.high, strict=True) if high} == top
    assert plan.threshold == min(scores[i] for i in top)
    # Every prefix holds the planned number of high-PD examples, to rounding.
    f = PreferenceFunction(shape, h / n, 8)
    taken = 0
    for m, high in enumerate(plan.high, 1):
        taken += high
        assert abs(taken - n * f.cumulative(m / n)) <= 0.5 + 1e-9
    segments = segment_shares(plan.high, f)
    realised = [s["realised"] for s in segments]
    assert realised[0] < realised[-1]
    for s in segments:
        assert s["realised"] == pytest.approx(s["planned"], abs=1 / 30 + 1e-9)


def test_missing_scores_count_as_lowest_and_the_seed_only_shuffles_within_pools():
    scores = [0.9, None, 0.1, 0.5, None, 0.7, 0.3, 0.2]
    a = arrange(scores, None, seed=1)
    b = arrange(scores, None, seed=2)
    assert a.high == b.high  # the schedule does not depend on the seed
    assert {scores[i] for i, hi in zip(a.order, a.high, strict=True) if hi} == {0.9, 0.7, 0.5, 0.3}
    assert a.threshold == 0.3
    assert arrange(scores, None, seed=1).order == a.order
    orders = {tuple(arrange(scores, None, seed=s).order) for s in range(10)}
    assert len(orders) > 1
    assert arrange([], None).order == []


def test_perplexity_difference():
    assert perplexity_difference(10.0, 5.0) == pytest.approx(0.5)
    assert perplexity_difference(4.0, 4.0) == 0
    assert perplexity_difference(5.0, 10.0) == pytest.approx(-1.0)
    assert perplexity_difference(None, 3.0) is None
    assert perplexity_difference(3.0, None) is None


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"preferense": "linear"}, r"plugins\.settings\.curriculum\.preferense: unknown key"),
        ({"preference": "cubic"}, r"plugins\.settings\.curriculum\.preference: "),
        ({"steepness": 0}, r"plugins\.settings\.curriculum\.steepness: "),
        ({"high_share": 1}, r"plugins\.settings\.curriculum\.high_share: "),
        ({"same_model": "skip"}, r"plugins\.settings\.curriculum\.same_model: "),
    ],
)
def test_bad_settings_name_the_key(tmp_path, run_context, raw, message):
    with pytest.raises(RecipeError, match=message):
        run_context(recipe(tmp_path, raw))


def test_settings_absent_means_off_and_empty_means_defaults(run_context):
    off = run_context()
    assert off.settings_for("curriculum") is None
    assert off.pm.get_plugin("curriculum.run") is None
    on = run_context(settings={"curriculum": {}})
    settings = on.settings_for("curriculum")
    assert (settings.preference, settings.high_share, settings.same_model) == (
        "linear",
        0.5,
        "perplexity",
    )
    assert on.pm.get_plugin("curriculum.run").settings is settings


# -- scoring, caching and the summary (hand-made perplexities) -----------------------


def recipe(tmp_path: Path, settings: dict, trainer: dict | None = None, model: str = "base"):
    return {
        "version": 1,
        "name": "curriculum",
        "run_dir": str(tmp_path / "run"),
        "roles": {"actor": {"model": model}},
        "data": {"train": [{"name": "arithmetic", "options": {"count": 4}}]},
        "trainer": trainer or {"name": "none"},
        "plugins": {"settings": {"curriculum": settings}},
    }


def stage(
    run_context, tmp_path: Path, settings: dict, models: dict | None = None, **kw
) -> IterationContext:
    run = run_context(recipe(tmp_path, settings, **kw), start=False)
    return IterationContext(run, 1, "train", [], models or {"actor": "current"})


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


def test_pd_from_cached_perplexities_orders_low_pd_first(tmp_path, run_context):
    # "base" and "current" are no loadable models: every score must come from the cache.
    ctx = stage(run_context, tmp_path, {"preference": "linear"})
    exs = examples(6)
    weak = [10.0, 10.0, 8.0, 4.0, 6.0, 5.0]
    strong = [9.0, 2.0, 8.0, 1.0, 3.0, None]
    path = cache(ctx, [("base", e.id, w) for e, w in zip(exs, weak, strict=True)])
    cache(ctx, [("current", e.id, s) for e, s in zip(exs, strong, strict=True)])
    before = path.read_text()

    ordered = curriculum_order(exs, ctx, ctx.run.settings_for("curriculum"))

    assert path.read_text() == before  # nothing rescored
    summary = json.loads((path.parent / SUMMARY).read_text())
    assert summary["score"] == "pd"
    assert (summary["weak_model"], summary["strong_model"]) == ("base", "current")
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


def test_same_model_keep_leaves_the_order_and_scores_nothing(tmp_path, run_context):
    ctx = stage(run_context, tmp_path, {"same_model": "keep"}, models={"actor": "base"})
    settings = ctx.run.settings_for("curriculum")
    assert curriculum_order(examples(3), ctx, settings) is None
    d = ctx.run.run_dir.stage_dir(1)
    assert not (d / SCORES).exists()
    assert json.loads((d / SUMMARY).read_text())["score"] is None


def test_trainer_that_shuffles_or_cannot_keep_the_order_fails_at_run_start(tmp_path, run_context):
    from reasonloop import hookimpl

    with pytest.raises(RecipeError, match=r"trainer\.options\.shuffle: true contradicts"):
        ctx = stage(
            run_context, tmp_path, {}, trainer={"name": "trl-sft", "options": {"shuffle": True}}
        )
        ctx.run.hooks.run_start(ctx.run)
    # shuffle: false, or left out, is fine: the loop tells trl-sft to keep the order.
    ctx = stage(
        run_context, tmp_path, {}, trainer={"name": "trl-sft", "options": {"shuffle": False}}
    )
    ctx.run.hooks.run_start(ctx.run)

    class OldTrainer:
        def __init__(self, options):
            pass

        def train(self, data_path, base_model, output_dir, on_progress=None):
            return TrainResult(model_path=None)

    class Plugin:
        @hookimpl
        def reasonloop_register_trainers(self, register):
            register("old", OldTrainer)

    run = run_context(
        recipe(tmp_path, {}, trainer={"name": "old"}),
        extra_plugins=[Plugin()],
        run_dir=tmp_path / "run2",
        start=False,
    )
    with pytest.raises(RecipeError, match=r"trainer\.name: trainer 'old' cannot be told"):
        run.hooks.run_start(run)


# -- with the real model ----------------------------------------------------------------


@pytest.mark.slow
def test_resume_scores_only_what_the_cache_lacks(tmp_path, run_context, smollm2):
    ctx = stage(run_context, tmp_path, {}, models={"actor": smollm2}, model=smollm2)
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
    curriculum: {{preference: sigmoid, steepness: 8}}
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


def test_a_run_with_a_bad_setting_stops_before_any_work(tmp_path, cli, write_recipe):
    path = write_recipe(
        f"""\
        version: 1
        name: bad
        run_dir: {tmp_path / "run"}
        roles: {{actor: {{model: no-such-model}}}}
        data: {{train: [{{name: arithmetic, options: {{count: 4}}}}]}}
        plugins: {{settings: {{curriculum: {{preference: cubic}}}}}}
        """
    )
    outcome = cli("run", path, "--no-progress")
    assert outcome.exit_code == 2
    assert "plugins.settings.curriculum.preference: " in outcome.stderr
    assert not (tmp_path / "run" / "iter-000").exists()
