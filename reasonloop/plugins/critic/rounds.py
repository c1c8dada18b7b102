"""The critic's sampling rounds: which requests follow from which samples.

Everything here is a function of the samples a round is given (their
lineage and ``request.meta``), so a resumed stage asks for exactly the
requests it asked for before, with the same ids.

Training (each plain sample comes from the ``selfimprove`` round 0):

- round 1: a critique (role ``critic``) of up to ``critiques_per_problem``
  (or ``all``) distinct wrong plain samples per problem; Monte-Carlo rollouts (role
  ``actor``, ``prefill`` = a step prefix) from up to ``rollout_samples`` of
  them when ``rollouts`` is on; ``baseline_samples`` extra plain samples of
  hard problems when that is on;
- round 2: ``refinements`` revisions (role ``actor``) per critique.

Evaluation, ``refine``: each answer is critiqued, then revised with the
critique, up to ``refine_rounds`` times (stopping once the critic accepts,
if so set). ``select``: each distinct answer is critiqued once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reasonloop.core.records import Message, Problem, Request, Sample, Verdict
from reasonloop.plugins.critic.critique import (
    Critique,
    number_steps,
    parse_critique,
    render,
    split_steps,
)
from reasonloop.plugins.critic.settings import NAME, CriticSettings

if TYPE_CHECKING:
    from reasonloop.core.context import RoundContext, RunContext

__all__ = [
    "PLAIN_PLUGIN",
    "critique_of",
    "critique_prompt",
    "is_answer",
    "is_check",
    "is_critique",
    "refine_messages",
    "round_requests",
    "step_prefix",
]

#: The built-in plugin whose round 0 gives the plain samples.
PLAIN_PLUGIN = "selfimprove"


def is_critique(s: Sample) -> bool:
    return s.request.plugin == NAME and s.request.purpose == "critique"


def is_check(s: Sample) -> bool:
    """A training-time critique of a correct plain sample (``annotate_correct``)."""
    return s.request.plugin == NAME and s.request.purpose == "critique-correct"


def is_plain(s: Sample) -> bool:
    return s.request.plugin == PLAIN_PLUGIN and s.request.purpose in ("sample", "eval")


def is_refinement(s: Sample) -> bool:
    return s.request.plugin == NAME and s.request.purpose == "refine"


def is_answer(s: Sample) -> bool:
    """A plain answer or a refinement: what the critic reviews."""
    return is_plain(s) or is_refinement(s)


def critique_of(c: Sample) -> Critique:
    """Parse critique sample ``c`` against the steps its request showed, in its format."""
    steps = list(c.request.meta.get("steps", []))
    return parse_critique(c.text, len(steps), c.request.meta.get("format", "auto"), steps)


def normalised(text: str) -> str:
    return " ".join(text.split()).lower()


def step_prefix(solution: str, steps: list[str], k: int) -> str:
    """The solution's text through its ``k``-th step, with the whitespace after it."""
    pos = 0
    for step in steps[:k]:
        found = solution.find(step, pos)
        if found < 0:  # split_steps only strips, so every step is found
            raise ValueError(f"step {step!r} is not in the solution")
        pos = found + len(step)
    end = pos
    while end < len(solution) and solution[end].isspace():
        end += 1
    return solution[:end] if end > pos else solution[:pos] + "\n"


def refine_messages(
    run: RunContext, problem: Problem, answer: Sample, feedback: str, cfg: CriticSettings
) -> list[Message]:
    """The actor's conversation: question, its answer, the critique, the request to revise."""
    return [
        *run.problem_messages(problem),
        Message(role="assistant", content=answer.text),
        Message(role="user", content=render(cfg.refine_template, critique=feedback)),
    ]


def round_requests(ctx: RoundContext, cfg: CriticSettings) -> list[Request]:
    problems = {p.id: p for p in ctx.problems}
    requests: list[Request] = []
    by_problem: dict[str, list[Sample]] = {}
    for s in ctx.new_samples:
        by_problem.setdefault(s.problem_id, []).append(s)
    for pid, new in by_problem.items():
        problem = problems[pid]
        if ctx.mode == "train":
            requests += _train_requests(ctx, cfg, problem, new)
        elif cfg.test_time != "off":
            requests += _eval_requests(ctx, cfg, problem, new)
    return requests


# -- training ------------------------------------------------------------------


def _train_requests(
    ctx: RoundContext, cfg: CriticSettings, problem: Problem, new: list[Sample]
) -> list[Request]:
    out: list[Request] = []
    plain = [s for s in new if is_plain(s)]
    if plain:
        wrong = _distinct(s for s in plain if s.verdict == Verdict.WRONG)
        cap = None if cfg.critiques_per_problem == "all" else cfg.critiques_per_problem
        role = "annotator" if cfg.annotator else "critic"
        for s in wrong[:cap]:
            out.append(_critique_request(ctx, cfg, problem, s, depth=0, role=role))
        right = _distinct(s for s in plain if s.correct)
        for s in right[: cfg.annotate_correct]:
            out.append(
                _critique_request(
                    ctx, cfg, problem, s, depth=0, role=role, purpose="critique-correct"
                )
            )
        if cfg.rollouts:
            for s in wrong[: cfg.rollout_samples]:
                out += _rollout_requests(ctx, cfg, problem, s)
        if cfg.baseline_samples and not any(s.correct for s in plain):
            out.append(
                ctx.request(
                    problem,
                    ctx.run.problem_messages(problem),
                    plugin=NAME,
                    purpose="resample",
                    how="plain-resample",
                    n=cfg.baseline_samples,
                )
            )
    for c in new:
        if is_critique(c):
            out += _refine_requests(ctx, cfg, problem, c, n=cfg.refinements)
    return out


def _rollout_requests(
    ctx: RoundContext, cfg: CriticSettings, problem: Problem, s: Sample
) -> list[Request]:
    steps = split_steps(s.text)
    if not 2 <= len(steps) <= cfg.rollout_max_steps:
        return []
    return [
        ctx.request(
            problem,
            ctx.run.problem_messages(problem),
            plugin=NAME,
            purpose="rollout",
            how="rollout",
            parent=s,
            key=f"step-{k}",
            prefill=step_prefix(s.text, steps, k),
            meta={"step": k, "steps": len(steps)},
            n=cfg.rollouts,
        )
        for k in range(1, len(steps))
    ]


# -- evaluation ----------------------------------------------------------------


def _eval_requests(
    ctx: RoundContext, cfg: CriticSettings, problem: Problem, new: list[Sample]
) -> list[Request]:
    out: list[Request] = []
    answers = [s for s in new if is_answer(s)]
    if cfg.test_time == "select":
        for s in _distinct(a for a in answers if is_plain(a)):
            out.append(_critique_request(ctx, cfg, problem, s, depth=0))
        return out
    for s in answers:
        depth = int(s.request.meta.get("depth", 0)) if is_refinement(s) else 0
        if depth < cfg.refine_rounds:
            out.append(_critique_request(ctx, cfg, problem, s, depth=depth))
    for c in new:
        if not is_critique(c):
            continue
        if cfg.stop_when_accepted and critique_of(c).accepts:
            continue
        out += _refine_requests(ctx, cfg, problem, c, n=1)
    return out


# -- shared --------------------------------------------------------------------


def _distinct(samples: Iterable[Sample]) -> list[Sample]:
    """The first sample of each distinct text (up to spaces and case), in order."""
    seen: set[str] = set()
    out = []
    for s in samples:
        key = normalised(s.text)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _critic_sampling(ctx: RoundContext, cfg: CriticSettings) -> dict[str, Any]:
    params: dict[str, Any] = {}
    temperature, max_tokens = cfg.critique_temperature, cfg.critique_max_tokens
    if ctx.mode == "eval":
        ev = ctx.recipe.eval
        temperature = ev.temperature if temperature is None else temperature
        max_tokens = ev.max_tokens if max_tokens is None else max_tokens
    if temperature is not None:
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return params


def critique_prompt(cfg: CriticSettings, question: str, steps: list[str]) -> str:
    """The critic's message about a solution with ``steps`` (also its training prompt)."""
    return render(
        cfg.critique_template,
        question=question,
        steps=number_steps(steps) or "(empty)",
        solution="\n".join(steps) or "(empty)",
    )


def _critique_request(
    ctx: RoundContext,
    cfg: CriticSettings,
    problem: Problem,
    answer: Sample,
    depth: int,
    role: str = "critic",
    purpose: str = "critique",
) -> Request:
    steps = split_steps(answer.text)
    text = critique_prompt(cfg, problem.prompt, steps)
    gold = problem.reference.answer if problem.reference else None
    if role == "annotator" and cfg.annotator_hint and gold and ctx.mode == "train":
        text += render(cfg.annotator_hint, answer=gold)
    return ctx.request(
        problem,
        [Message(role="user", content=text)],
        plugin=NAME,
        purpose=purpose,
        how="critique",
        role=role,
        parent=answer,
        prefill=cfg.critique_prefill or None,
        meta={"steps": steps, "depth": depth, "format": cfg.critique_format},
        **_critic_sampling(ctx, cfg),
    )


def _refine_requests(
    ctx: RoundContext, cfg: CriticSettings, problem: Problem, c: Sample, n: int
) -> list[Request]:
    critique = critique_of(c)
    if not critique.parsed and not cfg.refine_unparsable:
        return []
    answer = next(
        (s for s in ctx.samples_for(problem.id) if s.id == c.request.parent_sample_id), None
    )
    if answer is None:
        return []
    params: dict[str, Any] = {"n": n}
    if ctx.mode == "eval":
        params["temperature"] = ctx.recipe.eval.temperature
        if ctx.recipe.eval.max_tokens is not None:
            params["max_tokens"] = ctx.recipe.eval.max_tokens
    return [
        ctx.request(
            problem,
            refine_messages(ctx.run, problem, answer, critique.feedback, cfg),
            plugin=NAME,
            purpose="refine",
            how="refined-after-critique",
            parent=c,
            meta={
                "depth": int(c.request.meta.get("depth", 0)) + 1,
                "answer_id": answer.id,
                "critique": critique.as_dict(),
            },
            **params,
        )
    ]
