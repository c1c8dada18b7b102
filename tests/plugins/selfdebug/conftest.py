"""The self-debugging tests' scripted model, their code problems and the loop they run.

The scripted model (``ScriptedModel``, a fake named as such) stands in for
SmolLM2-135M, which almost never fixes a program: these tests must see a fix
happen to check what follows from it. The helpers reach the tests through
the ``scripted`` fixture.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from reasonloop import hookimpl
from reasonloop.core.loop import Loop
from reasonloop.core.records import Completion, Request

PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'

BUGGY = "```python\ndef add(a, b):\n    return a - b\n```"

FIXED = "```python\ndef add(a, b):\n    return a + b\n```"


# Two right tests and one wrong one (the canonical solution passes 2 of 3).
WRITTEN_TESTS = (
    "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(2, 2) == 5\n```"
)

REAL_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


class ScriptedModel:
    """A fake model: buggy first answers, fixed ones after feedback that shows the bug."""

    prompts: ClassVar[list[Request]] = []

    def generate(self, requests: Sequence[Request], on_progress=None) -> list[list[Completion]]:
        out = []
        for r in requests:
            ScriptedModel.prompts.append(r)
            last = r.messages[-1].content
            if r.purpose == "tests":
                text = WRITTEN_TESTS
            elif r.purpose == "debug" and (
                r.messages[-2].content == FIXED  # keeps a fixed program
                or "got: -1" in last  # detail feedback shows the bug
                or "a = 1, b = 2" in last  # so does the trace
                or "assert add(1, 2) == 3" in last  # label feedback names the test
            ):
                text = FIXED
            else:
                text = BUGGY
            out.append(
                [Completion(text=text, prompt_tokens=50, completion_tokens=20)] * r.sampling.n
            )
        return out

    def close(self) -> None:
        pass


class ScriptedPlugin:
    @hookimpl
    def reasonloop_register_backends(self, register):
        register("scripted", lambda model, options: ScriptedModel())


@pytest.fixture
def code_data(tmp_path: Path) -> Path:
    rows = [
        {"id": f"add-{i}", "prompt": PROMPT, "tests": REAL_TESTS, "solution": "    return a + b\n"}
        for i in range(3)
    ]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe(tmp_path: Path, data: Path, **settings) -> dict:
    return {
        "version": 1,
        "name": "sd",
        "run_dir": str(tmp_path / "run"),
        "iterations": 1,
        "roles": {"actor": {"backend": "scripted", "model": "scripted"}},
        "data": {
            "train": [{"name": "json", "path": str(data)}],
            "eval": [{"name": "json", "path": str(data)}],
        },
        "sampling": {"n": 2},
        "trainer": {"name": "none"},
        "eval": {"baseline": False, "n": 2, "temperature": 0.7},
        "plugins": {"settings": {"selfdebug": {"rounds": 2, "tests": 3, **settings}}},
    }


def run_loop(run_context, tmp_path: Path, data: Path, **settings) -> Path:
    ScriptedModel.prompts = []
    run = run_context(
        recipe(tmp_path, data, **settings), extra_plugins=[ScriptedPlugin()], start=False
    )
    Loop(run).run_all()
    return tmp_path / "run"


@pytest.fixture
def scripted() -> SimpleNamespace:
    """The scripted model, its texts and the helpers that run the loop on it."""
    return SimpleNamespace(
        FIXED=FIXED,
        ScriptedModel=ScriptedModel,
        ScriptedPlugin=ScriptedPlugin,
        recipe=recipe,
        run_loop=run_loop,
    )
