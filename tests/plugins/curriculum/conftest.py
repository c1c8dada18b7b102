"""A recipe and an iteration with the curriculum plugin on, for its settings and order tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonloop.core.context import IterationContext


def recipe(tmp_path: Path, settings: dict, trainer: dict | None = None, model: str = "base"):
    return {
        "version": 1,
        "name": "curriculum",
        "run_dir": str(tmp_path / "run"),
        "roles": {"actor": {"model": model}},
        "data": {"train": [{"name": "arithmetic", "options": {"count": 4}}]},
        "trainer": trainer or {"name": "none"},
        "plugins": {"settings": {"curriculum": settings}},
    }


def stage(
    run_context, tmp_path: Path, settings: dict, models: dict | None = None, **kw
) -> IterationContext:
    run = run_context(recipe(tmp_path, settings, **kw), start=False)
    return IterationContext(run, 1, "train", [], models or {"actor": "current"})


@pytest.fixture(name="recipe")
def recipe_fixture():
    """``recipe(tmp_path, settings, trainer, model)``: a recipe mapping with the curriculum on."""
    return recipe


@pytest.fixture(name="stage")
def stage_fixture():
    """``stage(run_context, tmp_path, settings, models, **recipe)``: iteration 1 of such a run."""
    return stage
