"""Critic training data from written critiques, kept when a refinement from them succeeds.

AutoMathCritique's data pipeline has an annotator (a stronger model) write
critiques of the actor's solutions, then keeps a critique only when it
helps: the actor refines the wrong solution from it and the refinement is
verified correct. reasonloop does the same with the run's training
critiques (written by the role ``annotator`` when ``annotator: true``, else
by ``critic``):

- a critique of a **wrong** plain sample is kept when it parses, does not
  accept the answer, and one of its refinements is correct and not a
  shortcut (the refinements the plugin keeps as actor training data,
  :func:`kept_refinements`). The authors keep it on the refinement alone;
  reasonloop also asks for the right verdict, so the critic never learns
  to accept a wrong answer;
- a critique of a **correct** plain sample (``annotate_correct``) is kept
  when it parses and accepts the solution: its verdict is right.

Each kept critique becomes a :class:`TrainingExample` for the ``critic``
role: the critic's own prompt (never the annotator's hint with the gold
answer) -> the critique as written (with its prefill).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasonloop.core.lineage import SampleTree
from reasonloop.core.records import Message, Problem, Sample, TrainingExample
from reasonloop.core.rundir import JsonlLog, read_jsonl, write_records
from reasonloop.errors import UsageError
from reasonloop.plugins.critic.examples import kept_refinements
from reasonloop.plugins.critic.rounds import critique_of, critique_prompt, is_check, is_critique
from reasonloop.plugins.critic.settings import NAME, CriticSettings

__all__ = ["CritiqueFilter", "critique_examples", "export_critique_examples"]


@dataclass
class CritiqueFilter:
    """What the refinement filter did, for the command's summary."""

    of_wrong: int = 0
    of_correct: int = 0
    unparsable: int = 0
    wrong_verdict: int = 0
    kept_wrong: int = 0
    kept_correct: int = 0
    roles: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "critiques_of_wrong": self.of_wrong,
            "critiques_of_correct": self.of_correct,
            "unparsable": self.unparsable,
            "wrong_verdict": self.wrong_verdict,
            "kept_wrong": self.kept_wrong,
            "kept_correct": self.kept_correct,
            "written_by": dict(sorted(self.roles.items())),
        }


def critique_examples(
    problem: Problem,
    samples: list[Sample],
    cfg: CriticSettings,
    tally: CritiqueFilter | None = None,
) -> list[TrainingExample]:
    """The kept critiques of one training problem as ``critic`` training examples."""
    tally = tally if tally is not None else CritiqueFilter()
    tree = SampleTree(samples)
    helped = {k.critique.id for k in kept_refinements(problem, samples, cfg)}
    out = []
    for c in samples:
        if not (is_critique(c) or is_check(c)):
            continue
        answer = tree.parent(c)
        if answer is None:
            continue
        tally.roles[c.request.role] = tally.roles.get(c.request.role, 0) + 1
        critique = critique_of(c)
        if is_check(c):
            tally.of_correct += 1
        else:
            tally.of_wrong += 1
        if not critique.parsed:
            tally.unparsable += 1
            continue
        if critique.accepts != is_check(c):
            tally.wrong_verdict += 1
            continue
        if is_check(c):
            tally.kept_correct += 1
        elif c.id in helped:
            tally.kept_wrong += 1
        else:
            continue
        steps = list(c.request.meta.get("steps", []))
        out.append(
            TrainingExample(
                id=f"critic-{c.id}",
                problem_id=problem.id,
                sample_id=c.id,
                messages=[
                    Message(role="user", content=critique_prompt(cfg, problem.prompt, steps)),
                    Message(role="assistant", content=c.text.strip()),
                ],
                plugin=NAME,
                how="critique",
                metadata={
                    "role": "critic",
                    "written_by": c.request.role,
                    "answer_id": answer.id,
                    "answer_correct": answer.correct,
                    "format": critique.format,
                    "first_wrong_step": critique.first_wrong_step,
                    "difficulty": problem.difficulty,
                    "source": problem.source,
                },
            )
        )
    return out


def export_critique_examples(
    run_dir: Path, output: Path, cfg: CriticSettings
) -> tuple[list[TrainingExample], CritiqueFilter]:
    """Write the kept critiques of every training iteration; return them and the tally.

    ``output`` gets the rows the trainer reads (``TrainingExample.to_trl``,
    like an iteration's ``train.jsonl``); ``<output stem>.examples.jsonl``
    beside it the examples themselves, with their lineage and metadata.
    """
    problems_path = run_dir / "problems" / "train.jsonl"
    if not problems_path.exists():
        raise UsageError(f"{run_dir}: no problems/train.jsonl (not a training run directory?)")
    problems = {p.id: p for p in read_jsonl(problems_path, Problem)}
    tally = CritiqueFilter()
    examples: list[TrainingExample] = []
    for d in sorted(run_dir.glob("iter-*")):
        by_problem: dict[str, list[Sample]] = {}
        for s in JsonlLog(d / "samples.jsonl", Sample):
            by_problem.setdefault(s.problem_id, []).append(s)
        for pid, samples in by_problem.items():
            if pid in problems:
                examples += critique_examples(problems[pid], samples, cfg, tally)
    if tally.of_wrong + tally.of_correct == 0:
        raise UsageError(
            f"{run_dir}: no training critiques found; run with "
            "plugins.settings.critic.critiques_per_problem > 0 (and annotator: true)"
        )
    write_records(output, (ex.to_trl() for ex in examples))
    write_records(output.with_name(output.stem + ".examples.jsonl"), examples)
    return examples, tally
