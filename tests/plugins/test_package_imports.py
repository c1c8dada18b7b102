"""Plugin packages have no import cycles, and no plugin imports another.

Inside ``reasonloop/plugins/<pkg>/`` the ``__init__`` imports its submodules,
never the reverse; what two plugins both need lives below them (core,
verifiers). Every import counts: at module level, under ``TYPE_CHECKING``
and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reasonloop.plugins

PLUGINS_DIR = Path(reasonloop.plugins.__file__).parent
PREFIX = "reasonloop.plugins"
#: Every plugin module or package under reasonloop/plugins, by plugin name.
PLUGINS = sorted(
    p.stem if p.is_file() else p.name
    for p in PLUGINS_DIR.iterdir()
    if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
)
FILES = sorted(p for p in PLUGINS_DIR.rglob("*.py") if p != PLUGINS_DIR / "__init__.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PLUGINS_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PREFIX, *parts])


def imported(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module an import statement names (``from a import b``: ``a.b`` and ``a``)."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import name``: a submodule when such a file exists, else pkg itself.
            out += [f"{base}.{a.name}" for a in node.names]
    return out


def resolve(name: str) -> str:
    """The module an imported name loads names from: the deepest existing plugin module."""
    parts = name.split(".")
    while len(parts) > 2:
        rel = Path(*parts[2:])
        if (PLUGINS_DIR / rel.with_suffix(".py")).exists() or (PLUGINS_DIR / rel).is_dir():
            return ".".join(parts)
        parts.pop()
    return ".".join(parts)


def violations(path: Path, source: str | None = None) -> list[str]:
    module = module_name(path)
    is_package = path.name == "__init__.py"
    own = module.split(".")[2]
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    problems = []
    for name in imported(tree, module, is_package):
        if not name.startswith(PREFIX + "."):
            continue
        target = resolve(name)
        plugin = target.split(".")[2]
        if plugin != own:
            problems.append(f"{module} imports {target}: plugins never import each other")
        elif target == f"{PREFIX}.{own}" and module != target:
            problems.append(f"{module} imports its package's __init__ ({target})")
    return problems


def test_every_plugin_is_checked():
    assert {"critic", "guidance", "raters", "curriculum", "selfdebug", "selfimprove"} <= set(
        PLUGINS
    )
    assert PLUGINS_DIR / "guidance" / "metrics.py" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PLUGINS_DIR)))
def test_plugin_module_imports_only_its_own_submodules(path):
    assert violations(path) == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("guidance/metrics.py", "from reasonloop.plugins.guidance import NAME", "__init__"),
        ("guidance/metrics.py", "from . import strategy_of", "__init__"),
        ("selfdebug/report.py", "from reasonloop.plugins import selfdebug", "__init__"),
        (
            "selfdebug/report.py",
            "if TYPE_CHECKING:\n    from reasonloop.plugins.selfdebug import SelfDebugState",
            "__init__",
        ),
        (
            "raters/builtin.py",
            "def f():\n    import reasonloop.plugins.critic.rounds",
            "each other",
        ),
        ("guidance/__init__.py", "from reasonloop.plugins.selfimprove import x", "each other"),
        ("selfimprove.py", "from reasonloop.plugins.critic.rounds import is_plain", "each other"),
        ("critic/data.py", "from ..raters import settings", "each other"),
    ],
)
def test_the_check_catches_cycles_and_cross_plugin_imports(path, source, expected):
    found = violations(PLUGINS_DIR / path, source)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("guidance/__init__.py", "from reasonloop.plugins.guidance.samples import strategy_of"),
        ("guidance/metrics.py", "from reasonloop.plugins.guidance import samples"),
        ("guidance/metrics.py", "from .settings import NAME"),
        ("critic/rater.py", "from reasonloop.core.lineage import SampleTree"),
    ],
)
def test_the_check_allows_submodules_and_lower_layers(path, source):
    assert violations(PLUGINS_DIR / path, source) == []
