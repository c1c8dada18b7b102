"""The layers: what each part of reasonloop may import, read from the source with ``ast``.

Every import counts: at module level, inside functions (lazy imports) and
under ``if TYPE_CHECKING:``. Modules are parsed, not imported, so a
violation is found even on a path no test runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reasonloop"

#: Each layer and the reasonloop packages its modules may import.
ALLOWED = {
    "core": ("reasonloop.core", "reasonloop.errors"),
    "hf": ("reasonloop.hf", "reasonloop.core", "reasonloop.errors"),
}
#: Names a layer may take from the package root (``from reasonloop import X``).
ROOT_NAMES: dict[str, set[str]] = {"core": set(), "hf": set()}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, is_package: bool) -> list[tuple[int, str, list[str]]]:
    """Every import in ``source``: (line, absolute module, names taken from it)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in sorted(ast.walk(ast.parse(source)), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([target] if target else []))
            found.append((node.lineno, target, [alias.name for alias in node.names]))
    return found


def violations(layer: str, source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that its layer does not allow, as readable lines."""
    allowed = ALLOWED[layer]
    bad = []
    for line, target, names in imported(source, module, is_package):
        if target != "reasonloop" and not target.startswith("reasonloop."):
            continue  # the standard library and third-party packages
        if target == "reasonloop":
            # ``from reasonloop import x`` may name a subpackage as well as a root name.
            extra = [
                n
                for n in names
                if n not in ROOT_NAMES[layer] and not f"reasonloop.{n}".startswith(allowed)
            ]
            if extra or not names:
                bad.append(f"{module}:{line} imports reasonloop ({', '.join(extra) or '*'})")
            continue
        if not any(target == a or target.startswith(a + ".") for a in allowed):
            bad.append(f"{module}:{line} imports {target}")
    return bad


def layer_modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_lies_below_it(layer: str) -> None:
    modules = layer_modules(layer)
    assert modules, f"no modules under reasonloop/{layer}"
    bad = []
    for path in modules:
        bad += violations(
            layer, path.read_text(), module_name(path), is_package=path.name == "__init__.py"
        )
    assert not bad, f"reasonloop/{layer} may import only {ALLOWED[layer]}:\n" + "\n".join(bad)


LAZY = """
from __future__ import annotations

from typing import TYPE_CHECKING

from reasonloop.core.records import Sample
from reasonloop.errors import UsageError
from . import records
from reasonloop import __version__

if TYPE_CHECKING:
    from reasonloop.verifiers.base import VerifyResult


def train():
    from reasonloop.trainers.base import TrainResult
    import reasonloop.plugins.critic
    from ..hf import models
    from reasonloop import plugins
"""


def test_the_check_sees_lazy_relative_and_type_checking_imports() -> None:
    assert violations("core", LAZY, "reasonloop.core.loop") == [
        "reasonloop.core.loop:9 imports reasonloop (__version__)",
        "reasonloop.core.loop:12 imports reasonloop.verifiers.base",
        "reasonloop.core.loop:16 imports reasonloop.trainers.base",
        "reasonloop.core.loop:17 imports reasonloop.plugins.critic",
        "reasonloop.core.loop:18 imports reasonloop.hf",
        "reasonloop.core.loop:19 imports reasonloop (plugins)",
    ]
    # From hf the core and hf itself are allowed (``from . import records`` and
    # ``from ..hf import models`` resolve inside hf), the rest is not.
    assert violations("hf", LAZY, "reasonloop.hf.perplexity") == [
        "reasonloop.hf.perplexity:9 imports reasonloop (__version__)",
        "reasonloop.hf.perplexity:12 imports reasonloop.verifiers.base",
        "reasonloop.hf.perplexity:16 imports reasonloop.trainers.base",
        "reasonloop.hf.perplexity:17 imports reasonloop.plugins.critic",
        "reasonloop.hf.perplexity:19 imports reasonloop (plugins)",
    ]
