"""Training examples from critique-guided refinements, and which refinements count.

A refinement is kept when it is correct and not a shortcut (it works the
problem rather than restating an answer; see
:func:`reasonloop.verifiers.shortcut.shortcut_reason`, with the wrong attempt
and the gold rationale as the solutions it is compared with). At most one
refinement is kept per critique: the first that passes, in sampling order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reasonloop.core.lineage import SampleTree
from reasonloop.core.records import Message, PreferencePair, Problem, Sample, TrainingExample
from reasonloop.core.selection import clean_solution
from reasonloop.plugins.critic.critique import render
from reasonloop.plugins.critic.rounds import critique_of, is_refinement
from reasonloop.plugins.critic.settings import NAME, CriticSettings
from reasonloop.verifiers.shortcut import shortcut_reason

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext

__all__ = ["KeptRefinement", "kept_refinements", "refinement_examples", "refinement_pairs"]


@dataclass(frozen=True)
class KeptRefinement:
    """A refinement that passed, with the wrong answer and critique it came from."""

    refinement: Sample
    critique: Sample
    answer: Sample


@dataclass
class RefinementTally:
    """What happened to one problem's refinements (for the report)."""

    refinements: int = 0
    correct: int = 0
    shortcuts: int = 0


def kept_refinements(
    problem: Problem,
    samples: list[Sample],
    cfg: CriticSettings,
    tally: RefinementTally | None = None,
) -> list[KeptRefinement]:
    """The refinement kept for each critique of ``problem`` (training samples, with verdicts)."""
    tree = SampleTree(samples)
    # Each critique that was revised, in the order its first revision was drawn.
    critiques = {p.id: p for s in samples if is_refinement(s) and (p := tree.parent(s))}
    rationale = problem.reference.rationale if problem.reference else None
    kept = []
    for critique in critiques.values():
        answer = tree.parent(critique)
        if answer is None:
            continue
        refinements = tree.children(critique, is_refinement)
        chosen = None
        for r in sorted(refinements, key=lambda s: s.index):
            if tally is not None:
                tally.refinements += 1
            if not r.correct:
                continue
            if tally is not None:
                tally.correct += 1
            reason = shortcut_reason(
                r.text,
                problem=problem.prompt,
                references=[answer.text, rationale],
                ratio=cfg.shortcut_ratio,
            )
            if reason is not None:
                if tally is not None:
                    tally.shortcuts += 1
                continue
            if chosen is None:
                chosen = KeptRefinement(refinement=r, critique=critique, answer=answer)
        if chosen is not None:
            kept.append(chosen)
    return kept


def refinement_examples(
    run: RunContext, problem: Problem, samples: list[Sample], cfg: CriticSettings
) -> list[TrainingExample]:
    """Question -> kept refinement (critique removed), and the multi-turn form if set."""
    clean = run.recipe.selection.clean and problem.domain == "math"
    gold = problem.reference.answer if problem.reference else None
    examples = []
    for k in kept_refinements(problem, samples, cfg):
        text = k.refinement.text
        if clean and gold:
            text = clean_solution(text, gold)
        critique = critique_of(k.critique)
        meta = {
            "difficulty": problem.difficulty,
            "source": problem.source,
            "critique_id": k.critique.id,
            "answer_id": k.answer.id,
            "first_wrong_step": critique.first_wrong_step,
        }
        trajectory = [
            *run.problem_messages(problem),
            Message(role="assistant", content=k.answer.text),
            Message(role="user", content=render(cfg.refine_template, critique=critique.feedback)),
        ]
        examples += run.refinement_examples(
            problem,
            k.refinement,
            text,
            trajectory=trajectory,
            form=cfg.trajectories,
            plugin=NAME,
            metadata=meta,
        )
    return examples


def refinement_pairs(
    run: RunContext, problem: Problem, samples: list[Sample], cfg: CriticSettings
) -> list[PreferencePair]:
    """Each kept refinement (cleaned, critique removed) over the wrong answer it revised."""
    clean = run.recipe.selection.clean and problem.domain == "math"
    gold = problem.reference.answer if problem.reference else None
    pairs = []
    for k in kept_refinements(problem, samples, cfg):
        if k.answer.correct:
            continue  # a critique of a right answer: nothing was corrected
        text = k.refinement.text
        if clean and gold:
            text = clean_solution(text, gold)
        pairs.append(
            run.preference_pair(
                problem,
                (k.refinement, text),
                (k.answer, k.answer.text.strip()),
                source=NAME,
                pairing="correction",
                metadata={"critique_id": k.critique.id},
            )
        )
    return pairs
