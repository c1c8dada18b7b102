"""Test time: which answer stands, and how accuracy grows with samples and rounds.

Answers are grouped by the math verifier's equivalence of their extracted
answers (``1/2`` and ``0.5`` vote together). ``select`` votes over the
answers the critic accepts, falling back to a plain vote when it accepts
none; ``refine`` follows each answer's chain of critiques and revisions to
its end. The metrics replay both on prefixes of the samples, so one
evaluation gives accuracy at n = 1, 2, 4, ... and after each refinement round.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reasonloop.core.lineage import SampleTree
from reasonloop.core.records import Sample
from reasonloop.plugins.critic.rounds import critique_of, is_critique, is_plain, is_refinement
from reasonloop.plugins.critic.rounds import normalised as _normalised
from reasonloop.plugins.critic.settings import CriticSettings
from reasonloop.verifiers.vote import majority

__all__ = [
    "CritiqueChains",
    "majority",
    "oracle_metrics",
    "prefix_sizes",
    "refine_metrics",
    "select_metrics",
]


def prefix_sizes(n: int) -> list[int]:
    """1, 2, 4, ... up to ``n``, and ``n`` itself."""
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k *= 2
    return [*sizes, n]


class CritiqueChains:
    """One problem's evaluation samples as answers, their critiques and their revisions."""

    def __init__(self, samples: list[Sample]):
        self.tree = SampleTree(samples)
        self.roots = sorted(
            (s for s in samples if is_plain(s)), key=lambda s: (s.request.round, s.index)
        )
        first_of_text: dict[str, Sample] = {}
        for s in self.roots:
            first_of_text.setdefault(_normalised(s.text), s)
        #: The sample whose critique speaks for each root (identical texts share one).
        self.voice = {s.id: first_of_text[_normalised(s.text)] for s in self.roots}
        self._accepts: dict[str, bool] = {}

    def critique(self, answer: Sample) -> Sample | None:
        return self.tree.first_child(answer, is_critique)

    def accepted(self, answer: Sample) -> bool:
        c = self.critique(self.voice.get(answer.id, answer))
        if c is None:
            return False
        if c.id not in self._accepts:  # each critique is parsed once, however often asked
            self._accepts[c.id] = critique_of(c).accepts
        return self._accepts[c.id]

    def revision(self, answer: Sample) -> Sample | None:
        """The first revision made with ``answer``'s critique, or ``None``."""
        c = self.critique(answer)
        return self.tree.first_child(c, is_refinement) if c is not None else None

    def chain(self, root: Sample) -> list[Sample]:
        """The answers of ``root``'s critique-and-revise chain, root first."""
        return self.tree.chain(root, self.revision)

    def chain_samples(self, root: Sample, depth: int) -> list[Sample]:
        """Every sample (answers and critiques) of ``root``'s chain through ``depth`` revisions."""
        out = []
        for d, answer in enumerate(self.chain(root)[: depth + 1]):
            out.append(answer)
            c = self.critique(answer)
            if c is not None and d < depth:
                out.append(c)
        return out


def select_answer(lineage: CritiqueChains, n: int | None = None) -> Sample | None:
    roots = lineage.roots[:n] if n else lineage.roots
    accepted = [s for s in roots if lineage.accepted(s)]
    return majority(accepted) or majority(roots) or (roots[0] if roots else None)


def refine_answer(lineage: CritiqueChains, depth: int | None = None) -> Sample | None:
    ends = [lineage.chain(r)[: None if depth is None else depth + 1][-1] for r in lineage.roots]
    return majority(ends) or (ends[0] if ends else None)


def _tokens(samples: list[Sample]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for s in samples:
        out[s.request.role] += s.prompt_tokens + s.completion_tokens
    return dict(sorted(out.items()))


def _critique_stats(samples: list[Sample]) -> dict[str, Any]:
    crits = [s for s in samples if is_critique(s)]
    parsed = [critique_of(c) for c in crits]
    tree = SampleTree(samples)
    agree = judged = 0
    for c, p in zip(crits, parsed, strict=True):
        answer = tree.parent(c)
        if p.parsed and answer is not None and answer.verdict is not None:
            judged += 1
            agree += p.accepts == answer.correct
    return {
        "critiques": len(crits),
        "parsed": sum(p.parsed for p in parsed),
        "parse_rate": _rate(sum(p.parsed for p in parsed), len(crits)),
        "accepted": sum(p.accepts for p in parsed),
        # How often acceptance matched the verifier's verdict on the answer.
        "agreement_with_verifier": _rate(agree, judged),
    }


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _plain_vote(lineages: dict[str, CritiqueChains], k: int) -> tuple[int, int]:
    """(problems right, actor tokens) of plain majority voting on the first ``k`` samples."""
    ok = tokens = 0
    for lineage in lineages.values():
        roots = lineage.roots[:k]
        plain = majority(roots) or (roots[0] if roots else None)
        ok += bool(plain and plain.correct)
        tokens += sum(s.prompt_tokens + s.completion_tokens for s in roots)
    return ok, tokens


def select_metrics(by_problem: dict[str, list[Sample]], n: int) -> dict[str, Any]:
    """Accuracy and tokens of critic-guided and plain voting at n = 1, 2, 4, ...

    Each row also gives plain voting at the same total tokens: on the most
    samples whose actor tokens fit in what the critic-guided vote spent
    (actor and critic); ``same_tokens_capped`` says the evaluation had too few
    samples to spend all of it.
    """
    rows = []
    lineages = {pid: CritiqueChains(samples) for pid, samples in by_problem.items()}
    total = len(lineages) or 1
    plain = {k: _plain_vote(lineages, k) for k in range(1, n + 1)}
    for k in prefix_sizes(n):
        critic_ok = critic = 0
        for lineage in lineages.values():
            roots = lineage.roots[:k]
            chosen = select_answer(lineage, k)
            critic_ok += bool(chosen and chosen.correct)
            voices = {lineage.voice[s.id].id: lineage.voice[s.id] for s in roots}
            for voice in voices.values():
                c = lineage.critique(voice)
                critic += c.prompt_tokens + c.completion_tokens if c is not None else 0
        plain_ok, actor = plain[k]
        budget = actor + critic
        fits = [j for j in plain if plain[j][1] <= budget] or [k]
        same = max(fits)
        rows.append(
            {
                "n": k,
                "critic_vote_accuracy": round(critic_ok / total, 4),
                "majority_vote_accuracy": round(plain_ok / total, 4),
                "actor_tokens": actor,
                "critic_tokens": critic,
                "same_tokens_n": same,
                "same_tokens_majority_accuracy": round(plain[same][0] / total, 4),
                "same_tokens_capped": same == n and plain[n][1] < budget,
            }
        )
    samples = [s for group in by_problem.values() for s in group]
    return {"mode": "select", "by_n": rows, **_critique_stats(samples), "tokens": _tokens(samples)}


def refine_metrics(by_problem: dict[str, list[Sample]], cfg: CriticSettings) -> dict[str, Any]:
    """Accuracy and tokens after 0, 1, ... critique-and-revise rounds."""
    rows = []
    lineages = {pid: CritiqueChains(samples) for pid, samples in by_problem.items()}
    before = {pid: refine_answer(lin, 0) for pid, lin in lineages.items()}
    for depth in range(cfg.refine_rounds + 1):
        ok = fixed = broken = 0
        spent: list[Sample] = []
        for pid, lineage in lineages.items():
            chosen = refine_answer(lineage, depth)
            ok += bool(chosen and chosen.correct)
            first = before[pid]
            if first is not None and chosen is not None:
                fixed += (not first.correct) and chosen.correct
                broken += first.correct and not chosen.correct
            for root in lineage.roots:
                spent += lineage.chain_samples(root, depth)
        tokens = _tokens(spent)
        rows.append(
            {
                "rounds": depth,
                "accuracy": round(ok / (len(lineages) or 1), 4),
                "fixed": fixed,
                "broken": broken,
                "actor_tokens": tokens.get("actor", 0),
                "critic_tokens": tokens.get("critic", 0),
            }
        )
    samples = [s for group in by_problem.values() for s in group]
    out = {
        "mode": "refine",
        "by_rounds": rows,
        **_critique_stats(samples),
        "tokens": _tokens(samples),
    }
    if cfg.oracle:
        out["oracle"] = oracle_metrics(lineages, cfg.refine_rounds)
    return out


def _oracle_chain(lineage: CritiqueChains, root: Sample, depth: int) -> list[Sample]:
    """The answers an oracle refines: ``root``'s chain through the first correct one."""
    chain = lineage.chain(root)[: depth + 1]
    first = next((i for i, a in enumerate(chain) if a.correct), len(chain) - 1)
    return chain[: first + 1]


def oracle_metrics(lineages: dict[str, CritiqueChains], rounds: int) -> dict[str, Any]:
    """The oracle upper bound after 0 ... ``rounds`` revisions: refine only wrong answers.

    The verifier decides which answers are revised (a correct answer is kept
    and not critiqued again), as in the authors' known-answer evaluation;
    it needs every answer's chain revised (``stop_when_accepted: false``).
    Tokens count only what the oracle would have spent: the critiques and
    revisions of wrong answers.
    """
    rows = []
    for depth in range(rounds + 1):
        ok = 0
        spent: list[Sample] = []
        for lineage in lineages.values():
            ends = []
            for root in lineage.roots:
                chain = _oracle_chain(lineage, root, depth)
                ends.append(chain[-1])
                for answer in chain:
                    spent.append(answer)
                    c = lineage.critique(answer)
                    if c is not None and answer is not chain[-1]:
                        spent.append(c)
            chosen = majority(ends) or (ends[0] if ends else None)
            ok += bool(chosen and chosen.correct)
        tokens = _tokens(spent)
        rows.append(
            {
                "rounds": depth,
                "accuracy": round(ok / (len(lineages) or 1), 4),
                "actor_tokens": tokens.get("actor", 0),
                "critic_tokens": tokens.get("critic", 0),
            }
        )
    return {
        "note": "upper bound: the verifier picks which answers are revised; not the method",
        "by_rounds": rows,
    }
