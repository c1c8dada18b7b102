"""reasonloop: make language models reason better by training them on their own verified work."""

from __future__ import annotations

from reasonloop.core import __version__
from reasonloop.core.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
