"""One message for every validation error: the file, the dotted key, what was expected.

Recipe sections, plugin settings and the options of backends, verifiers and
trainers are pydantic models; :func:`describe_validation_error` turns any of
their :class:`~pydantic.ValidationError` into the lines a user reads, with a
"did you mean" where a misspelt key or name is close to a known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = ["describe_validation_error", "did_you_mean", "model_named"]


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known name is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe_validation_error(
    exc: ValidationError,
    source: str | None = None,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> str:
    """The lines ``SOURCE: PREFIX.dotted.key: what was expected``, one per error.

    ``prefix`` is where the validated mapping sits in the recipe (e.g.
    ``plugins.settings.critic``); ``model`` is the model that was validated,
    used to name the keys it knows (default: the model the error names).
    """
    model = model or model_named(exc.title)
    where = f"{source}: " if source else ""
    lines = []
    for err in exc.errors():
        loc = _key_path(err["loc"])
        key = ".".join(p for p in (prefix, *loc) if p) or "(top level)"
        lines.append(f"{where}{key}: {_expectation(err, loc, model)}")
    return "\n".join(dict.fromkeys(lines))


def _key_path(loc: Sequence[int | str]) -> list[str]:
    # A union's member types appear in ``loc`` (``keep.int``, ``keep.float``);
    # they are not keys the user wrote.
    return [str(p) for p in loc if not (isinstance(p, str) and _is_type_tag(p))]


def _is_type_tag(part: str) -> bool:
    return part in {"int", "float", "str", "bool", "none", "list", "dict"} or (
        part.endswith("]") and "[" in part
    )


def _expectation(err: Any, loc: list[str], model: type[BaseModel] | None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _known_keys(model, loc[:-1]) if model is not None else None
        if not known:
            return "unknown key"
        return f"unknown key{did_you_mean(loc[-1], known)} (expected one of: {', '.join(known)})"
    if kind == "missing":
        return "missing (required)"
    msg = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind != "value_error":
        return f"{msg} (got {err['input']!r})"
    return msg


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str] | None:
    """The keys the model accepts at ``path`` (dict keys and list indices pass through)."""
    current = [model]
    for part in path:
        fields = [m.model_fields[part] for m in current if part in m.model_fields]
        if fields:
            current = [sub for f in fields for sub in _models_in(f.annotation)]
            if not current:
                return None
        # Otherwise ``part`` is a mapping key or a list index: same models.
    keys = sorted({name for m in current for name in m.model_fields})
    return keys or None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is not None:  # a union, list, mapping...
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def model_named(title: str) -> type[BaseModel] | None:
    """The loaded pydantic model class called ``title``, when exactly one is.

    An options error raised inside a plugin's factory carries the name of the
    model that failed, not the class; finding it lets the message list the
    keys that model accepts.
    """
    found: list[type[BaseModel]] = []
    todo = list(BaseModel.__subclasses__())
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__name__ == title and cls.model_config.get("extra") == "forbid":
            found.append(cls)
    return found[0] if len(found) == 1 else None
