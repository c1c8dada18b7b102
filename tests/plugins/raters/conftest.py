"""A run with the raters plugin on, for the tests of its settings and its selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def make_run(
    run_context, tmp_path: Path, settings: dict[str, Any], plugins: tuple[object, ...] = (), **extra
):
    return run_context(
        {
            "version": 1,
            "name": "raters-test",
            "seed": extra.pop("seed", 0),
            "roles": {"actor": {"backend": "transformers", "model": "unused"}},
            "data": {"train": [{"name": "arithmetic", "options": {"count": 2}}]},
            "trainer": {"name": "none"},
            "plugins": {"settings": {"raters": settings}},
            **extra,
        },
        extra_plugins=plugins,
        run_dir=tmp_path,
    )


@pytest.fixture(name="make_run")
def make_run_fixture():
    """``make_run(run_context, tmp_path, settings, plugins, **recipe)``: a started raters run."""
    return make_run
