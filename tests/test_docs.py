"""The documentation matches the code.

Every ```python block of docs/plugins.md runs on its own and its plugins pass
the plugin manager's checks; the guide's plugins together run a real loop;
docs/recipes.md is what scripts/gen_recipe_docs.py writes; docs/cli.md covers
every command, option and exit code.

A guide block is a plugin module when it defines hook implementations at
module level, and every class in it with hook implementations is a plugin
too. The loop test uses the module plugins (classes that need arguments are
registered by the blocks themselves, at run start).
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import types
from pathlib import Path

import pytest
import typer.main

from reasonloop.cli import app
from reasonloop.core import hookspecs
from reasonloop.core.loop import Loop, build_run_context
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.progress import RunProgress
from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Sample
from reasonloop.core.report import summary_rows
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import ExitCode

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
GUIDE = DOCS / "plugins.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("reasonloop_"))
# The hooks that contribute named things through a ``register(name, thing)`` callback.
REGISTER_HOOKS = [
    h for h in HOOKS if "register" in inspect.signature(getattr(hookspecs, h)).parameters
]
MARK = f"{hookspecs.PROJECT}_impl"
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks(GUIDE.read_text())


def run_block(line: int, code: str) -> types.ModuleType:
    module = types.ModuleType(f"docs_plugins_line_{line}")
    exec(compile(code, f"docs/plugins.md:{line}", "exec"), module.__dict__)
    return module


def is_impl(obj: object) -> bool:
    return callable(obj) and hasattr(obj, MARK)


def module_plugin(module: types.ModuleType) -> types.ModuleType | None:
    own = [v for v in vars(module).values() if inspect.isfunction(v)]
    return module if any(is_impl(f) and f.__module__ == module.__name__ for f in own) else None


def class_plugins(module: types.ModuleType) -> list[type]:
    return [
        v
        for v in vars(module).values()
        if inspect.isclass(v)
        and v.__module__ == module.__name__
        and any(is_impl(getattr(v, a, None)) for a in dir(v))
    ]


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line-{n}" for n, _ in BLOCKS])
def test_guide_block_runs_and_its_plugins_register(line, code):
    module = run_block(line, code)
    plugins = [p for p in [module_plugin(module), *class_plugins(module)] if p is not None]
    # make_plugin_manager runs check_pending: unknown hooks and bad signatures fail here.
    pm = make_plugin_manager(extra_plugins=plugins, load_entrypoints=False)
    for plugin in plugins:
        assert pm.is_registered(plugin)
    for hook in REGISTER_HOOKS:  # names must not clash with the built-ins'
        Registry.collect(pm, hook, hook)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = re.search(r"^#{1,3} ", text[start + len(heading) :], re.M)
    return text[start : start + len(heading) + end.start()] if end else text[start:]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_section_example_implements_the_hook(hook):
    text = section(GUIDE.read_text(), f"### {hook}\n")
    blocks = [code for _, code in python_blocks(text)]
    assert any(f"def {hook}(" in code for code in blocks), f"no example implements {hook}"


def test_guide_plugins_run_a_loop(tmp_path):
    modules = [run_block(line, code) for line, code in BLOCKS]
    plugins = [m for m in map(module_plugin, modules) if m is not None]
    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "guide",
            "iterations": 2,
            "roles": {
                "actor": {"backend": "echo", "model": "echo"},
                "critic": {"backend": "echo", "model": "echo"},
            },
            # The echo backend repeats the prompt, so its last line "12" answers
            # "What is twice 6?" correctly and every other problem wrongly.
            "prompt": {"template": "{prompt}\n12"},
            "data": {
                "train": [{"name": "doubling", "options": {"count": 8}}],
                "eval": [{"name": "doubling", "options": {"count": 8}}],
            },
            "sampling": {"n": 2},
            "verifier": {"name": "last-line"},
            "trainer": {"name": "dry-run"},
            "eval": {"n": 3},
            "plugins": {
                "settings": {
                    name: {}
                    for name in ("critique", "shortest", "easy_first", "majority", "summaries")
                }
            },
        }
    )
    pm = make_plugin_manager(extra_plugins=plugins, load_entrypoints=False)
    run = build_run_context(recipe, tmp_path, RunProgress(enabled=False), pm=pm)
    Loop(run).run_all()

    samples = list(JsonlLog(tmp_path / "iter-000" / "samples.jsonl", Sample))
    purposes = {(s.request.role, s.request.purpose) for s in samples}
    assert {("actor", "sample"), ("critic", "critique"), ("actor", "refine")} <= purposes
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["train_metrics"]["0"]["examples"] == 1  # one problem answered, one kept
    assert state["train_metrics"]["0"]["ordered"]  # the ordering plugin ran
    metrics = json.loads((tmp_path / "iter-001" / "eval.json").read_text())
    assert metrics["accuracy"] == pytest.approx(1 / 8)
    assert [m["any_correct"] for m in metrics["plugins"].values()] == [pytest.approx(1 / 8)]
    summaries = json.loads((tmp_path / "summaries.json").read_text())
    assert [row["iteration"] for row in summaries] == [0, 1]
    # The hook saw the rows the report shows.
    report_rows = [r for r in summary_rows(run.run_dir) if r.iteration is not None]
    assert summaries == [r.model_dump(mode="json") for r in report_rows]
    report = (tmp_path / "report.md").read_text()
    assert "## Samples by lineage" in report and "refined-after-critique" in report


def load_generator() -> types.ModuleType:
    path = REPO / "scripts" / "gen_recipe_docs.py"
    spec = importlib.util.spec_from_file_location("gen_recipe_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_reference_is_up_to_date():
    expected = load_generator().render()
    assert (DOCS / "recipes.md").read_text() == expected, (
        "docs/recipes.md is out of date; run: "
        ".venv/bin/python scripts/gen_recipe_docs.py > docs/recipes.md"
    )


COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_in_the_cli_doc(name):
    text = section((DOCS / "cli.md").read_text(), f"## reasonloop {name}\n")
    for param in COMMANDS[name].params:
        if param.param_type_name == "argument":
            assert param.name.upper() in text, f"reasonloop {name}: {param.name} undocumented"
        else:
            long = [o for o in param.opts if o.startswith("--")]
            assert all(o in text for o in long), f"reasonloop {name}: {long} undocumented"


def test_every_exit_code_is_in_the_cli_doc():
    text = (DOCS / "cli.md").read_text()
    for code in ExitCode:
        assert f"| {code.value} | `{code.name}` |" in text


def test_links_between_docs_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (DOCS / target).exists(), f"{page.name} links to missing {target}"
