"""The self-debugging tests' scripted model, their code problems and the loop they run.

The scripted model (``ScriptedModel``, a fake named as such) stands in for
SmolLM2-135M, which almost never fixes a program: these tests must see a fix
happen to check what follows from it. Its class attributes set what it does
(the first answer, the tests it writes, how it judges a trace, whether it
trusts a wrong test); ``run_loop`` resets them after each run. The helpers
reach the tests through the ``scripted`` fixture.
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

# What a model that trusts the wrong test add(2, 2) == 5 writes.
BROKEN = "```python\ndef add(a, b):\n    return a + b + (a == 2)\n```"


# Two right tests and one wrong one (the canonical solution passes 2 of 3).
WRITTEN_TESTS = (
    "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(2, 2) == 5\n```"
)

# Only right tests: a correct program passes them all.
RIGHT_TESTS = "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n```"

REAL_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def judge_blocks(program: str) -> str:
    """The scripted verdicts: block 0 of a subtracting program is wrong, else all is correct."""
    if "a - b" in program:
        return "[Block 0]: wrong, it subtracts b instead of adding it."
    return "[Block 0]: correct, it returns the sum."


class ScriptedModel:
    """A fake model: buggy first answers, fixed ones after feedback that shows the bug."""

    prompts: ClassVar[list[Request]] = []
    first: ClassVar[str] = BUGGY
    written: ClassVar[str] = WRITTEN_TESTS
    judge: ClassVar = staticmethod(judge_blocks)
    #: Rewrites a correct program to pass add(2, 2) == 5 when feedback shows that test.
    gullible: ClassVar[bool] = False

    @classmethod
    def reset(cls) -> None:
        cls.prompts = []
        cls.first, cls.written, cls.gullible = BUGGY, WRITTEN_TESTS, False
        cls.judge = staticmethod(judge_blocks)

    def generate(self, requests: Sequence[Request], on_progress=None) -> list[list[Completion]]:
        out = []
        for r in requests:
            ScriptedModel.prompts.append(r)
            last = r.messages[-1].content
            program = next((m.content for m in r.messages if m.role == "assistant"), "")
            if r.purpose == "tests":
                text = ScriptedModel.written
            elif r.purpose == "verdicts":
                text = ScriptedModel.judge(program)
            elif r.purpose == "debug" and ScriptedModel.gullible and "add(2, 2) == 5" in last:
                text = BROKEN
            elif r.purpose == "debug" and (
                program == FIXED  # keeps a fixed program
                or "got: -1" in last  # detail feedback shows the bug
                or "[Block 0]: wrong" in "\n".join(m.content for m in r.messages)  # own verdict
                or "Your code does not run" in last
                or "assert add(1, 2) == 3" in last  # label feedback names the test
            ):
                text = FIXED
            elif r.purpose == "debug":
                text = BUGGY
            else:
                text = ScriptedModel.first
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
    """Run the loop on the scripted model as its class attributes stand, then reset them."""
    ScriptedModel.prompts = []
    try:
        run = run_context(
            recipe(tmp_path, data, **settings), extra_plugins=[ScriptedPlugin()], start=False
        )
        Loop(run).run_all()
    finally:
        prompts = ScriptedModel.prompts
        ScriptedModel.reset()
        ScriptedModel.prompts = prompts
    return tmp_path / "run"


@pytest.fixture
def scripted() -> SimpleNamespace:
    """The scripted model, its texts and the helpers that run the loop on it."""
    return SimpleNamespace(
        FIXED=FIXED,
        BROKEN=BROKEN,
        RIGHT_TESTS=RIGHT_TESTS,
        ScriptedModel=ScriptedModel,
        ScriptedPlugin=ScriptedPlugin,
        recipe=recipe,
        run_loop=run_loop,
    )
