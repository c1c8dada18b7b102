"""The raters plugin: alignment and fusion, progressive selection, control, settings, hooks.

Fusion is checked on hand-made scores with known structure (raters that
agree, one that contradicts them, an exact copy). Selection runs on
hand-made candidates in a real run directory with real raters; the real
model runs the whole loop in ``test_tiny_loop_with_the_real_model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.records import Message, Problem, TrainingExample
from reasonloop.errors import PluginError, RecipeError
from reasonloop.plugins import raters
from reasonloop.plugins.raters.fusion import (
    fuse,
    pool_sizes,
    progressive_select,
    rater_weights,
    win_rates,
)
from reasonloop.plugins.raters.settings import RatersSettings


def aligned(*columns: np.ndarray) -> np.ndarray:
    return np.column_stack([win_rates(list(c)) for c in columns])


# -- alignment and fusion ---------------------------------------------------------


def test_win_rate_is_the_share_of_other_candidates_beaten():
    assert win_rates([1.0, 2.0, 2.0, None, 5.0]).tolist() == [0.0, 0.5, 0.5, 0.5, 1.0]
    # Only the order matters, not the scale.
    assert win_rates([1, 10, 1000]).tolist() == win_rates([-3, -2, -1]).tolist()
    assert win_rates([None, None]).tolist() == [0.5, 0.5]


def test_a_better_score_never_lowers_the_fused_score():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(40, 3))
    weights = np.array([0.5, 0.3, 0.2])
    before = fuse(aligned(*scores.T), weights)
    for j in range(40):
        for r in range(3):
            better = scores.copy()
            better[j, r] += abs(rng.normal()) + 0.1
            after = fuse(aligned(*better.T), weights)
            assert after[j] >= before[j]


def test_a_rater_that_contradicts_the_others_gets_low_reliability():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    agree = [truth + 0.5 * rng.normal(size=300) for _ in range(3)]
    reliability, independence, weights = rater_weights(aligned(*agree, -truth))
    assert reliability[3] < 0.1 < 0.8 < min(reliability[:3])
    # It is independent of the rest (negative correlation is not repetition)...
    assert independence[3] == pytest.approx(1.0)
    # ...but it cannot steer the fused score.
    assert weights[3] < 0.05


def test_copies_of_a_rater_share_its_weight():
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=(3, 300))
    _, indep1, w1 = rater_weights(aligned(x, y, z))
    _, indep2, w2 = rater_weights(aligned(x, y, z, z))
    assert indep2[2] == pytest.approx(indep2[3], rel=1e-12)
    assert indep2[2] == pytest.approx(indep1[2] / 2, rel=0.15)
    assert w2[2] + w2[3] == pytest.approx(w1[2], abs=0.05)
    # Without sharing the copy would double z's say; the others keep theirs.
    assert w2[0] == pytest.approx(w1[0], abs=0.05)


def test_progressive_selection_narrows_the_pool_round_by_round():
    assert pool_sizes(100, 25, 2) == [50, 25]
    assert pool_sizes(10, 10, 3) == [10, 10, 10]
    rng = np.random.default_rng(3)
    scores = {name: list(rng.normal(size=100)) for name in ("a", "b", "c")}
    kept, rounds = progressive_select(scores, 25, rounds=2)
    assert len(kept) == 25 and kept == sorted(set(kept))
    assert [(r.pool, r.kept) for r in rounds] == [(100, 50), (50, 25)]
    # Weights are estimated afresh on what each round kept.
    assert rounds[0].weights != rounds[1].weights


def test_silent_raters_drop_out_and_fixed_weights_are_used():
    rng = np.random.default_rng(4)
    a = list(rng.normal(size=20))
    scores = {"a": a, "flat": [1.0] * 20, "unknown": [None] * 20, "b": list(rng.normal(size=20))}
    kept, rounds = progressive_select(scores, 5, rounds=1)
    assert rounds[0].silent == ["flat", "unknown"]
    assert rounds[0].weights["flat"] == rounds[0].weights["unknown"] == 0.0
    kept, rounds = progressive_select(scores, 5, rounds=1, fixed={"a": 1.0})
    assert kept == sorted(np.argsort(a)[-5:].tolist())
    assert rounds[0].weights == {"a": 1.0, "flat": 0.0, "unknown": 0.0, "b": 0.0}


# -- selection in a run -------------------------------------------------------------


def make_run(
    run_context, tmp_path: Path, settings: dict[str, Any], plugins: tuple[object, ...] = (), **extra
):
    return run_context(
        {
            "version": 1,
            "name": "raters-test",
            "seed": extra.pop("seed", 0),
            "roles": {"actor": {"backend": "transformers", "model": "unused"}},
            "data": {"train": [{"name": "arithmetic", "options": {"count": 2}}]},
            "trainer": {"name": "none"},
            "plugins": {"settings": {"raters": settings}},
            **extra,
        },
        extra_plugins=plugins,
        run_dir=tmp_path,
    )


def candidates(n_problems: int = 6, per_problem: int = 2) -> tuple[list[Problem], list]:
    problems = [
        Problem(id=f"p{i}", prompt=f"What is {i} + {i}?", metadata={"difficulty": 1 + i % 3})
        for i in range(n_problems)
    ]
    examples = []
    for p in problems:
        for k in range(per_problem):
            words = " ".join(["step"] * (3 + 2 * k + int(p.id[1:])))
            examples.append(
                TrainingExample(
                    id=f"{p.id}-{k}",
                    problem_id=p.id,
                    messages=[
                        Message(role="user", content=p.prompt),
                        Message(role="assistant", content=f"{words} so {k}. Answer: {k}"),
                    ],
                )
            )
    return problems, examples


def stage(run, problems) -> IterationContext:
    return IterationContext(run, 0, "train", problems, {"actor": "unused"})


def test_control_random_keeps_the_same_number_seeded(tmp_path, run_context):
    problems, examples = candidates()
    chosen = {}
    for seed in (0, 0, 1):
        d = tmp_path / f"run-{len(chosen)}-{seed}"
        run = make_run(run_context, d, {"keep": 0.5, "control": "random"}, seed=seed)
        selection = run.pm.get_plugin("raters.run")  # the run's instance, holding its settings
        kept = selection.reasonloop_select_examples(examples, stage(run, problems))
        chosen.setdefault(seed, []).append([e.id for e in kept])
        record = json.loads((d / "iter-000" / "raters.json").read_text())
        assert record["mode"] == "random" and record["selected"] == len(kept) == 6
        assert "rounds" not in record and not (d / "iter-000" / "ratings.jsonl").exists()
    assert chosen[0][0] == chosen[0][1]  # same seed, same choice
    assert chosen[1][0] != chosen[0][0]


class CountingRater:
    """A third-party rater that prefers lower problem numbers and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def reasonloop_register_raters(self, register):
        register("lowest-problem", self.rate)

    def rate(self, examples, ctx):
        self.calls += 1
        return [-int(ex.problem_id[1:]) for ex in examples]


def test_third_party_rater_scores_are_cached_and_fused(tmp_path, run_context):
    problems, examples = candidates()
    counter = CountingRater()
    settings = {"keep": 4, "raters": ["lowest-problem", "length", "level"], "rounds": 2}
    run = make_run(run_context, tmp_path, settings, plugins=(counter,))
    registry = raters.raters_registry(run)
    assert registry.owner("lowest-problem") != "raters" and registry.owner("length") == "raters"
    cfg = RatersSettings.model_validate(settings)
    kept = raters.select(examples, stage(run, problems), cfg)
    assert counter.calls == 1 and len(kept) == 4
    record = json.loads((tmp_path / "iter-000" / "raters.json").read_text())
    assert [(r["pool"], r["kept"]) for r in record["rounds"]] == [(12, 7), (7, 4)]
    assert sum(record["difficulty"]["selected"].values()) == 4
    assert set(record["rounds"][0]["weights"]) == {"lowest-problem", "length", "level"}
    cached = (tmp_path / "iter-000" / "ratings.jsonl").read_text().splitlines()
    assert len(cached) == 3 * 12
    # A resumed selection reads the cache: the same choice, no new call.
    again = raters.select(examples, stage(run, problems), cfg)
    assert counter.calls == 1 and [e.id for e in again] == [e.id for e in kept]
    # Fixed weights on the third-party rater alone select by it.
    only = RatersSettings.model_validate({**settings, "weights": {"lowest-problem": 1.0}})
    kept = raters.select(examples, stage(run, problems), only)
    assert {e.problem_id for e in kept} == {"p0", "p1"}


def test_no_candidates_select_nothing(tmp_path, run_context):
    problems, _ = candidates()
    run = make_run(run_context, tmp_path, {"keep": 0.5})
    assert raters.select([], stage(run, problems), RatersSettings()) == []
    record = json.loads((tmp_path / "iter-000" / "raters.json").read_text())
    assert record["selected"] == 0 and record["rounds"] == []


def test_a_rater_name_registered_twice_names_both_plugins():
    class Clash:
        @hookimpl
        def reasonloop_register_raters(self, register):
            register("length", lambda examples, ctx: [0.0] * len(examples))

    pm = make_plugin_manager(extra_plugins=[Clash()], load_entrypoints=False)
    with pytest.raises(PluginError, match=r"rater 'length' is registered by both 'raters' and"):
        Registry.collect(pm, "reasonloop_register_raters", "rater")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keep": 1.5}, r"plugins\.settings\.raters\.keep: .*share must be in \(0, 1\]"),
        ({"keep": 0}, r"plugins\.settings\.raters\.keep: .*at least 1"),
        ({"kep": 0.5}, r"plugins\.settings\.raters\.kep: unknown key"),
        ({"rounds": 0}, r"plugins\.settings\.raters\.rounds: "),
        ({"control": "shuffle"}, r"plugins\.settings\.raters\.control: "),
        ({"raters": ["lenght"]}, r"plugins\.settings\.raters\.raters: unknown rater 'lenght'"),
        (
            {"raters": ["length"], "weights": {"level": 1.0}},
            r"plugins\.settings\.raters\.weights\.level: 'level' is not one of the raters",
        ),
        ({"weights": {"length": -1}}, r"plugins\.settings\.raters\.weights: .*>= 0"),
        (
            {"options": {"perplexity": {"batch": 4}}},
            r"plugins\.settings\.raters\.options\.perplexity\.batch: unknown key",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path, settings, message, run_context):
    with pytest.raises(RecipeError, match=message):
        make_run(run_context, tmp_path, settings)


# -- the real loop -------------------------------------------------------------------


def test_tiny_loop_with_the_real_model(tmp_path, cli, write_recipe, smollm2):
    recipe = write_recipe(
        f"""
        version: 1
        name: raters-tiny
        seed: 0
        iterations: 1
        roles:
          actor:
            backend: transformers
            model: {smollm2}
            sampling: {{temperature: 0.7, max_tokens: 24}}
        prompt:
          template: "{{prompt}}\\nAnswer briefly, ending with 'Answer: <number>'."
        data:
          train:
            - name: arithmetic
              options: {{count: 4, seed: 1, kinds: [addition], difficulties: [1]}}
          eval:
            - name: arithmetic
              options: {{count: 2, seed: 2, kinds: [addition], difficulties: [1]}}
        sampling: {{n: 4}}
        selection: {{max_per_problem: 3}}
        trainer: {{name: none}}
        eval: {{baseline: false}}
        plugins:
          settings:
            raters: {{keep: 0.5, rounds: 2, options: {{perplexity: {{batch_size: 4}}}}}}
        """
    )
    out = tmp_path / "run"
    outcome = cli("run", recipe, "--run-dir", out, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    record = json.loads((out / "iter-000" / "raters.json").read_text())
    selected = (out / "iter-000" / "selected.jsonl").read_text().splitlines()
    assert record["mode"] == "raters" and record["selected"] == len(selected)
    assert record["selected"] == max(1, round(record["pool"] / 2)) if record["pool"] else 0
    assert "perplexity" in record["raters"] and "critic" in record["silent"]
    if record["pool"] >= 2:
        weights = record["rounds"][0]["weights"]
        assert weights["critic"] == 0.0
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
        ratings = (out / "iter-000" / "ratings.jsonl").read_text().splitlines()
        perplexities = [json.loads(r) for r in ratings if '"perplexity"' in r]
        assert len(perplexities) == record["pool"]
        assert all(r["score"] is not None and r["score"] < -1.0 for r in perplexities)
    report = (out / "report.md").read_text()
    assert "## Raters: rater-based selection of training examples" in report
    assert f"| 0 | raters | {record['candidates']} | {record['pool']} |" in report
