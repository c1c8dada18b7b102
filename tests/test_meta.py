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
