"""In-execution debugging in two turns: the model judges a trace's blocks, then fixes.

A round traces programs (every program, or only those failing a
self-written test: ``trace``) on one self-written test's input and asks
for a verdict per block (purpose ``verdicts``, not an answer). The next
round reads the verdicts: a reply that judges every shown block correct
keeps the program (``all_correct: keep``); any other reply (a block judged
wrong, some blocks not judged, nothing readable) gets the turn that asks
for the corrected function (purpose ``debug``, ``how: debug-in``), whose
``request.meta.block_verdicts`` holds what was read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reasonloop.core.records import Message
from reasonloop.plugins.selfdebug.prompts import (
    call_in_test,
    debug_in_message,
    entry_point_of,
    pick,
    revise_after_verdicts_message,
)
from reasonloop.plugins.selfdebug.state import NAME
from reasonloop.plugins.selfdebug.verdicts import parse_block_verdicts

if TYPE_CHECKING:
    from reasonloop.core.context import RoundContext
    from reasonloop.core.records import Problem, Request, Sample
    from reasonloop.execution import ExecutionResult
    from reasonloop.plugins.selfdebug.state import SelfDebugState

__all__ = ["CheckedProgram", "is_verdicts", "revision_requests", "trace_requests"]


@dataclass
class CheckedProgram:
    """A program of one problem and how it did on the problem's self-written tests."""

    problem: Problem
    sample: Sample
    tests: list[str]
    program: str
    result: ExecutionResult


def is_verdicts(s: Sample) -> bool:
    """The model's per-block verdicts on a trace (not an answer to the problem)."""
    return s.request.plugin == NAME and s.request.purpose == "verdicts"


def trace_requests(
    ctx: RoundContext, st: SelfDebugState, checked: list[CheckedProgram]
) -> list[Request]:
    """Trace the programs the ``trace`` gate lets through; ask for verdicts on each trace."""
    from reasonloop.execution import Job

    cfg = st.settings
    chosen: list[tuple[CheckedProgram, int, str]] = []
    for c in checked:
        if cfg.trace == "failing" and c.result.correct:
            continue
        failing = sorted({f["test"] for f in c.result.failures if f["test"] < len(c.tests)})
        indices = failing if cfg.trace == "failing" and failing else list(range(len(c.tests)))
        index = pick(indices, c.sample.id)
        entry = entry_point_of(c.problem.prompt, c.problem.metadata) or ""
        chosen.append((c, index, call_in_test(c.tests[index], entry) or f"{entry}()"))
    options = {"keep_blocks": cfg.trace_blocks}
    traced = st.run_jobs(
        [Job(c.program, trace_call=call, trace_options=options) for c, _, call in chosen]
    )
    requests = []
    for (c, index, call), res in zip(chosen, traced, strict=True):
        feedback = debug_in_message(call, res)
        blocks = [b["index"] for b in (res.trace or {}).get("blocks", [])]
        meta = {
            "debug_round": c.sample.request.meta.get("debug_round", 0) + 1,
            "self_tests_passed": f"{len(c.result.passed)}/{len(c.tests)}",
            "traced_test": index,
            "feedback": feedback,
        }
        messages = [
            *ctx.run.problem_messages(c.problem),
            Message(role="assistant", content=c.sample.text),
            Message(role="user", content=feedback),
        ]
        if not blocks:  # it does not run: nothing to judge, ask for the fix at once
            requests.append(_revision(ctx, st, c.problem, c.sample, messages, meta))
            continue
        requests.append(
            ctx.request(
                c.problem,
                messages,
                plugin=NAME,
                purpose="verdicts",
                how="trace-review",
                parent=c.sample,
                answers_problem=False,
                meta={**meta, "blocks": blocks},
                **st.params(ctx, cfg.debug_max_tokens),
            )
        )
    return requests


def revision_requests(
    ctx: RoundContext, st: SelfDebugState, problems: list[Problem]
) -> list[Request]:
    """The fix turn for each verdict reply of the last round that does not keep its program."""
    by_id = {p.id: p for p in problems}
    requests = []
    for v in ctx.new_samples:
        problem = by_id.get(v.problem_id)
        if problem is None or not is_verdicts(v):
            continue
        program = next(
            (s for s in ctx.samples_for(problem.id) if s.id == v.request.parent_sample_id), None
        )
        if program is None:
            continue
        verdicts = parse_block_verdicts(v.completion, v.request.meta.get("blocks", []))
        if verdicts.outcome == "all-correct" and st.settings.all_correct == "keep":
            continue
        messages = [
            *v.request.messages,
            Message(role="assistant", content=v.completion),
            Message(role="user", content=revise_after_verdicts_message()),
        ]
        meta = {
            k: v.request.meta.get(k) for k in ("debug_round", "self_tests_passed", "traced_test")
        }
        meta |= {
            "feedback": v.request.meta.get("feedback", ""),
            "block_verdicts": verdicts.to_meta(),
            "verdicts_sample_id": v.id,
        }
        requests.append(_revision(ctx, st, problem, program, messages, meta))
    return requests


def _revision(
    ctx: RoundContext,
    st: SelfDebugState,
    problem: Problem,
    program: Sample,
    messages: list[Message],
    meta: dict,
) -> Request:
    return ctx.request(
        problem,
        messages,
        plugin=NAME,
        purpose="debug",
        how="debug-in",
        parent=program,
        meta=meta,
        **st.params(ctx, st.settings.debug_max_tokens),
    )
