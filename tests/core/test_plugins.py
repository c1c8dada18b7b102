from __future__ import annotations

import pytest

from reasonloop import hookimpl
from reasonloop.core.plugins import Registry, describe_plugins, make_plugin_manager
from reasonloop.errors import PluginError


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
    pm = make_plugin_manager(disable=["selfimprove"])
    assert pm.get_plugin("selfimprove") is None
    monkeypatch.setenv("REASONLOOP_DISABLE_PLUGINS", "trainers, datasets")
    pm = make_plugin_manager()
    assert pm.get_plugin("trainers") is None and pm.get_plugin("datasets") is None
    assert pm.get_plugin("backends") is not None


def test_unknown_hook_is_reported():
    class Typo:
        @hookimpl
        def reasonloop_round_request(self, ctx):  # missing "s"
            return None

    with pytest.raises(PluginError, match="unknown hook"):
        make_plugin_manager(extra_plugins=[Typo()])


def test_unknown_name_lists_known_ones():
    registry = Registry.collect(make_plugin_manager(), "reasonloop_register_trainers", "trainer")
    with pytest.raises(Exception, match=r"unknown trainer 'nope' \(known: command, none"):
        registry.get("nope")


def test_describe_lists_hooks_and_versions():
    rows = {r["name"]: r for r in describe_plugins(make_plugin_manager())}
    assert rows["selfimprove"]["builtin"] is True
    assert "reasonloop_round_requests" in rows["selfimprove"]["hooks"]


def test_hook_tracing_writes_calls(monkeypatch, capsys):
    monkeypatch.setenv("REASONLOOP_TRACE_HOOKS", "1")
    pm = make_plugin_manager(disable=["critic", "guidance", "raters", "curriculum"])  # real run
    Registry.collect(pm, "reasonloop_register_backends", "backend")
    pm.hook.reasonloop_report_sections(run=None)
    assert "reasonloop_report_sections" in capsys.readouterr().err
