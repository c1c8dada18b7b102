"""How a recipe names a data source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.records import Problem

__all__ = ["DatasetLoader", "DatasetSpec"]


class DatasetSpec(BaseModel):
    """One data source in a recipe.

    ``name`` is a registered dataset (``arithmetic``, ``gsm8k``, ``math500``,
    ``svamp``, ``humaneval``) or a file format (``json``, ``parquet``,
    ``csv``) or ``hub`` for a Hugging Face hub id in ``path``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    #: A file, a directory, or a hub id; registered datasets have defaults.
    path: str | None = None
    split: str | None = None
    #: Maps Problem fields (``id``, ``prompt``, ``answer``, ``rationale``,
    #: ``tests``, ``entry_point``, ``difficulty``) to the source's columns.
    fields: dict[str, str] = Field(default_factory=dict)
    #: Keep at most this many rows (after ``offset``), in source order.
    limit: int | None = None
    offset: int = 0
    #: Dataset-specific settings, e.g. ``count`` and ``seed`` for arithmetic.
    options: dict[str, Any] = Field(default_factory=dict)


#: A registered dataset: ``loader(spec)`` returns the problems it names.
DatasetLoader = Callable[[DatasetSpec], list[Problem]]
