"""Checks on the project itself: clean imports, documented and tested hooks."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import reasonloop
from reasonloop.core import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("reasonloop_"))
MODULES = sorted(m.name for m in pkgutil.walk_packages(reasonloop.__path__, "reasonloop."))


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_cleanly_with_warnings_as_errors(module):
    code = f"import warnings; warnings.simplefilter('error'); import {module}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_hookimpl_is_exported_from_package_root():
    assert reasonloop.hookimpl is hookspecs.hookimpl


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_doc_section(hook):
    guide = (REPO / "docs" / "plugins.md").read_text()
    assert f"### {hook}" in guide, f"docs/plugins.md has no section for {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = [p for p in (REPO / "tests").rglob("test_*.py") if p.name != "test_meta.py"]
    assert any(hook in p.read_text() for p in tests), f"no test mentions {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_documents_itself(hook):
    doc = " ".join((getattr(hookspecs, hook).__doc__ or "").split())
    assert "Called" in doc and ("Return" in doc or "return value is ignored" in doc), hook


@pytest.mark.parametrize("script", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_only_names_that_exist(script):
    """Benchmarks are not run by CI; a renamed function must still break a test."""
    import ast
    import importlib
    import importlib.util

    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reasonloop"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(
                    f"{node.module}.{alias.name}"
                ), f"{script.name} imports {alias.name} from {node.module}, which has no such name"


def _lock_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock_script", REPO / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_locks_agree_with_pyproject():
    """CI fails when a dependency changed and `python scripts/lock.py` was not rerun."""
    assert _lock_script().check() == []


def test_the_lock_check_names_a_requirement_the_pins_miss():
    lock = _lock_script()
    project = lock.pyproject()
    cpu = next(entry for entry in lock.LOCKS if entry.file == "lock-cpu.txt")
    pins = lock.read_pins(lock.LOCK_DIR / cpu.file)
    assert lock.problems(cpu, pins, project) == []
    project["optional-dependencies"]["dev"] = [*project["optional-dependencies"]["dev"], "nosuch"]
    project["dependencies"] = [f"pydantic>{pins['pydantic']}"]
    found = lock.problems(cpu, pins, project)
    assert any("nosuch" in line and "not pinned" in line for line in found), found
    assert any(f"pydantic=={pins['pydantic']} does not satisfy" in line for line in found), found


def test_the_lock_check_names_an_extra_no_lock_covers():
    lock = _lock_script()
    project = lock.pyproject()
    assert lock.unlocked_extras(project) == []
    project["optional-dependencies"]["browser"] = ["playwright"]
    assert lock.unlocked_extras(project) == ["browser"]


def test_the_set_up_scripts_install_with_their_lock():
    for script, lock in (("setup.sh", "lock-cpu.txt"), ("setup-vllm.sh", "lock-vllm.txt")):
        text = (REPO / "scripts" / script).read_text()
        assert f"LOCK=requirements/{lock}" in text
        assert '"${PIP[@]}" install -c "$LOCK" --upgrade pip' in text
        assert 'PIP+=(install -c "$LOCK" --build-constraint "$LOCK")' in text
