"""The run context: validated settings and the per-run instances plugins register."""

from __future__ import annotations

from reasonloop import hookimpl
from reasonloop.core.loop import build_run_context
from reasonloop.core.progress import RunProgress
from reasonloop.core.records import Problem


def run_plugins(pm) -> list[str]:
    return [name for name, _ in pm.list_name_plugin() if name.endswith(".run")]


def test_method_plugins_register_one_instance_holding_their_settings(run_context):
    run = run_context(settings={"critic": {"refinements": 3}, "guidance": {"attempts": 2}})
    critic = run.pm.get_plugin("critic.run")
    assert critic.settings is run.settings_for("critic") and critic.settings.refinements == 3
    assert run.pm.get_plugin("guidance.run").settings.attempts == 2
    assert run_plugins(run.pm) == ["critic.run", "guidance.run"]
    # Every per-run hook lives on the instance; the module keeps run start and registrations.
    module_hooks = {c.name for c in run.pm.get_hookcallers(run.pm.get_plugin("critic"))}
    assert module_hooks == {
        "reasonloop_register_commands",
        "reasonloop_register_raters",
        "reasonloop_register_rewards",
        "reasonloop_register_settings",
        "reasonloop_run_start",
    }


def test_instances_keep_their_owners_order_so_hooks_run_in_the_same_order(run_context):
    run = run_context(settings={"selfdebug": {}, "critic": {}, "guidance": {}})
    names = [name for name, _ in run.pm.list_name_plugin()]
    owners = [n.removesuffix(".run") for n in run_plugins(run.pm)]
    assert owners == sorted(owners, key=names.index) == ["selfdebug", "critic", "guidance"]
    impls = [i.plugin_name for i in run.pm.hook.reasonloop_training_examples.get_hookimpls()]
    assert impls == ["selfimprove", "selfdebug.run", "critic.run", "guidance.run"]


def test_a_second_start_replaces_the_instance_and_a_new_run_drops_stale_ones(run_context):
    run = run_context(settings={"critic": {}})
    first = run.pm.get_plugin("critic.run")
    run.hooks.run_start(run)
    assert run.pm.get_plugin("critic.run") is not first
    assert run_plugins(run.pm) == ["critic.run"]
    # A later run on the same plugin manager, without critic settings.
    later = build_run_context(
        run.recipe.model_copy(
            update={"plugins": run.recipe.plugins.model_copy(update={"settings": {}})}
        ),
        run.run_dir.root / "later",
        RunProgress(enabled=False),
        pm=run.pm,
    )
    later.hooks.run_start(later)
    assert run_plugins(later.pm) == []


def test_an_instances_metrics_are_filed_under_its_owner(run_context):
    class Counter:
        @hookimpl
        def reasonloop_eval_metrics(self, problems, samples, ctx):
            return {"problems": len(problems)}

    class Owner:
        @hookimpl
        def reasonloop_run_start(self, run):
            run.register_plugin(Counter(), "counting")

    run = run_context(extra_plugins=[Owner()])
    merged = run.hooks.eval_metrics([Problem(id="p", prompt="q")], [], None)
    assert merged == {"counting": {"problems": 1}}


def test_described_plugins_leave_out_the_per_run_instances(run_context):
    from reasonloop.core.plugins import describe_plugins

    run = run_context(settings={"critic": {}})
    assert run.pm.get_plugin("critic.run") is not None
    names = [row["name"] for row in describe_plugins(run.pm)]
    assert "critic" in names and "critic.run" not in names
