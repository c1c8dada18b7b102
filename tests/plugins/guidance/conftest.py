"""The guidance tests' scripted backend (it answers from the reference solutions) and helpers.

The backend is scripted because these tests check what the plugin asks and
keeps, not generation. The helpers reach the tests through the ``scripted``
fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reasonloop import hookimpl
from reasonloop.core.context import IterationContext
from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.loop import Loop
from reasonloop.core.records import Completion, Request, Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog
from reasonloop.core.scheduler import BackendPool, RoundScheduler
from reasonloop.datasets.arithmetic import load_arithmetic

TEMPLATE = "{prompt}\nEnd with 'Answer: <number>'."

#: Correct plain samples (of n=4) per problem: p0 solved, p1 and p2 deficient (t=2), p3 not.
PLAIN_CORRECT = [4, 1, 0, 2]


def problems() -> list:
    # Multistep problems with three steps: a reference of three working lines and "Answer: N".
    spec = DatasetSpec(
        name="arithmetic",
        options={"count": 4, "seed": 7, "split": "train", "kinds": ["multistep"],
                 "difficulties": [2]},
    )  # fmt: skip
    return load_arithmetic(spec)


def worked(problem) -> str:
    return problem.reference.rationale


Respond = Callable[[Request, int, Any], str]


def default_respond(request: Request, index: int, problem) -> str:
    """Plain: PLAIN_CORRECT[i] worked answers; guided: the worked reference; teacher: a note."""
    if request.role == "teacher":
        return "The second step is wrong: it should subtract."
    if request.plugin == "selfimprove":
        i = int(problem.id.rsplit("-", 1)[1])
        return worked(problem) if index < PLAIN_CORRECT[i] else "I think it is 1.\nAnswer: 1"
    text = worked(problem)
    prefill = request.prefill or ""
    assert text.startswith(prefill)
    return text[len(prefill) :]


class ScriptedBackend:
    def __init__(self, calls: list, respond: Respond, problems: dict):
        self.calls = calls
        self.respond = respond
        self.problems = problems

    def generate(self, requests, on_progress=None):
        self.calls.append([(r.role, r.purpose) for r in requests])
        out = []
        for r in requests:
            completions = []
            for i in range(r.sampling.n):
                text = self.respond(r, i, self.problems[r.problem_id])
                prompt = sum(len(m.content.split()) for m in r.messages)
                completions.append(
                    Completion(text=text, prompt_tokens=prompt, completion_tokens=len(text.split()))
                )
            out.append(completions)
        return out

    def close(self):
        pass


def recipe_dict(settings: dict | None, **extra: Any) -> dict:
    data = {
        "version": 1,
        "name": "g",
        "roles": {"actor": {"backend": "scripted", "model": "actor"}},
        "prompt": {"template": TEMPLATE},
        "data": {},
        "sampling": {"n": 4, "max_rounds": 12},
        "plugins": {"settings": {} if settings is None else {"guidance": settings}},
    }
    data.update(extra)
    return data


class Task:
    total = 0

    def set_total(self, t):
        self.total = t

    def advance(self, n=1, tokens=0):
        pass


def make_stage(
    run_context, tmp_path: Path, settings: dict | None, respond: Respond = default_respond, **extra
):
    calls: list = []
    probs = problems()
    by_id = {p.id: p for p in probs}

    class Scripted:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("scripted", lambda model, options: ScriptedBackend(calls, respond, by_id))

    run = run_context(recipe_dict(settings, **extra), extra_plugins=[Scripted()], run_dir=tmp_path)
    stage = IterationContext(run, 0, "train", probs, {"actor": "actor"})
    verifier = run.verifiers.get("math")({})
    return stage, RoundScheduler(stage, BackendPool(run), verifier), calls


def sample_rounds(
    run_context,
    tmp_path: Path,
    settings: dict | None,
    respond: Respond = default_respond,
    **kw,
):
    stage, scheduler, calls = make_stage(run_context, tmp_path, settings, respond, **kw)
    log = JsonlLog(tmp_path / "samples.jsonl", Sample)
    samples = scheduler.run_rounds(log, stage.recipe.sampling.max_rounds, Task())
    return stage, samples, calls


def guided(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.request.plugin == "guidance"]


def examples_of(stage, samples) -> list[TrainingExample]:
    out = []
    for p in stage.problems:
        own = [s for s in samples if s.problem_id == p.id]
        out.extend(
            stage.run.pm.get_plugin("guidance.run").reasonloop_training_examples(p, own, stage)
            or []
        )
    return out


def run_loop(
    run_context, tmp_path: Path, settings: dict, data: dict, respond: Respond = default_respond
):
    calls: list = []
    holder: dict = {}

    class Scripted:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register(
                "scripted", lambda model, options: ScriptedBackend(calls, respond, holder["by_id"])
            )

        @hookimpl
        def reasonloop_run_start(self, run):
            holder["run"] = run

    run = run_context(
        recipe_dict(settings, data=data, trainer={"name": "none"}, iterations=2),
        extra_plugins=[Scripted()],
        run_dir=tmp_path / "run",
        start=False,
    )
    loop = Loop(run)
    holder["by_id"] = {p.id: p for split in ("train", "eval") for p in loop._problems(split)}
    loop.run_all()
    return run, calls


@pytest.fixture
def scripted() -> SimpleNamespace:
    """The scripted backend's problems, answers and the helpers that run stages on it."""
    return SimpleNamespace(
        TEMPLATE=TEMPLATE,
        problems=problems,
        worked=worked,
        default_respond=default_respond,
        Task=Task,
        make_stage=make_stage,
        sample_rounds=sample_rounds,
        guided=guided,
        examples_of=examples_of,
        run_loop=run_loop,
    )
