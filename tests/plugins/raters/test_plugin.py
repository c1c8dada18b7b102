"""The raters plugin as a whole: selection in a run, the control, third-party raters, hooks.

Selection runs on hand-made candidates in a real run directory with real
raters; the real model runs the whole loop in
``test_tiny_loop_with_the_real_model``.
"""

from __future__ import annotations

import json

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.records import Message, Problem, TrainingExample
from reasonloop.errors import PluginError
from reasonloop.plugins import raters
from reasonloop.plugins.raters.settings import RatersSettings


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


def test_control_random_keeps_the_same_number_seeded(tmp_path, run_context, make_run):
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


def test_third_party_rater_scores_are_cached_and_fused(tmp_path, run_context, make_run):
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


@pytest.mark.parametrize("control", [None, "random"])
def test_a_problem_quota_keeps_every_problem_that_has_candidates(
    tmp_path, run_context, make_run, control
):
    problems, examples = candidates()
    settings = {"keep": 3, "raters": ["lowest-problem"], "quota": "problem", "control": control}
    run = make_run(run_context, tmp_path, settings, plugins=(CountingRater(),))
    cfg = RatersSettings.model_validate(settings)
    plain = raters.select(examples, stage(run, problems), cfg.model_copy(update={"quota": None}))
    left_out = 6 - len({e.problem_id for e in plain})
    assert len(plain) == 3 and left_out >= 3
    kept = raters.select(examples, stage(run, problems), cfg)
    # The quota brings back one example of each problem left out; a problem holding two of
    # the three gives its lower-ranked one back; six places are needed, so keep: 3 grows.
    assert sorted(e.problem_id for e in kept) == [p.id for p in problems]
    best = {}
    for e in plain:  # candidate order within a problem; the raters' rank decides which stays
        best.setdefault(e.problem_id, []).append(e.id)
    assert all(any(i in {e.id for e in kept} for i in ids) for ids in best.values())
    record = json.loads((tmp_path / "iter-000" / "raters.json").read_text())
    assert record["quota"] == {"per": "problem", "min": 1, "groups": 6, "swapped_in": left_out}
    assert record["selected"] == len(kept) == 6
    from reasonloop.plugins.raters.report import report_sections

    section = report_sections(run)[0]
    assert f"| 0 | {control or 'raters'}, 1 per problem | 12 |" in section
    assert f"the quota brought back {left_out} examples of the 6 problem groups" in section
    by_difficulty = RatersSettings.model_validate({**settings, "quota": "difficulty", "keep": 3})
    kept = raters.select(examples, stage(run, problems), by_difficulty)
    assert len(kept) == 3 and {problems[int(e.problem_id[1:])].difficulty for e in kept} == {
        "1", "2", "3"}  # fmt: skip


def test_no_candidates_select_nothing(tmp_path, run_context, make_run):
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_judge_role_sets_reliability_and_its_tokens_are_in_the_ledger(
    tmp_path, cli, tiny_recipe, smollm2
):
    from reasonloop.core.accounting import compute_ledger
    from reasonloop.core.records import Sample
    from reasonloop.core.rundir import JsonlLog

    recipe = tiny_recipe(
        {
            # The packaged model judges too: a real role on its own backend settings.
            "roles.judge": {"backend": "transformers", "model": smollm2},
            # Two easy problems, many samples: some problem has two distinct correct answers.
            "data.train": [
                {
                    "name": "arithmetic",
                    "options": {"count": 2, "seed": 1, "kinds": ["addition"], "difficulties": [1]},
                }
            ],
            "data.eval": [],
            "prompt.template": "{prompt}\nAnswer briefly, ending with 'Answer: <number>'.",
            "roles.actor.sampling.max_tokens": 24,
            "sampling.n": 12,
            "selection": {"max_per_problem": 3},
            "eval": {"baseline": False},
            "plugins.settings.raters": {
                "keep": 0.5,
                "raters": ["length", "correctness", "novelty"],
                # A small judge keeps to the format when its answer starts with the verdict.
                "judge": {"pairs": 3, "max_tokens": 3, "prefill": "Verdict:"},
            },
        }
    )
    out = tmp_path / "run"
    outcome = cli("run", recipe, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    record = json.loads((out / "iter-000" / "raters.json").read_text())
    judge = record["judge"]
    assert judge["pairs"] >= 1, "the tiny model found no problem with two distinct answers"
    assert judge["comparisons"] == 2 * judge["pairs"]
    assert judge["unparsable"] + judge["ties"] <= judge["comparisons"]
    assert set(judge["raters"]) == {"length", "correctness", "novelty"}
    assert record["reliability"] in ("judge", "consensus")
    if record["reliability"] == "judge":
        used = record["rounds"][0]["reliability"]
        for name, value in used.items():
            assert value == judge["raters"][name]["reliability"]
    else:
        assert "fallback" in judge
    samples = list(JsonlLog(out / "iter-000" / "samples.jsonl", Sample))
    judged = [s for s in samples if s.request.purpose == "judge"]
    assert len(judged) == judge["comparisons"]
    assert all(s.role == "judge" and s.verdict is None for s in judged)
    rows = {(r["role"], r["plugin"], r["purpose"]): r for r in compute_ledger(samples)}
    row = rows[("judge", "raters", "judge")]
    assert row["requests"] == judge["comparisons"]
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    report = (out / "report.md").read_text()
    assert f"| iter-000 | judge | raters | judge | {judge['comparisons']} |" in report
    assert f"- iteration 0: {judge['decided_pairs']} of {judge['pairs']} pairs decided" in report
