"""The players of an attribution: what "on" and "off" mean for each.

- ``plugin`` (``--plugins``): on, the plugin is loaded; off, it is added to
  ``plugins.disable``, as a user blocks it.
- ``matched`` (``--matched``): on, as a plugin player; off, the plugin is
  disabled and the tokens it spent in the run where it was on are spent on
  plain brute-force resampling instead (the ``resample`` plugin), so the
  coalitions it joins and leaves cost the same.
- ``swap`` (``--swap KEY=OFF|ON``): a recipe key that holds ``OFF`` when
  the player is off and ``ON`` when it is on, as CapaBench swaps a module's
  default implementation for a candidate (critic model A against B).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from reasonloop.core.recipe import Recipe
from reasonloop.errors import UsageError

__all__ = [
    "RESAMPLE",
    "Player",
    "check_swaps",
    "missing_part",
    "parse_swap",
    "players_from",
]

#: The plugin that spends a matched player's tokens when it is off.
RESAMPLE = "resample"

Kind = Literal["plugin", "matched", "swap"]


@dataclass(frozen=True)
class Player:
    """One player: a plugin switched on and off, token-matched or not, or a swapped key."""

    name: str
    kind: Kind = "plugin"
    #: ``swap``: the dotted recipe key and its two values.
    key: str | None = None
    off: Any = None
    on: Any = None

    def describe(self) -> dict[str, Any]:
        """The player as ``attribution.json`` lists it."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "swap":
            out.update(key=self.key, off=self.off, on=self.on)
        return out


def players_from(items: Iterable[str | Player]) -> list[Player]:
    """Players from plugin names (plain on/off players) and :class:`Player` objects."""
    return [p if isinstance(p, Player) else Player(p) for p in items]


def parse_swap(text: str) -> Player:
    """``[NAME:]dotted.key=OFF|ON`` (``--swap``); the values are parsed as YAML, as ``--set``'s."""
    left, sep, right = text.partition("=")
    name, colon, key = left.rpartition(":")
    key = key.strip()
    name = name.strip() if colon else key
    values = right.split("|")
    if not sep or not key or len(values) != 2 or not name:
        raise UsageError(
            f"--swap {text!r}: expected [NAME:]dotted.key=OFF|ON, "
            "e.g. --swap 'roles.critic.model=Qwen/Qwen2.5-7B-Instruct|Qwen/Qwen2.5-72B-Instruct'"
        )
    try:
        off, on = (yaml.safe_load(v) if v.strip() else "" for v in values)
    except yaml.YAMLError as exc:
        raise UsageError(f"--swap {key}: a value is not valid YAML: {exc}") from None
    return Player(name, "swap", key, off, on)


#: Keys a swap may not change: the attribution sets them itself, or they
#: do not change results (so both values would give the same run).
RESERVED = ("plugins.disable", "name", "run_dir")


def missing_part(data: dict[str, Any], key: str) -> tuple[int, list[str]] | None:
    """Where ``key`` leaves ``data`` (a dumped recipe): the part's index and the keys there.

    ``None`` when ``key`` names a value.
    """
    node: Any = data
    for i, part in enumerate(key.split(".")):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return i, sorted(str(k) for k in node) if isinstance(node, dict) else []
    return None


def check_swaps(recipe: Recipe, players: list[Player]) -> None:
    """Fail unless every swap's key exists in ``recipe`` (defaults included), outside reserved keys.

    Keys under ``plugins.settings.<plugin>`` may be ones the recipe leaves at
    the plugin's default; the plugin's settings model then checks them.
    """
    data = recipe.model_dump(mode="json")
    keys = [p.key for p in players if p.kind == "swap"]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UsageError(f"--swap: {', '.join(map(str, twice))} swapped more than once")
    for player in players:
        if player.kind != "swap":
            continue
        key = str(player.key)
        if key in RESERVED or key.startswith("plugins.disable."):
            raise UsageError(f"--swap {key}: this key cannot be swapped; use --plugins instead")
        parts = key.split(".")
        if parts[:2] == ["plugins", "settings"] and len(parts) >= 4:
            if parts[2] not in recipe.plugins.settings:
                raise UsageError(
                    f"--swap {key}: the recipe has no plugins.settings.{parts[2]} to swap a key of"
                )
            continue
        missing = missing_part(data, key)
        if missing is not None:
            i, siblings = missing
            where = ".".join(parts[:i]) or "the recipe's top level"
            close = difflib.get_close_matches(parts[i], siblings, n=1)
            hint = f"; did you mean {'.'.join([*parts[:i], close[0], *parts[i + 1 :]])}?"
            there = f" ({where} has: {', '.join(siblings)})" if siblings else ""
            raise UsageError(
                f"--swap {key}: no such key in the recipe{hint if close else ''}{there}"
            )
