"""The plugin manager: built-in and third-party plugins, loaded the same way.

Built-in plugins are the module paths in :data:`BUILTIN_PLUGINS`. Installed
packages add plugins through the ``reasonloop`` entry-point group. A plugin
is blocked by name with the recipe's ``plugins.disable`` list or the
``REASONLOOP_DISABLE_PLUGINS`` environment variable (comma-separated).
``REASONLOOP_NO_ENTRYPOINTS=1`` skips installed plugins (the test suite sets
it), and ``REASONLOOP_TRACE_HOOKS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from pydantic import ValidationError

from reasonloop.core import hookspecs
from reasonloop.core.validation import describe_validation_error
from reasonloop.errors import PluginError, RecipeError, UsageError

__all__ = [
    "BUILTIN_PLUGINS",
    "Registry",
    "build_checked",
    "describe_plugins",
    "make_plugin_manager",
]

BUILTIN_PLUGINS: tuple[str, ...] = (
    "reasonloop.plugins.backends",
    "reasonloop.plugins.verifiers",
    "reasonloop.plugins.trainers",
    "reasonloop.plugins.datasets",
    "reasonloop.plugins.selfimprove",
    "reasonloop.plugins.selfdebug",
    "reasonloop.plugins.critic",
    "reasonloop.plugins.guidance",
    "reasonloop.plugins.raters",
    "reasonloop.plugins.curriculum",
)

ENTRYPOINT_GROUP = "reasonloop"


def _builtin_name(module_path: str) -> str:
    return module_path.rsplit(".", 1)[-1]


def _disabled_from_env() -> set[str]:
    raw = os.environ.get("REASONLOOP_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def make_plugin_manager(
    disable: Iterable[str] = (),
    extra_plugins: Iterable[object] = (),
    load_entrypoints: bool | None = None,
) -> pluggy.PluginManager:
    """Return a plugin manager with every built-in and installed plugin.

    ``disable`` names plugins to block (recipe key ``plugins.disable``);
    ``extra_plugins`` are registered after the built-ins (tests and
    embedding applications use it).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in set(disable) | _disabled_from_env():
        pm.set_blocked(name)
    for path in BUILTIN_PLUGINS:
        name = _builtin_name(path)
        if pm.is_blocked(name):
            continue
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            raise PluginError(f"built-in plugin {name!r} failed to import: {exc}") from exc
        _register(pm, module, name)
    if load_entrypoints is None:
        load_entrypoints = os.environ.get("REASONLOOP_NO_ENTRYPOINTS", "") in ("", "0")
    if load_entrypoints:
        _load_entrypoints(pm)
    for plugin in extra_plugins:
        _register(pm, plugin, None)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from None
    if os.environ.get("REASONLOOP_TRACE_HOOKS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name or exc.plugin!r} has an invalid hook: {exc}") from None


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    for ep in metadata.entry_points(group=ENTRYPOINT_GROUP):
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            dist = ep.dist.name if ep.dist else "?"
            raise PluginError(
                f"plugin {ep.name!r} (from {dist}) failed to import: {exc}; "
                f"block it with REASONLOOP_DISABLE_PLUGINS={ep.name}"
            ) from exc
        _register(pm, plugin, ep.name)


@dataclass
class Registry:
    """Named things contributed by plugins through one ``register_*`` hook."""

    kind: str
    entries: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self.entries[name][0]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise UsageError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def owner(self, name: str) -> str:
        return self.entries[name][1]

    def names(self) -> list[str]:
        return sorted(self.entries)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, hook_name: str, kind: str) -> Registry:
        registry = cls(kind)
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            plugin_name = impl.plugin_name

            def register(name: str, factory: Callable[..., Any], _owner: str = plugin_name) -> None:
                if name in registry.entries:
                    first = registry.entries[name][1]
                    raise PluginError(
                        f"{kind} {name!r} is registered by both {first!r} and {_owner!r}"
                    )
                registry.entries[name] = (factory, _owner)

            impl.function(register=register)
        return registry


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Return name, version and implemented hooks of every registered plugin."""
    from reasonloop import __version__

    versions = {
        ep.name: ep.dist.version
        for ep in metadata.entry_points(group=ENTRYPOINT_GROUP)
        if ep.dist is not None
    }

    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        builtin = getattr(plugin, "__name__", "") in BUILTIN_PLUGINS
        rows.append(
            {
                "name": name,
                "version": __version__ if builtin else versions.get(name, "?"),
                "builtin": builtin,
                "hooks": hooks,
            }
        )
    return rows


def build_checked(
    factory: Callable[..., Any], key: str, *args: Any, source: str | None = None
) -> Any:
    """Call a plugin factory; turn its option errors into a RecipeError on ``key``.

    ``source`` is the recipe file the options come from, named first in the
    message like every other recipe error.
    """
    try:
        return factory(*args)
    except ValidationError as exc:
        raise RecipeError(describe_validation_error(exc, source, key)) from None
    except TypeError as exc:
        where = f"{source}: " if source else ""
        raise RecipeError(f"{where}{key}: {exc}") from None
