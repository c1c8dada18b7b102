"""Built-in data sources: the arithmetic generator, reference sets and files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonloop import hookimpl


@hookimpl
def reasonloop_register_datasets(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from reasonloop.datasets.builtin import LOADERS

    for name, loader in LOADERS.items():
        register(name, loader)
