"""``reasonloop attribute``'s players: null players, token-matched off states, swapped keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.attribution import Attribution
from reasonloop.attribution.matching import budgets_from
from reasonloop.attribution.players import Player, parse_swap
from reasonloop.attribution.subsets import plan_subsets, recipe_key, with_budgets
from reasonloop.core.recipe import load_recipe, load_run_recipe, recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import UsageError
from reasonloop.plugins.resample import ResampleSettings, allocate

RECIPE = {
    "version": 1,
    "name": "players",
    "roles": {"actor": {"model": "some/model"}, "critic": {"model": "critic/a"}},
    "data": {"eval": [{"name": "arithmetic", "options": {"count": 4}}]},
    "plugins": {"settings": {"critic": {"test_time": "refine"}, "guidance": {}}},
}


def recipe():
    return recipe_from_dict(json.loads(json.dumps(RECIPE)))


# -- parsing and planning --------------------------------------------------------


def test_a_swap_parses_its_key_its_two_values_and_an_optional_name():
    p = parse_swap("roles.critic.model=critic/a|critic/b")
    assert (p.name, p.kind, p.key, p.off, p.on) == (
        "roles.critic.model",
        "swap",
        "roles.critic.model",
        "critic/a",
        "critic/b",
    )
    # Values are YAML, as --set's; a name goes before a colon.
    p = parse_swap("rounds:sampling.max_rounds=2|5")
    assert (p.name, p.key, p.off, p.on) == ("rounds", "sampling.max_rounds", 2, 5)
    # A colon in a value (pkg:...) is not a name.
    assert parse_swap("roles.actor.model=pkg:a/b.gguf|m").off == "pkg:a/b.gguf"
    for bad in ("roles.critic.model", "roles.critic.model=a", "=a|b", "k=a|b|c"):
        with pytest.raises(UsageError, match=r"expected \[NAME:\]dotted\.key=OFF\|ON"):
            parse_swap(bad)


def test_a_swap_sets_its_value_in_every_subset():
    subsets = plan_subsets(
        recipe(), ["guidance", parse_swap("roles.critic.model=critic/a|b")], "eval"
    )
    got = [(s.plugins, s.recipe.roles["critic"].model, s.disabled) for s in subsets]
    assert got == [
        ((), "critic/a", ("guidance",)),
        (("guidance",), "critic/a", ()),
        (("roles.critic.model",), "b", ("guidance",)),
        (("guidance", "roles.critic.model"), "b", ()),
    ]


def test_a_swap_of_two_equal_values_is_a_null_player_that_shares_every_run():
    subsets = plan_subsets(recipe(), ["guidance", parse_swap("roles.critic.model=x|x")], "eval")
    keys = [s.key for s in subsets]
    # Switching it on changes nothing, so each subset is the same run as its partner.
    assert keys[0] == keys[2] and keys[1] == keys[3] and keys[0] != keys[1]


def test_a_matched_player_off_waits_for_its_tokens_then_resamples_with_them():
    subsets = plan_subsets(recipe(), [Player("critic", "matched")], "eval")
    off, on = subsets
    assert off.matched == ("critic",) and not off.ready and on.ready and not on.matched
    stages = {"base/eval": {"selfimprove": 500, "critic": 1200, "guidance": 7}}
    budgets = budgets_from(stages, off.matched)
    assert budgets == {"base/eval": 1200}
    ready = with_budgets(off, budgets, "eval")
    assert ready.ready and ready.key != off.key
    assert ready.recipe.plugins.settings["resample"] == {"budgets": {"base/eval": 1200}}
    assert ready.recipe.plugins.disable == ["critic"]
    # A matched plugin that spent nothing leaves the plain off state: the same run.
    nothing = with_budgets(off, {"base/eval": 0}, "eval")
    assert nothing.key == recipe_key(off.recipe, "eval") and nothing.budgets == {}


def test_resampling_shares_a_budget_round_robin_while_half_a_sample_is_left():
    # Half a sample left buys one more: the error is at most half a sample either way.
    assert allocate([100, 100, 100], 450) == [2, 2, 1]
    assert allocate([100, 100, 100], 449) == [2, 1, 1]
    assert allocate([100, 100, 100], 549) == [2, 2, 1]
    assert allocate([100, 200], 40) == [0, 0]
    assert allocate([], 1000) == []
    settings = ResampleSettings(token_budget=50, budgets={"iter-000/train": 900})
    assert settings.budget_for("iter-000/train") == 900
    assert settings.budget_for("base/eval") == 50
    assert ResampleSettings().budget_for("base/eval") == 0


# -- errors before anything runs -----------------------------------------------


def test_a_misspelt_swap_key_is_an_error_naming_it(cli, write_recipe, tmp_path):
    path = write_recipe(json.dumps(RECIPE))
    out = tmp_path / "out"
    outcome = cli("attribute", path, "--swap", "roles.critc.model=a|b", "--eval", "-o", out)
    assert outcome.exit_code == 2 and "Traceback" not in outcome.stderr
    message = " ".join(outcome.stderr.split())
    assert "--swap roles.critc.model: no such key in the recipe" in message
    assert "did you mean roles.critic.model?" in message and "roles has: actor, critic" in message
    outcome = cli("attribute", path, "--swap", "sampling.max_round=2|4", "--eval", "-o", out)
    assert "did you mean sampling.max_rounds?" in " ".join(outcome.stderr.split())
    # A plugin setting is checked by the plugin's own settings model.
    outcome = cli(
        "attribute", path, "--swap", "plugins.settings.critic.test_tim=a|b", "--eval", "-o", out
    )
    assert outcome.exit_code == 2
    assert "plugins.settings.critic.test_tim: unknown key" in " ".join(outcome.stderr.split())
    outcome = cli("attribute", path, "--swap", "plugins.disable=[]|[critic]", "-o", out)
    assert "cannot be swapped; use --plugins" in outcome.stderr
    outcome = cli("attribute", path, "--eval", "-o", out)
    assert outcome.exit_code == 2 and "name at least one player" in outcome.stderr
    outcome = cli("attribute", path, "--plugins", "critic", "--matched", "critic", "-o", out)
    assert "players critic named more than once" in outcome.stderr
    outcome = cli("attribute", path, "--matched", "critc", "-o", out)
    assert "--matched: unknown plugin 'critc'" in outcome.stderr
    outcome = cli(
        "attribute", path, "--matched", "critic", "-s", "plugins.settings.resample={}", "-o", out
    )
    assert "the recipe has plugins.settings.resample" in outcome.stderr
    assert not out.exists()


# -- with the real model ------------------------------------------------------------


class NullPlugin:
    """A plugin that is loaded and called, and changes nothing."""

    __name__ = "nullplugin"

    def __init__(self):
        self.calls = 0

    @hookimpl
    def reasonloop_round_requests(self, ctx):
        self.calls += 1
        return None


#: Test time: the critic critiques and revises every answer; answers are
#: sampled (temperature 0.7), so plain resamples can change the vote.
TEST_TIME = {
    "eval": {"temperature": 0.7, "max_tokens": 24, "max_rounds": 4},
    "data.eval": [{"name": "arithmetic", "options": {"count": 6, "seed": 0, "split": "eval"}}],
    "plugins.settings": {
        "critic": {
            "test_time": "refine",
            "refine_rounds": 1,
            "critique_max_tokens": 24,
            "refine_unparsable": True,
        },
        "guidance": {"attempts": 1},
    },
}


def values(data: dict) -> dict:
    return {p: (v["shapley"], v["banzhaf"]) for p, v in data["values"].items()}


def by_plugins(data: dict) -> dict:
    return {tuple(r["plugins"]): r for r in data["subsets"]}


@pytest.mark.slow
def test_null_players_get_exactly_zero(tiny_recipe, tmp_path):
    # A plugin that changes nothing, a swap of two equal values, and guidance
    # (which does nothing at test time) token-matched: it spends no tokens
    # of its own, so its off state resamples nothing.
    null = NullPlugin()
    path = tiny_recipe({**TEST_TIME, "plugins.settings": {"guidance": {"attempts": 1}}})
    players = [
        "nullplugin",
        Player("guidance", "matched"),
        parse_swap("roles.actor.sampling.top_p=0.95|0.95"),
    ]
    job = Attribution(
        load_recipe(path), players, tmp_path / "o", mode="eval", progress_bars=False,
        extra_plugins=[null],
    )  # fmt: skip
    data = job.run()
    assert null.calls > 0
    # The swap changes no recipe, so its subsets share their partners' runs.
    assert len({r["key"] for r in data["subsets"]}) == 4
    assert data["total"]["runs"] == 8
    for p, (shapley, banzhaf) in values(data).items():
        assert shapley == 0.0 and banzhaf == 0.0, p
        assert data["values"][p]["shapley_interval"] == [0.0, 0.0]
    for r in data["subsets"]:
        if "guidance" not in r["plugins"]:
            assert r["resample"]["budget"] == 0 and r["resample"]["spent"] == 0


@pytest.mark.slow
def test_a_token_matched_off_state_spends_the_plugins_tokens(tiny_recipe, tmp_path, cli):
    path = tiny_recipe(TEST_TIME)
    out = tmp_path / "attribution"
    common = ("attribute", path, "--eval", "-o", out, "--no-progress")
    plain = cli(*common, "--plugins", "critic")
    assert plain.exit_code == 0, plain.stderr
    plain_data = json.loads((out / "attribution.json").read_text())
    matched = cli(*common, "--matched", "critic")
    assert matched.exit_code == 0, matched.stderr
    data = json.loads((out / "attribution.json").read_text())
    assert data["players"] == [{"name": "critic", "kind": "matched"}]

    on, off = by_plugins(data)[("critic",)], by_plugins(data)[()]
    plain_off = by_plugins(plain_data)[()]
    # The subset with the critic on is the same run in both attributions.
    assert on["key"] == by_plugins(plain_data)[("critic",)]["key"]
    critic_tokens = on["tokens_by_plugin"]["critic"]
    assert critic_tokens > 0 and "critic" not in off["tokens_by_plugin"]
    # Off, the critic's tokens are spent on plain resampling, within the stated tolerance.
    report = off["resample"]
    assert report["budget"] == critic_tokens == report["stages"]["base/eval"]["budget"]
    assert report["within_tolerance"], report
    assert abs(report["spent"] - critic_tokens) <= max(0.1 * critic_tokens, report["tolerance"])
    assert off["tokens_by_plugin"]["resample"] == report["spent"]
    assert off["tokens"] == plain_off["tokens"] + report["spent"]
    run_dir = Path(off["run_dir"])
    samples = list(JsonlLog(run_dir / "base" / "eval_samples.jsonl", Sample))
    assert {s.request.plugin for s in samples} == {"selfimprove", "resample"}
    # Only v(none) changed, so the critic's value moves by exactly that change.
    shift = off["metric"] - plain_off["metric"]
    assert values(data)["critic"][0] == pytest.approx(values(plain_data)["critic"][0] - shift)
    assert values(data)["critic"][1] == pytest.approx(values(plain_data)["critic"][1] - shift)
    report_md = (out / "attribution.md").read_text()
    assert f"critic off: resampled {report['spent']} of {report['budget']} tokens" in report_md
    assert "- `critic`: plugin, token-matched" in report_md
    print(
        f"\ncritic tokens {critic_tokens}; resampled {report['spent']} "
        f"(tolerance {report['tolerance']}); v(none) plain {plain_off['metric']:.4f} "
        f"({plain_off['tokens']} tokens), matched {off['metric']:.4f} ({off['tokens']} tokens), "
        f"v(critic) {on['metric']:.4f} ({on['tokens']} tokens); Shapley plain "
        f"{values(plain_data)['critic'][0]:+.4f}, matched {values(data)['critic'][0]:+.4f}"
    )


@pytest.mark.slow
def test_a_swap_player_runs_each_value(tiny_recipe, tmp_path, cli):
    path = tiny_recipe({**TEST_TIME, "plugins.settings": {}})
    out = tmp_path / "attribution"
    outcome = cli(
        "attribute", path, "--eval", "-o", out, "--no-progress",
        "--swap", "budget:eval.max_tokens=8|24",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    data = json.loads((out / "attribution.json").read_text())
    assert data["players"] == [
        {"name": "budget", "kind": "swap", "key": "eval.max_tokens", "off": 8, "on": 24}
    ]
    off, on = data["subsets"]
    assert off["swapped"] == {"eval.max_tokens": 8} and on["swapped"] == {"eval.max_tokens": 24}
    for row, limit in ((off, 8), (on, 24)):
        recipe = load_run_recipe(Path(row["run_dir"]))
        assert recipe.eval.max_tokens == limit
    assert on["tokens"] > off["tokens"]
    assert values(data)["budget"][0] == pytest.approx(on["metric"] - off["metric"])
    assert "budget" in outcome.stdout
    report = (out / "attribution.md").read_text()
    assert "| (none) | eval.max_tokens=8 |" in report
    assert "| budget | eval.max_tokens=24 |" in report
    assert "- `budget`: `eval.max_tokens` is `8` off, `24` on" in report
