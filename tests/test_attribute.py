"""``reasonloop attribute``: Shapley and Banzhaf values of plugins over real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.attribution import Attribution
from reasonloop.attribution.subsets import metric_value, plan_subsets, recipe_key
from reasonloop.attribution.values import all_coalitions, banzhaf_values, shapley_values
from reasonloop.core.loop import Loop
from reasonloop.core.recipe import load_recipe, recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.statistics import wilson_interval
from reasonloop.errors import UsageError

# -- the values ------------------------------------------------------------------


def game(players, worth):
    return {c: worth(c) for c in all_coalitions(players)}


def test_additive_game_gives_each_player_its_own_contribution():
    contribution = {"critic": 0.25, "guidance": -0.05, "selfdebug": 0.1}
    players = list(contribution)
    value = game(players, lambda c: 0.4 + sum(contribution[p] for p in c))
    assert shapley_values(players, value) == pytest.approx(contribution)
    assert banzhaf_values(players, value) == pytest.approx(contribution)


def test_symmetric_players_get_equal_values_and_shapley_is_efficient():
    players = ["a", "b", "c", "d"]
    value = game(players, lambda c: len(c) ** 2 / 10)
    phi = shapley_values(players, value)
    assert len({round(v, 12) for v in phi.values()}) == 1
    assert sum(phi.values()) == pytest.approx(value[frozenset(players)] - value[frozenset()])
    beta = banzhaf_values(players, value)
    assert len({round(v, 12) for v in beta.values()}) == 1


def test_unanimity_game_has_its_textbook_values():
    # v(S) = 1 when S holds both a and b: a and b share the gain, c is a null player.
    players = ["a", "b", "c"]
    value = game(players, lambda c: float({"a", "b"} <= c))
    assert shapley_values(players, value) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
    # Banzhaf: a's gain is 1 in the 2 of the 4 coalitions of b, c that hold b.
    assert banzhaf_values(players, value) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


def test_shapley_and_banzhaf_differ_where_coalition_sizes_matter():
    # v = 1 as soon as anyone joins: Shapley shares 1 equally, Banzhaf counts
    # only the empty coalition as pivotal, 1 of 4.
    players = ["a", "b", "c"]
    value = game(players, lambda c: float(bool(c)))
    assert shapley_values(players, value) == pytest.approx(dict.fromkeys(players, 1 / 3))
    assert banzhaf_values(players, value) == pytest.approx(dict.fromkeys(players, 1 / 4))


def test_a_missing_coalition_is_an_error():
    value = game(["a", "b"], lambda c: len(c))
    del value[frozenset({"a"})]
    with pytest.raises(ValueError, match="no value for coalitions"):
        shapley_values(["a", "b"], value)


# -- subsets and their keys ------------------------------------------------------

RECIPE = {
    "version": 1,
    "name": "keyed",
    "roles": {"actor": {"model": "some/model"}, "critic": {"model": "some/model"}},
    "data": {"eval": [{"name": "arithmetic", "options": {"count": 4}}]},
    "plugins": {"settings": {"critic": {"refine_rounds": 1}, "guidance": {}}},
}


def recipe(**changes):
    data = json.loads(json.dumps(RECIPE))
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return recipe_from_dict(data)


def test_recipe_key_ignores_name_run_dir_and_disable_order():
    key = recipe_key(recipe(), "eval")
    assert recipe_key(recipe(name="other", run_dir="/elsewhere"), "eval") == key
    a = recipe(plugins__disable=["critic", "guidance"])
    b = recipe(plugins__disable=["guidance", "critic", "guidance"])
    assert recipe_key(a, "eval") == recipe_key(b, "eval")


def test_recipe_key_changes_with_a_setting_and_with_the_mode():
    key = recipe_key(recipe(), "eval")
    changed = recipe()
    changed.plugins.settings["critic"]["refine_rounds"] = 2
    assert recipe_key(changed, "eval") != key
    assert recipe_key(recipe(seed=1), "eval") != key
    assert recipe_key(recipe(), "run") != key


def test_recipe_key_is_the_same_in_another_process(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(RECIPE))
    code = (
        "from reasonloop.core.recipe import load_recipe;"
        "from reasonloop.attribution.subsets import recipe_key;"
        f"print(recipe_key(load_recipe({str(path)!r}), 'run'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == recipe_key(load_recipe(path), "run")


def test_plan_disables_the_plugins_outside_each_subset():
    base = recipe(plugins__disable=["selfdebug"])
    subsets = plan_subsets(base, ["critic", "guidance"], "eval")
    assert [(s.plugins, s.recipe.plugins.disable) for s in subsets] == [
        ((), ["critic", "guidance", "selfdebug"]),
        (("critic",), ["guidance", "selfdebug"]),
        (("guidance",), ["critic", "selfdebug"]),
        (("critic", "guidance"), ["selfdebug"]),
    ]
    assert len({s.key for s in subsets}) == 4
    # The full subset is the user's recipe itself.
    assert subsets[-1].key == recipe_key(base, "eval")


# -- the metric ------------------------------------------------------------------

METRICS = {
    "accuracy": 0.5,
    "by": {"source": {"gsm8k.test": {"accuracy": 0.25, "problems": 4}}},
    "pass_at_k": {"problems": 4, "pass@1": 0.5},
    "answers": [{"correct": True}],
    "model": "m",
}


def test_metric_reads_nested_keys_and_keys_with_dots():
    src = Path("eval.json")
    assert metric_value(METRICS, "eval.accuracy", src) == 0.5
    assert metric_value(METRICS, "eval.pass_at_k.pass@1", src) == 0.5
    assert metric_value(METRICS, "eval.by.source.gsm8k.test.accuracy", src) == 0.25


def test_a_missing_metric_names_what_is_there_and_the_likely_key():
    with pytest.raises(UsageError) as exc:
        metric_value(METRICS, "eval.pass@1", Path("x/eval.json"))
    msg = str(exc.value)
    assert "--metric eval.pass@1: no such key in x/eval.json" in msg
    assert "did you mean eval.pass_at_k.pass@1?" in msg
    assert "eval.by.source.gsm8k.test.problems" in msg and "answers" not in msg
    with pytest.raises(UsageError, match=r"eval\.model: not a number"):
        metric_value(METRICS, "eval.model", Path("eval.json"))


# -- the command: errors before anything runs -------------------------------------

SMALL = """\
version: 1
name: attr
roles:
  actor:
    model: {model}
    sampling: {{temperature: 0.5, max_tokens: 16}}
  critic:
    model: {model}
prompt:
  template: "{{prompt}}\\nSolve it briefly, then end with 'Answer: <number>'."
data:
  train: [{{name: arithmetic, options: {{count: 2, seed: 1, split: train}}}}]
  eval: [{{name: arithmetic, options: {{count: 2, seed: 0, split: eval}}}}]
sampling: {{n: 1}}
eval: {{max_tokens: 24, max_rounds: 3}}
trainer: {{name: none}}
plugins:
  settings:
    critic: {{test_time: refine, refine_rounds: 1, critique_max_tokens: 24,
              refine_unparsable: true, critiques_per_problem: 0}}
    guidance: {{attempts: 1}}
"""


def test_unknown_or_repeated_plugins_are_usage_errors(cli, write_recipe, tmp_path):
    path = write_recipe(SMALL.format(model="some/model"))
    out = tmp_path / "out"
    outcome = cli("attribute", path, "--plugins", "critic,critc", "--eval", "-o", out)
    assert outcome.exit_code == 2
    assert "--plugins: unknown plugin 'critc' (loaded: " in outcome.stderr
    assert "guidance" in outcome.stderr and "Traceback" not in outcome.stderr
    outcome = cli("attribute", path, "--plugins", "critic,critic", "-o", out)
    assert outcome.exit_code == 2 and "critic named more than once" in outcome.stderr
    outcome = cli(
        "attribute", path, "--plugins", "critic", "-s", "plugins.disable=[critic]", "-o", out
    )
    assert outcome.exit_code == 2
    assert "'critic' is disabled by the recipe's plugins.disable" in outcome.stderr
    assert not out.exists()


def test_an_essential_plugin_cannot_be_attributed(cli, write_recipe, tmp_path):
    path = write_recipe(SMALL.format(model="some/model"))
    outcome = cli("attribute", path, "--plugins", "critic,selfimprove", "-o", tmp_path / "out")
    assert outcome.exit_code == 2
    assert "--plugins: some subsets switch these plugins off" in outcome.stderr
    assert "plugin 'selfimprove' cannot be blocked" in outcome.stderr
    assert not (tmp_path / "out").exists()


def test_a_malformed_metric_or_an_unscored_recipe_is_a_usage_error(cli, write_recipe, tmp_path):
    path = write_recipe(SMALL.format(model="some/model"))
    out = tmp_path / "out"
    outcome = cli("attribute", path, "--plugins", "critic", "--metric", "accuracy", "-o", out)
    assert outcome.exit_code == 2
    assert "--metric 'accuracy': expected eval.KEY" in outcome.stderr
    outcome = cli("attribute", path, "--plugins", "critic", "-s", "data.eval=[]", "-o", out)
    assert outcome.exit_code == 2 and "data.eval: attribution scores" in outcome.stderr
    assert not out.exists()


def test_a_subset_that_cannot_run_is_named_in_the_error(write_recipe, tmp_path):
    # A plugin with other data sources may replace the essential datasets
    # plugin; without datasets, though, the recipe's dataset is unknown.
    class OtherData:
        @hookimpl
        def reasonloop_register_datasets(self, register):
            register("other", lambda spec: [])

    recipe = load_recipe(write_recipe(SMALL.format(model="some/model")))
    job = Attribution(
        recipe,
        ["datasets"],
        tmp_path / "o",
        mode="eval",
        progress_bars=False,
        extra_plugins=[OtherData()],
    )
    with pytest.raises(UsageError) as info:
        job.run()
    assert "subset 1/2 (on: none), run directory " in str(info.value)
    assert "data.train.0.name: unknown dataset 'arithmetic'" in str(info.value)


# -- the command with the real model ----------------------------------------------


@pytest.fixture
def small_recipe(write_recipe, smollm2):
    return write_recipe(SMALL.format(model=smollm2))


def rows(out: Path) -> list[dict]:
    return json.loads((out / "attribution.json").read_text())["subsets"]


def new_log(out: Path, seen: list[int]) -> str:
    """What ``attribution.log`` gained since the last call (it logs with or without bars)."""
    text = (out / "attribution.log").read_text()
    new, seen[0] = text[seen[0] :], len(text)
    return new


def plugins_asked(run_dir: Path) -> set[str]:
    return {s.request.plugin for s in JsonlLog(run_dir / "base" / "eval_samples.jsonl", Sample)}


@pytest.mark.slow
def test_test_time_attribution_end_to_end(cli, small_recipe, tmp_path, monkeypatch):
    out = tmp_path / "attribution"
    args = ("attribute", small_recipe, "--plugins", "critic,guidance", "--eval", "-o", out)
    # A metric that is not in eval.json fails after the first subset, naming the right key...
    seen = [0]
    outcome = cli(*args, "--no-progress", "--metric", "eval.pass@1")
    new_log(out, seen)
    assert outcome.exit_code == 2
    assert "did you mean eval.pass_at_k.pass@1?" in outcome.stderr
    assert [r["status"] for r in rows(out)] == ["pending"] * 4
    first = Path(rows(out)[0]["run_dir"])
    assert (first / "result.json").exists()

    # ...and that finished subset is reused by the corrected command.
    outcome = cli(*args, "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    log = new_log(out, seen)
    assert "subset 1/4 (on: none): finished earlier" in log
    assert "subset 4/4 (on: critic+guidance): running" in log
    data = json.loads((out / "attribution.json").read_text())
    assert data["complete"] and data["mode"] == "eval" and data["metric"] == "eval.accuracy"
    by_subset = {tuple(r["plugins"]): r for r in data["subsets"]}
    assert set(by_subset) == {(), ("critic",), ("guidance",), ("critic", "guidance")}
    for r in data["subsets"]:
        assert r["status"] == "done" and 0 <= r["metric"] <= 1 and r["tokens"] > 0

    # Disabling a plugin while its settings and role stay in the recipe is a
    # clean run without it; the critic acts at test time, guidance does not.
    assert "critic" not in plugins_asked(Path(by_subset[()]["run_dir"]))
    assert "critic" in plugins_asked(Path(by_subset[("critic",)]["run_dir"]))
    assert by_subset[("critic",)]["tokens"] > by_subset[()]["tokens"]
    assert by_subset[("guidance",)]["tokens"] == by_subset[()]["tokens"]
    values = data["values"]
    assert values["guidance"]["shapley"] == pytest.approx(0.0)
    assert values["guidance"]["banzhaf"] == pytest.approx(0.0)
    total = sum(v["shapley"] for v in values.values())
    assert total == pytest.approx(
        by_subset[("critic", "guidance")]["metric"] - by_subset[()]["metric"]
    )
    assert data["best"]["metric"] == max(r["metric"] for r in data["subsets"])

    # Each subset's accuracy carries its Wilson interval over the same 2 problems...
    assert data["intervals"]["subsets"] == "Wilson score interval"
    assert data["intervals"]["values"] == "paired bootstrap over problems"
    for r in data["subsets"]:
        assert r["problems"] == 2
        assert r["interval"] == pytest.approx(list(wilson_interval(round(2 * r["metric"]), 2)))
    # ...and each value its bootstrap interval. Guidance changes no answer, so
    # its value is 0 on every resample: [0, 0], not distinguishable from zero.
    for kind in ("shapley", "banzhaf"):
        assert values["guidance"][f"{kind}_interval"] == [0.0, 0.0]
        assert values["guidance"][f"{kind}_distinguishable"] is False
        lo, hi = values["critic"][f"{kind}_interval"]
        assert -1 <= lo <= values["critic"][kind] <= hi <= 1
        assert values["critic"][f"{kind}_distinguishable"] == (lo > 0 or hi < 0)

    assert "Shapley value" in outcome.stdout and "Banzhaf value" in outcome.stdout
    assert "critic + guidance" in outcome.stdout and "best:" in outcome.stdout
    assert f"{values['critic']['shapley']:+.4f}" in outcome.stdout
    assert (
        "guidance: Shapley +0.0000 [+0.0000, +0.0000] not distinguishable from zero and "
        "Banzhaf +0.0000 [+0.0000, +0.0000] not distinguishable from zero" in outcome.stdout
    )
    assert "paired bootstrap over problems" in outcome.stdout
    report = (out / "attribution.md").read_text()
    assert "| critic |" in report and "## Subsets" in report
    assert (
        "| guidance | +0.0000 [+0.0000, +0.0000] not distinguishable from zero "
        "| +0.0000 [+0.0000, +0.0000] not distinguishable from zero |" in report
    )
    lo, hi = data["subsets"][0]["interval"]
    assert f"| (none) | {data['subsets'][0]['metric']:.4f} [{lo:.4f}, {hi:.4f}] | 2 |" in report
    assert (out / "attribution.png").stat().st_size > 0

    # Run again: every subset is read back, none is run.
    def must_not_run(self):
        raise AssertionError("a finished subset was run again")

    monkeypatch.setattr(Loop, "evaluate_only", must_not_run)
    mtimes = {
        r["run_dir"]: (Path(r["run_dir"]) / "base" / "eval.json").stat().st_mtime_ns
        for r in data["subsets"]
    }
    again = cli(*args, "--no-progress", "--metric", "eval.pass_at_k.pass@1")
    assert again.exit_code == 0, again.stderr
    assert new_log(out, seen).count("finished earlier") == 4
    data = json.loads((out / "attribution.json").read_text())
    assert data["metric"] == "eval.pass_at_k.pass@1"
    # pass@k is read problem by problem from eval_samples.jsonl, with bootstrap intervals.
    assert data["intervals"]["subsets"] == "bootstrap over problems"
    assert all(r["problems"] == 2 and r["interval"] is not None for r in data["subsets"])
    tokens = cli(*args, "--no-progress", "--metric", "eval.tokens")
    assert tokens.exit_code == 0, tokens.stderr
    data = json.loads((out / "attribution.json").read_text())
    for r in data["subsets"]:
        lo, hi = r["interval"]
        assert lo <= r["metric"] == r["tokens"] <= hi
    assert data["values"]["critic"]["shapley_distinguishable"] is True
    for run_dir, mtime in mtimes.items():
        assert (Path(run_dir) / "base" / "eval.json").stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_an_interrupted_attribution_resumes_its_subsets(cli, small_recipe, tmp_path, monkeypatch):
    import reasonloop.core.loop as loop_module

    out = tmp_path / "attribution"
    args = (
        "attribute",
        small_recipe,
        "--plugins",
        "guidance",
        "--eval",
        "-o",
        out,
        "--no-progress",
    )
    real = loop_module.evaluate_stage

    def interrupt_once(stage, samples):
        monkeypatch.setattr(loop_module, "evaluate_stage", real)
        raise KeyboardInterrupt

    # Ctrl-C after the first subset sampled, before it scored its samples.
    monkeypatch.setattr(loop_module, "evaluate_stage", interrupt_once)
    seen = [0]
    outcome = cli(*args)
    assert outcome.exit_code == 3
    assert "run the same command again to continue" in new_log(out, seen)
    assert [r["status"] for r in rows(out)] == ["pending", "pending"]
    first = Path(rows(out)[0]["run_dir"])
    drawn = [s.id for s in JsonlLog(first / "base" / "eval_samples.jsonl", Sample)]
    assert drawn and not (first / "base" / "eval.json").exists()

    outcome = cli(*args)
    assert outcome.exit_code == 0, outcome.stderr
    log = new_log(out, seen)
    assert "subset 1/2 (on: none): resuming" in log
    assert "subset 2/2 (on: guidance): running" in log
    # The resumed subset scored the samples it had drawn, drawing none again.
    assert [s.id for s in JsonlLog(first / "base" / "eval_samples.jsonl", Sample)] == drawn
    assert [r["status"] for r in rows(out)] == ["done", "done"]


@pytest.mark.slow
def test_training_attribution_reads_the_last_iteration(cli, small_recipe, tmp_path):
    out = tmp_path / "attribution"
    outcome = cli(
        "attribute",
        small_recipe,
        "--plugins",
        "guidance",
        "-o",
        out,
        "--no-progress",
        "-s",
        "eval.baseline=false",
    )
    assert outcome.exit_code == 0, outcome.stderr
    data = json.loads((out / "attribution.json").read_text())
    assert data["mode"] == "run" and data["complete"]
    for r in data["subsets"]:
        run_dir = Path(r["run_dir"])
        metrics = json.loads((run_dir / "iter-000" / "eval.json").read_text())
        assert r["metric"] == metrics["accuracy"]
        # The cost counts training-time sampling as well as the evaluation.
        assert r["tokens"] > metrics["tokens"]
        assert not (run_dir / "base" / "eval.json").exists()
    guided = Path(data["subsets"][1]["run_dir"])
    assert json.loads((guided / "state.json").read_text())["completed"][-1] == "iter-000/eval"
