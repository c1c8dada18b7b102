"""Protocol capabilities: declared by the built-ins, defaulted for everyone else."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop import hookimpl
from reasonloop.backends.openai_backend import OpenAIBackend
from reasonloop.backends.transformers_backend import TransformersBackend
from reasonloop.backends.vllm_backend import VLLMBackend
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.protocols import Backend, Trainer, TrainResult, capability
from reasonloop.trainers.command import CommandTrainer
from reasonloop.trainers.none import NoneTrainer
from reasonloop.trainers.trl_sft import TrlSftTrainer


class BareBackend:
    """A third-party backend that says nothing about what it can do."""

    def __init__(self, model, options):
        pass

    def generate(self, requests, on_progress=None):
        return [[] for _ in requests]

    def close(self):
        pass


class BareTrainer:
    def __init__(self, options):
        pass

    def train(self, data_path, base_model, output_dir, on_progress=None):
        return TrainResult(model_path=None)


def test_silent_implementations_get_the_documented_defaults() -> None:
    backend = BareBackend("m", {})
    for thing in (BareBackend, backend):
        assert capability(thing, "adapters_on_base") is False
        assert capability(thing, "loads_checkpoints") is True
        assert capability(thing, "serves_adapters") is False
    trainer = BareTrainer({})
    assert capability(trainer, "changes_model") is True
    assert capability(trainer, "trains_adapter") is False
    assert capability(trainer, "accepts_order") is False
    assert capability(trainer, "accepts_report") is False


def test_defaults_are_the_protocols_own() -> None:
    assert (Backend.adapters_on_base, Backend.loads_checkpoints, Backend.serves_adapters) == (
        False,
        True,
        False,
    )
    assert (
        Trainer.changes_model,
        Trainer.trains_adapter,
        Trainer.accepts_order,
        Trainer.accepts_report,
    ) == (True, False, False, False)


def test_a_factory_function_may_answer_for_its_backends() -> None:
    def factory(model, options):
        return BareBackend(model, options)

    factory.adapters_on_base = True  # type: ignore[attr-defined]
    assert capability(factory, "adapters_on_base") is True
    assert capability(factory, "loads_checkpoints") is True


def test_builtin_backend_classes_declare_every_capability() -> None:
    for cls in (TransformersBackend, OpenAIBackend, VLLMBackend):
        for name in ("adapters_on_base", "loads_checkpoints", "serves_adapters"):
            assert name in vars(cls), (cls.__name__, name)


def test_registered_builtin_backends_answer_before_they_are_built() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    backends = Registry.collect(pm, "reasonloop_register_backends", "backend")
    table = {
        name: (
            capability(backends.get(name), "adapters_on_base"),
            capability(backends.get(name), "loads_checkpoints"),
        )
        for name in ("transformers", "openai", "vllm")
    }
    assert table == {
        "transformers": (False, True),
        "openai": (True, False),
        "vllm": (True, True),
    }


def test_builtin_trainers_state_their_capabilities() -> None:
    lora = TrlSftTrainer({"method": "lora"})
    full = TrlSftTrainer({"method": "full"})
    assert capability(lora, "trains_adapter") and not capability(full, "trains_adapter")
    assert capability(full, "accepts_order") and capability(full, "changes_model")
    none = NoneTrainer({})
    assert not capability(none, "changes_model") and not capability(none, "trains_adapter")
    command = CommandTrainer({"command": ["true"], "adapter_path": "{output_dir}/a"})
    assert capability(command, "trains_adapter") and capability(command, "accepts_order")
    assert not capability(CommandTrainer({"command": ["true"]}), "trains_adapter")
    for trainer in (lora, none, command):
        assert isinstance(trainer, Trainer)


def test_registered_trainers_are_built_from_the_recipe_options() -> None:
    class Plugin:
        @hookimpl
        def reasonloop_register_trainers(self, register):
            register("bare", BareTrainer)

    pm = make_plugin_manager(extra_plugins=[Plugin()], load_entrypoints=False)
    trainers = Registry.collect(pm, "reasonloop_register_trainers", "trainer")
    assert isinstance(trainers.get("none")({}), NoneTrainer)
    built = trainers.get("bare")({})
    assert not capability(built, "accepts_order")
    assert built.train(Path("d"), "m", Path("o")).model_path is None


def test_openai_backend_is_built_from_the_options_the_loop_passes() -> None:
    pm = make_plugin_manager(load_entrypoints=False)
    factory = Registry.collect(pm, "reasonloop_register_backends", "backend").get("openai")
    from reasonloop.core.records import SamplingParams

    backend = factory("m", {"base_url": "http://127.0.0.1:9/v1", "defaults": SamplingParams()})
    assert isinstance(backend, OpenAIBackend) and isinstance(backend, Backend)
    with pytest.raises(Exception, match="concurrency"):
        factory("m", {"concurrency": 0, "defaults": SamplingParams()})


class RemoteBackend(BareBackend):
    """A backend whose servers cannot load a full fine-tune's checkpoint."""

    loads_checkpoints = False
    adapters_on_base = True


def remote_run(tmp_path: Path, trainer: dict, iterations: int = 1):
    from reasonloop.core.loop import Loop, build_run_context
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.recipe import recipe_from_dict

    class Plugin:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("remote", RemoteBackend)

    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "t",
            "iterations": iterations,
            "roles": {"actor": {"backend": "remote", "model": "base"}},
            "trainer": trainer,
            "data": {},
        }
    )
    pm = make_plugin_manager(extra_plugins=[Plugin()], load_entrypoints=False)
    return Loop(build_run_context(recipe, tmp_path / "run", RunProgress(enabled=False), pm=pm))


def test_the_loop_reads_a_registered_class_before_building_it(tmp_path: Path) -> None:
    from reasonloop.errors import UsageError

    with pytest.raises(UsageError, match=r"roles\.actor\.backend: 'remote'"):
        remote_run(tmp_path, {"name": "trl-sft"})
    # A LoRA trainer's adapters are loaded into the servers; no training is fine too.
    loop = remote_run(tmp_path, {"name": "trl-sft", "options": {"method": "lora"}})
    remote_run(tmp_path, {"name": "none"})
    remote_run(tmp_path, {"name": "trl-sft"}, iterations=0)
    # After a LoRA iteration the actor gets the adapter, not the merged model.
    loop.state.models[0], loop.state.adapters[0] = "iter-000/model", "iter-000/adapter"
    assert loop._models(1)["actor"] == "iter-000/adapter"
    assert loop._models(0)["actor"] == "base"
