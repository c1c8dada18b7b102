"""The dataset loaders reasonloop ships, by the name a recipe uses for them."""

from __future__ import annotations

from reasonloop.core.dataspec import DatasetLoader
from reasonloop.datasets.arithmetic import load_arithmetic
from reasonloop.datasets.files import load_file, load_hub
from reasonloop.datasets.reference_sets import (
    load_gsm8k,
    load_humaneval,
    load_math500,
    load_svamp,
)

__all__ = ["LOADERS"]

#: Built-in loaders; ``json``, ``parquet`` and ``csv`` share one file loader.
LOADERS: dict[str, DatasetLoader] = {
    "arithmetic": load_arithmetic,
    "json": load_file,
    "parquet": load_file,
    "csv": load_file,
    "hub": load_hub,
    "gsm8k": load_gsm8k,
    "math500": load_math500,
    "svamp": load_svamp,
    "humaneval": load_humaneval,
}
