from __future__ import annotations

import pluggy
import pytest

from reasonloop import hookimpl
from reasonloop.core import hookspecs
from reasonloop.core.plugins import (
    ESSENTIAL_PLUGINS,
    Registry,
    describe_plugins,
    make_plugin_manager,
    register_hooks,
)
from reasonloop.errors import PluginError, UsageError


class ExtraBackend:
    @hookimpl
    def reasonloop_register_backends(self, register):
        register("extra", lambda model, options: None)


def test_builtins_register_their_names():
    pm = make_plugin_manager()
    backends = Registry.collect(pm, "reasonloop_register_backends", "backend")
    trainers = Registry.collect(pm, "reasonloop_register_trainers", "trainer")
    datasets = Registry.collect(pm, "reasonloop_register_datasets", "dataset")
    assert "transformers" in backends.names()
    assert {"trl-sft", "command", "none"} <= set(trainers.names())
    assert {"arithmetic", "gsm8k", "math500", "svamp", "json"} <= set(datasets.names())
    assert backends.owner("transformers") == "backends"


def test_third_party_plugin_registers_like_builtins():
    pm = make_plugin_manager(extra_plugins=[ExtraBackend()])
    assert "extra" in Registry.collect(pm, "reasonloop_register_backends", "backend").names()


def test_name_clash_names_both_plugins():
    class Clash:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("transformers", lambda model, options: None)

    pm = make_plugin_manager(extra_plugins=[Clash()])
    with pytest.raises(PluginError, match="registered by both 'backends' and"):
        Registry.collect(pm, "reasonloop_register_backends", "backend")


def test_block_by_recipe_and_environment(monkeypatch):
    pm = make_plugin_manager(disable=["critic"])
    assert pm.get_plugin("critic") is None
    monkeypatch.setenv("REASONLOOP_DISABLE_PLUGINS", "guidance, curriculum")
    pm = make_plugin_manager()
    assert pm.get_plugin("guidance") is None and pm.get_plugin("curriculum") is None
    assert pm.get_plugin("critic") is not None


@pytest.mark.parametrize("name", ESSENTIAL_PLUGINS)
def test_an_essential_plugin_cannot_be_blocked(name, monkeypatch):
    with pytest.raises(UsageError, match=f"plugin {name!r} cannot be blocked .* it is essential"):
        make_plugin_manager(disable=[name])
    monkeypatch.setenv("REASONLOOP_DISABLE_PLUGINS", f"critic,{name}")
    with pytest.raises(UsageError, match=f"plugin {name!r} cannot be blocked"):
        make_plugin_manager()


def test_selfimprove_is_not_replaced_by_plugins_that_each_give_part_of_it():
    # critic, selfdebug, guidance and raters together implement all four of
    # selfimprove's hooks, but none of them replaces plain sampling alone.
    with pytest.raises(UsageError, match="reasonloop_final_answer, reasonloop_round_requests"):
        make_plugin_manager(disable=["selfimprove"])


def test_an_essential_plugin_can_be_blocked_when_another_replaces_it():
    pm = make_plugin_manager(disable=["backends"], extra_plugins=[ExtraBackend()])
    assert pm.get_plugin("backends") is None
    assert Registry.collect(pm, "reasonloop_register_backends", "backend").names() == ["extra"]


def test_unknown_hook_is_reported():
    class Typo:
        @hookimpl
        def reasonloop_round_request(self, ctx):  # missing "s"
            return None

    with pytest.raises(PluginError, match=r"plugin .*Typo.* implements an unknown hook"):
        make_plugin_manager(extra_plugins=[Typo()])


def test_unknown_name_lists_known_ones():
    registry = Registry.collect(make_plugin_manager(), "reasonloop_register_trainers", "trainer")
    with pytest.raises(Exception, match=r"unknown trainer 'nope' \(known: command, none"):
        registry.get("nope")


def test_describe_lists_hooks_and_versions():
    rows = {r["name"]: r for r in describe_plugins(make_plugin_manager())}
    assert rows["selfimprove"]["builtin"] is True and rows["selfimprove"]["essential"] is True
    assert rows["critic"]["essential"] is False
    assert "reasonloop_round_requests" in rows["selfimprove"]["hooks"]
    assert "registers" not in rows["backends"]  # only on request: it calls the hooks


def test_describe_lists_what_each_plugin_registers():
    pm = make_plugin_manager(extra_plugins=[ExtraBackend()])
    rows = {r["name"]: r for r in describe_plugins(pm, registered=True)}
    assert rows["backends"]["registers"] == {"backends": ["openai", "transformers", "vllm"]}
    assert "math" in rows["verifiers"]["registers"]["verifiers"]
    assert "arithmetic" in rows["datasets"]["registers"]["datasets"]
    assert "length" in rows["raters"]["registers"]["raters"]
    assert rows["selfimprove"]["registers"] == {}
    extra = next(r for r in rows.values() if r["builtin"] is False)
    assert extra["registers"] == {"backends": ["extra"]}


class WidgetSpecs:
    @pluggy.HookspecMarker(hookspecs.PROJECT)
    def reasonloop_register_widgets(self, register):
        """Register widgets (a hook added after this listing was written)."""


def test_the_listing_covers_register_hooks_added_later():
    class Widgets:
        @hookimpl
        def reasonloop_register_widgets(self, register):
            register("gear", object)

    pm = make_plugin_manager()
    pm.add_hookspecs(WidgetSpecs)
    pm.register(Widgets(), name="widgets")
    assert "reasonloop_register_widgets" in register_hooks(pm)
    rows = {r["name"]: r for r in describe_plugins(pm, registered=True)}
    assert rows["widgets"]["registers"] == {"widgets": ["gear"]}


def test_hook_tracing_writes_calls(monkeypatch, capsys):
    monkeypatch.setenv("REASONLOOP_TRACE_HOOKS", "1")
    pm = make_plugin_manager(disable=["critic", "guidance", "raters", "curriculum"])  # real run
    Registry.collect(pm, "reasonloop_register_backends", "backend")
    pm.hook.reasonloop_report_sections(run=None)
    assert "reasonloop_report_sections" in capsys.readouterr().err
