"""The ``judge`` role: pairwise comparisons of candidates, the ground truth for reliability.

A seeded sample of candidate pairs of the same problem is shown to the judge
in both orders (A/B, then B/A), which cancels its position bias: a pair's
preference is the mean over the orders whose verdict could be read, so a
judge that picks whatever is shown first ends at a tie. The requests go
through the core (:meth:`IterationContext.generate`), batched per role and
counted in the compute ledger under plugin ``raters``, purpose ``judge``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reasonloop.core.context import AFTER_ROUNDS
from reasonloop.core.records import Message, Problem, Request, Sample, TrainingExample, stable_id
from reasonloop.plugins.raters.reliability import Preference, judged_reliability
from reasonloop.plugins.raters.settings import NAME, JudgeSettings, RatersSettings

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RunContext

__all__ = [
    "JUDGE_ROLE",
    "PURPOSE",
    "JudgeRecord",
    "ask_judge",
    "judge_pairs",
    "parse_verdict",
    "reliability_from_judge",
    "uses_judge",
]

JUDGE_ROLE = "judge"
PURPOSE = "judge"
#: The two position orders each pair is shown in.
ORDERS = ("ab", "ba")

#: Every word a verdict may use, and what it means (lower case).
_WORD = {"a": "A", "b": "B", **dict.fromkeys(("tie", "equal", "draw", "both", "neither"), "tie")}
_CHOICE = r"(A|B|(?i:tie|equal|draw|both|neither))\b"
#: An explicit verdict: "Verdict: A", "**Final verdict**: [[B]]", "Better solution: Solution A".
_MARKED = re.compile(
    r"(?i:verdict|winner|better\s+solution|final\s+answer|preferred(?:\s+solution)?)"
    r"[\s*_]*(?:is)?[\s*_:=\-]*[\s\[(\"'*_]*(?:(?i:solution|response)\s+)?" + _CHOICE
)
#: MT-Bench's bracketed form: [[A]], [[B]], [[C]] (tie) or [[tie]].
_BRACKETED = re.compile(r"\[\[\s*(A|B|C|(?i:tie))\s*\]\]")
#: A judgement in prose that names one solution as better.
_PROSE = re.compile(
    r"(?i:solution|response)\s+(A|B)\s+(?i:is|was)\s+(?i:better|superior|preferable|"
    r"preferred|more\s+correct|stronger)|(?i:prefer)\s+(?i:solution\s+)?(A|B)\b"
)
_BARE = re.compile(r"^[\s*_\"'(\[]*(?:(?i:solution|response)\s+)?" + _CHOICE + r"[\s*_\"').\]]*$")


def parse_verdict(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a judge's answer; ``None`` when it cannot be read.

    Reasoning in ``<think>`` blocks is skipped. Explicit verdict lines win;
    a line that names several different verdicts (an echo of the
    instructions) is ignored, and explicit verdicts that contradict each
    other make the answer unreadable rather than letting the last one win.
    Without an explicit verdict, an answer that is only a letter or a
    sentence naming one solution as better is read.
    """
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    found: set[str] = set()
    for line in text.splitlines():
        named = {_verdict(m.group(1)) for m in _MARKED.finditer(line)}
        named |= {_verdict(m.group(1)) for m in _BRACKETED.finditer(line)}
        if len(named) == 1:
            found |= named
    if found:
        return found.pop() if len(found) == 1 else None
    bare = _BARE.match(text.strip())
    if bare:
        return _verdict(bare.group(1))
    prose = {_verdict(m.group(1) or m.group(2)) for m in _PROSE.finditer(text)}
    return prose.pop() if len(prose) == 1 else None


def _verdict(word: str) -> str:
    return "tie" if word == "C" else _WORD.get(word.lower(), word)


def judge_pairs(pool: Sequence[TrainingExample], count: int, seed: object) -> list[tuple[int, int]]:
    """Up to ``count`` pairs of pool indices of the same problem, drawn at random (seeded)."""
    by_problem: dict[str, list[int]] = {}
    for i, ex in enumerate(pool):
        by_problem.setdefault(ex.problem_id, []).append(i)
    every = [
        (group[x], group[y])
        for group in by_problem.values()
        for x in range(len(group))
        for y in range(x + 1, len(group))
    ]
    rng = random.Random(stable_id(seed, NAME, PURPOSE))
    chosen = rng.sample(every, min(count, len(every)))
    return sorted(chosen)


@dataclass
class JudgeRecord:
    """What the judge said, for ``raters.json``."""

    pairs: int = 0
    comparisons: int = 0
    unparsable: int = 0
    ties: int = 0
    #: Pairs whose two orders were both read and named different winners.
    inconsistent: int = 0
    #: Of the verdicts that named a winner, the share that named the one shown first.
    first_shown: float | None = None
    preferences: list[Preference] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        decided = sum(1 for p in self.preferences if p.p != 0.5)
        return {
            "pairs": self.pairs,
            "comparisons": self.comparisons,
            "unparsable": self.unparsable,
            "ties": self.ties,
            "inconsistent": self.inconsistent,
            "decided_pairs": decided,
            "first_shown": None if self.first_shown is None else round(self.first_shown, 4),
        }


def ask_judge(
    pool: Sequence[TrainingExample],
    problems: dict[str, Problem],
    ctx: IterationContext,
    cfg: JudgeSettings,
) -> JudgeRecord:
    """Compare a seeded sample of pairs in both orders; the judge's preference per pair."""
    pairs = judge_pairs(pool, cfg.pairs, (ctx.recipe.seed, ctx.iteration))
    requests: list[Request] = []
    for a, b in pairs:
        first, second = pool[a], pool[b]
        problem = problems[first.problem_id]
        for order in ORDERS:
            shown = (first, second) if order == "ab" else (second, first)
            text = (
                cfg.template.replace("{problem}", problem.prompt)
                .replace("{first}", _solution(shown[0]))
                .replace("{second}", _solution(shown[1]))
            )
            requests.append(
                ctx.request(
                    problem,
                    [Message(role="user", content=text)],
                    round=AFTER_ROUNDS,
                    plugin=NAME,
                    purpose=PURPOSE,
                    role=JUDGE_ROLE,
                    key=f"{first.id}|{second.id}|{order}",
                    prefill=cfg.prefill,
                    answers_problem=False,
                    meta={"first": shown[0].id, "second": shown[1].id},
                    n=1,
                    temperature=cfg.temperature,
                    max_tokens=cfg.max_tokens,
                )
            )
    samples = ctx.generate(requests, f"judge iter {ctx.iteration}") if requests else []
    answered = {s.request.id: s for s in samples if s.index == 0}
    return preferences(pairs, [answered.get(r.id) for r in requests])


def preferences(pairs: list[tuple[int, int]], answers: list[Sample | None]) -> JudgeRecord:
    """Each pair's preference for its first candidate, from the judge's answers in both orders.

    ``answers`` holds two per pair, in :data:`ORDERS`; ``None`` is a missing answer.
    """
    record = JudgeRecord(pairs=len(pairs), comparisons=len(answers))
    first_wins = decided = 0
    for k, (a, b) in enumerate(pairs):
        votes = []
        winners = set()
        for order, sample in zip(ORDERS, answers[2 * k : 2 * k + 2], strict=True):
            verdict = None if sample is None else parse_verdict(sample.text)
            if verdict is None:
                record.unparsable += 1
                continue
            if verdict == "tie":
                record.ties += 1
                votes.append(0.5)
                continue
            decided += 1
            first_wins += verdict == "A"
            winner_is_a = (verdict == "A") == (order == "ab")
            winners.add(winner_is_a)
            votes.append(1.0 if winner_is_a else 0.0)
        if len(winners) == 2:
            record.inconsistent += 1
        if votes:
            record.preferences.append(Preference(a, b, sum(votes) / len(votes)))
    record.first_shown = first_wins / decided if decided else None
    return record


def _solution(ex: TrainingExample) -> str:
    return "\n".join(m.content for i, m in enumerate(ex.messages) if ex._trains(i))


def uses_judge(run: RunContext, cfg: RatersSettings) -> bool:
    """Whether reliability comes from the judge: asked for, or by default when there is one."""
    if cfg.weights is not None or cfg.reliability == "consensus":
        return False
    return cfg.reliability == "judge" or JUDGE_ROLE in run.recipe.roles


def reliability_from_judge(
    pool: list[TrainingExample],
    problems: dict[str, Problem],
    ctx: IterationContext,
    cfg: RatersSettings,
    scores: dict[str, list[float | None]],
    record: dict[str, Any],
) -> dict[str, float] | None:
    """Each rater's reliability from the judge; ``None``: from the consensus (or fixed weights).

    Writes what the judge said, and the reliability used, into ``record``
    (``raters.json``). When the judge decides no pair, the consensus stands in.
    """
    record["reliability"] = "fixed" if cfg.weights is not None else "consensus"
    if not uses_judge(ctx.run, cfg) or len(pool) < 2:
        return None
    asked = ask_judge(pool, problems, ctx, cfg.judge)
    judged = judged_reliability(scores, asked.preferences, cfg.judge.chance_corrected)
    record["judge"] = {
        **asked.as_dict(),
        "raters": {name: j.as_dict() for name, j in judged.items()},
    }
    if not any(p.p != 0.5 for p in asked.preferences):
        # Nothing to measure against: keep the consensus, and say so.
        record["judge"]["fallback"] = "the judge decided no pair: reliability from the consensus"
        ctx.run.progress.event(
            f"iteration {ctx.iteration}: the judge decided none of {asked.pairs} pairs "
            f"({asked.unparsable} of {asked.comparisons} answers unreadable); "
            "reliability from the raters' consensus"
        )
        return None
    record["reliability"] = "judge"
    return {name: j.reliability for name, j in judged.items()}
