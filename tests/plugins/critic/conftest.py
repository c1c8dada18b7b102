"""The critic tests' scripted run: a backend answering from a table, its problems, and helpers.

The backend answers from a table (these tests check which requests follow
from which samples, not generation); :func:`critic_run`, :func:`sample_rounds`
and the texts the table answers with reach the tests through fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.records import Completion, Problem, Reference, Request, Sample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler

DATA = Path(__file__).parent / "data" / "critic_outputs.jsonl"

QUESTION = "Mia has 2 apples and gets 2 more. How many apples does she have?"

RATIONALE = "GOLD-RATIONALE: 2 + 2 = 4."


def critic_run(run_context, tmp_path, settings, extra=(), **recipe):
    data = {
        "version": 1,
        "name": "t",
        "roles": {"actor": {"backend": "scripted", "model": "actor"}},
        "data": {},
        "sampling": {"n": 3},
        "trainer": {"name": "none"},
        "plugins": {"settings": {"critic": settings}},
    }
    data.update(recipe)
    calls: list[tuple[str, int]] = []
    run = run_context(data, extra_plugins=[Scripted(calls), *extra], run_dir=tmp_path, start=False)
    return run, calls


WRONG = {
    5: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 5.\nAnswer: 5",
    6: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 6.\nAnswer: 6",
    7: "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 7.\nAnswer: 7",
}

RIGHT = "Mia has 2 apples.\nShe gets 2 more, 2 + 2 = 4.\nAnswer: 4"

WORKED = "She has 2 + 2 = 4 apples.\nAnswer: 4"

SHORTCUT = "Answer: 4"


def accept(n_steps: int) -> str:
    """A critique accepting every step, as written after the prefill "Step 1:"."""
    return (
        " correct"
        + "".join(f"\nStep {k}: correct" for k in range(2, n_steps + 1))
        + ("\nFinal answer: correct")
    )


def reject(n_steps: int) -> str:
    if n_steps == 1:
        return " wrong - no working shown.\nFinal answer: wrong"
    return " correct - she has 2.\nStep 2: wrong - 2 + 2 is 4.\nFinal answer: wrong"


#: Plain answers per problem: p0 one right and a repeated wrong one, p1 three
#: different wrong ones, p2 all right, p3 wrong (and its critique unparsable).
PLAIN = {
    "p0": [RIGHT, WRONG[5], WRONG[5]],
    "p1": [WRONG[5], WRONG[6], WRONG[7]],
    "p2": [RIGHT, RIGHT, RIGHT],
    "p3": [WRONG[5]] * 3,
}


def script(r: Request, i: int) -> str:
    if r.role in ("critic", "annotator"):
        if r.problem_id == "p3":
            return " looks fine to me"
        shown, n_steps = r.messages[-1].content, len(r.meta["steps"])
        return accept(n_steps) if "2 + 2 = 4" in shown else reject(n_steps)
    if r.purpose == "refine":
        if "= 6" in r.messages[-2].content:  # p1's second critiqued answer: no luck
            return [SHORTCUT, "2 + 2 = 9.\nAnswer: 9"][i % 2]
        return [WORKED, SHORTCUT][i % 2]
    if r.purpose == "rollout":  # from step 1 the reference is reachable, from step 2 not
        return "She gets 2 more, 2 + 2 = 4.\nAnswer: 4" if r.meta["step"] == 1 else "Answer: 5"
    if r.purpose == "resample":
        return RIGHT if r.problem_id == "p1" and i == 0 else WRONG[7]
    plain = PLAIN.get(r.problem_id, [RIGHT])
    return plain[i % len(plain)]


class ScriptedBackend:
    def __init__(self, calls: list[tuple[str, int]]):
        self.calls = calls

    def generate(self, requests, on_progress=None):
        self.calls.append((requests[0].role, len(requests)))
        return [
            [
                Completion(text=script(r, i), prompt_tokens=20, completion_tokens=10)
                for i in range(r.sampling.n)
            ]
            for r in requests
        ]

    def close(self):
        pass


class Scripted:
    def __init__(self, calls):
        self.calls = calls

    @hookimpl
    def reasonloop_register_backends(self, register):
        register("scripted", lambda model, options: ScriptedBackend(self.calls))

    @hookimpl
    def reasonloop_register_datasets(self, register):
        register("twos", lambda spec: problems())


def problems(n: int = 4) -> list[Problem]:
    return [
        Problem(
            id=f"p{i}",
            prompt=QUESTION,
            reference=Reference(answer="4", rationale=RATIONALE),
            metadata={"difficulty": 1 + i % 2},
        )
        for i in range(n)
    ]


class Task:
    total = 0

    def set_total(self, t):
        self.total = t

    def advance(self, n=1, tokens=0):
        pass


def train_stage(run_context, tmp_path, settings, mode="train", extra=(), **recipe):
    run, calls = critic_run(run_context, tmp_path, settings, extra, **recipe)
    run.hooks.run_start(run)
    stage = IterationContext(run, 0, mode, problems(), {"actor": "actor"})
    verifier = run.verifiers.get("math")({})
    scheduler = RoundScheduler(stage, BackendPool(run), verifier)
    return stage, scheduler, calls


def sample_rounds(
    run_context, tmp_path, settings, mode="train", extra=(), name="s.jsonl", **recipe
):
    stage, scheduler, calls = train_stage(run_context, tmp_path, settings, mode, extra, **recipe)
    log = JsonlLog(tmp_path / name, Sample)
    samples = scheduler.run_rounds(log, max_rounds=8, task=Task())
    return stage, scheduler, calls, samples, log


@pytest.fixture(name="critic_run")
def critic_run_fixture():
    """``critic_run(run_context, tmp_path, settings, extra, **recipe)``: a scripted run."""
    return critic_run


@pytest.fixture(name="sample_rounds")
def sample_rounds_fixture():
    """``sample_rounds(run_context, tmp_path, settings, ...)``: one stage's rounds on the script."""
    return sample_rounds


@pytest.fixture
def scripted() -> SimpleNamespace:
    """The texts the scripted backend answers with, and the progress stand-in it runs under."""
    return SimpleNamespace(QUESTION=QUESTION, WORKED=WORKED, WRONG=WRONG, Task=Task)


@pytest.fixture(scope="session")
def critic_outputs() -> list[dict]:
    """Critiques SmolLM2-135M wrote in a real run of recipes/critique-math.yaml, one row each."""
    return [json.loads(line) for line in DATA.read_text().splitlines()]
