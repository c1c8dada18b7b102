"""Plugin settings: each plugin declares its model, the core validates the recipe's blocks.

A plugin declares the settings it reads from ``plugins.settings.<name>``
through :func:`~reasonloop.core.hookspecs.reasonloop_register_settings`.
:func:`validate_plugin_settings` checks every block of a recipe once, when a
run's plugins are loaded (``validate``, ``run``, ``resume``, ``eval`` and
``attribute`` all do), so a misspelt plugin name, an unknown key and a bad
value stop the command before any work. A block of a plugin the recipe or
the environment blocks is not validated (the plugin is not loaded to say
what it accepts) and is reported as ignored: ``reasonloop attribute`` turns
plugins off this way while their settings stay in the recipe.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from reasonloop.core.plugins import Registry
from reasonloop.core.validation import describe_validation_error, did_you_mean
from reasonloop.errors import PluginError, RecipeError

if TYPE_CHECKING:
    import pluggy

    from reasonloop.core.recipe import Recipe

__all__ = [
    "SETTINGS_KEY",
    "NoSettings",
    "PluginSettings",
    "recipe_json_schema",
    "settings_models",
    "validate_plugin_settings",
]

SETTINGS_KEY = "plugins.settings"


class NoSettings(BaseModel):
    """The settings of a plugin that is only switched on: ``plugins.settings.NAME: {}``."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class PluginSettings:
    """A recipe's validated ``plugins.settings``: one model per block."""

    values: dict[str, BaseModel] = field(default_factory=dict)
    #: Blocks of blocked plugins, not validated and not used.
    ignored: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per ignored block, for ``validate`` and the run log."""
        return [
            f"{SETTINGS_KEY}.{name}: ignored, plugin {name!r} is disabled" for name in self.ignored
        ]


def settings_models(pm: pluggy.PluginManager) -> Registry:
    """Every declared settings model, by name; a model that is no pydantic model is an error."""
    registry = Registry.collect(pm, "reasonloop_register_settings", "settings")
    for name, (model, owner) in registry.entries.items():
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(
                f"plugin {owner!r} registers settings {name!r} with {model!r}, "
                "which is not a pydantic model class"
            )
    return registry


def validate_plugin_settings(
    recipe: Recipe, pm: pluggy.PluginManager, source: str | None = None
) -> PluginSettings:
    """Validate every ``plugins.settings`` block against the model its plugin declares.

    Raises one :class:`RecipeError` listing every bad block: an undeclared
    name (with the known ones and a "did you mean"), an unknown key or a bad
    value (with the file and the dotted key).
    """
    source = source or recipe.source
    registry = settings_models(pm)
    out = PluginSettings()
    errors: list[str] = []
    for name, raw in recipe.plugins.settings.items():
        key = f"{SETTINGS_KEY}.{name}"
        if name not in registry.entries:
            if pm.is_blocked(name):
                out.ignored.append(name)
                continue
            known = ", ".join(registry.names()) or "none"
            errors.append(
                f"{source}: {key}: no plugin declares settings {name!r}; known: {known}"
                + did_you_mean(name, registry.names())
            )
            continue
        model = registry.get(name)
        try:
            out.values[name] = model.model_validate(raw)
        except ValidationError as exc:
            errors.append(describe_validation_error(exc, source, key, model))
    if errors:
        raise RecipeError("\n".join(errors))
    return out


def recipe_json_schema(recipe_model: type[BaseModel], registry: Registry) -> dict[str, Any]:
    """The recipe's JSON Schema with each declared model under ``plugins.settings.<name>``."""
    schema = copy.deepcopy(recipe_model.model_json_schema())
    fields: dict[str, Any] = {name: (model, None) for name, (model, _) in _items(registry)}
    block = create_model(  # type: ignore[call-overload]
        "PluginSettingsBlocks", __config__=ConfigDict(extra="forbid"), **fields
    )
    block_schema = block.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    defs.update(block_schema.pop("$defs", {}))
    properties = block_schema["properties"]
    for name, (model, owner) in _items(registry):
        prop = properties[name]
        prop["description"] = f"Settings of the {owner!r} plugin" + (
            f": {model.__doc__.strip().splitlines()[0]}" if model.__doc__ else ""
        )
        prop.pop("default", None)
    settings = defs["PluginsConfig"]["properties"]["settings"]
    settings.update(type="object", properties=properties, additionalProperties=False)
    return schema


def _items(registry: Registry) -> list[tuple[str, tuple[type[BaseModel], str]]]:
    return [(name, registry.entries[name]) for name in registry.names()]
