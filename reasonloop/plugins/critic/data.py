"""Training data for a critic: step labels from Monte-Carlo rollouts.

With ``rollouts`` on, the critic plugin continues each wrong plain sample
from every step prefix (``Request.prefill``) ``rollouts`` times during
training; the rollouts are verified like any answer. A step's score is the
share of the rollouts from it that reach the reference answer; the last
step's is the solution's own verdict. The first step whose score is at most
``rollout_threshold`` is the first error, and it and every later step are
labelled wrong (a step after an error is not made right by a lucky
rollout), as AutoMathCritique locates errors. A correct solution reaches the
reference from every prefix (itself is such a completion), so its steps are
all labelled correct.

Two export formats:

- ``stepwise``: TRL's stepwise-supervision rows,
  ``{"prompt": question, "completions": [step, ...], "labels": [bool, ...]}``
  (for ``trl.PRMTrainer``);
- ``critique``: conversational prompt-completion rows in the critique
  format (the critic's prompt -> a verdict per step and the final verdict,
  in the authors' format when ``critique_format`` or ``critique_prompt`` is
  ``mathcritique``), for supervised fine-tuning of a critic model.

Both carry ``first_error`` (the 1-based first wrong step; ``None`` for a
correct solution) and, in ``stepwise``, the raw ``scores``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from reasonloop.core.lineage import SampleTree
from reasonloop.core.records import Problem, Sample
from reasonloop.core.rundir import JsonlLog, read_jsonl, write_records
from reasonloop.errors import UsageError
from reasonloop.plugins.critic.critique import render_critique, split_steps
from reasonloop.plugins.critic.rounds import critique_prompt, is_plain, normalised
from reasonloop.plugins.critic.settings import NAME, CriticSettings

__all__ = [
    "LabelledSolution",
    "export_critic_data",
    "labelled_solutions",
    "monotone_labels",
    "target_format",
]


def monotone_labels(scores: list[float], threshold: float = 0.0) -> list[bool]:
    """Step labels from rollout scores: wrong from the first score at most ``threshold`` on."""
    labels, ok = [], True
    for score in scores:
        ok = ok and score > threshold
        labels.append(ok)
    return labels


def target_format(cfg: CriticSettings) -> str:
    """The format critic training targets are written in: the one the critic is asked in."""
    if cfg.critique_format != "auto":
        return cfg.critique_format
    return cfg.critique_prompt


Format = Literal["stepwise", "critique"]


class LabelledSolution:
    """A solution's steps with a correct/wrong label each."""

    def __init__(
        self,
        problem: Problem,
        sample: Sample,
        steps: list[str],
        scores: list[float],
        threshold: float = 0.0,
    ):
        self.problem = problem
        self.sample = sample
        self.steps = steps
        self.scores = scores
        self.labels = monotone_labels(scores, threshold)

    @property
    def first_error(self) -> int | None:
        """The 1-based first wrong step; ``None`` when every step is right."""
        return next((i for i, ok in enumerate(self.labels, 1) if not ok), None)

    def stepwise(self) -> dict[str, Any]:
        return {
            "prompt": self.problem.prompt,
            "completions": self.steps,
            "labels": self.labels,
            "first_error": self.first_error,
            "scores": self.scores,
        }

    def critique(self, cfg: CriticSettings) -> dict[str, Any]:
        prompt = critique_prompt(cfg, self.problem.prompt, self.steps)
        text = render_critique(self.steps, self.labels, self.sample.correct, target_format(cfg))
        return {
            "prompt": [{"role": "user", "content": prompt}],
            "completion": [{"role": "assistant", "content": text}],
            "first_error": self.first_error,
        }


def _is_rollout(s: Sample) -> bool:
    return s.request.plugin == NAME and s.request.purpose == "rollout"


def labelled_solutions(
    problems: dict[str, Problem],
    samples: list[Sample],
    threshold: float = 0.0,
    include_correct: bool = True,
) -> list[LabelledSolution]:
    """Label the steps of every rolled-out wrong sample (and of correct plain samples)."""
    tree = SampleTree(samples)
    # Each rolled-out sample, in the order its first rollout was drawn.
    parents = {p.id: p for s in samples if _is_rollout(s) and (p := tree.parent(s))}
    out = []
    for parent in parents.values():
        problem = problems.get(parent.problem_id)
        if problem is None:
            continue
        by_step: dict[int, list[Sample]] = defaultdict(list)
        for r in tree.children(parent, _is_rollout):
            by_step[int(r.request.meta["step"])].append(r)
        steps = split_steps(parent.text)
        if sorted(by_step) != list(range(1, len(steps))):
            continue  # an interrupted stage: not every prefix was rolled out
        scores = [
            sum(r.correct for r in by_step[k]) / len(by_step[k]) for k in range(1, len(steps))
        ]
        out.append(
            LabelledSolution(problem, parent, steps, [*scores, float(parent.correct)], threshold)
        )
    if include_correct:
        seen: set[tuple[str, str]] = set()
        for s in samples:
            key = (s.problem_id, normalised(s.text))
            if not (is_plain(s) and s.correct) or key in seen or s.problem_id not in problems:
                continue
            seen.add(key)
            steps = split_steps(s.text)
            if steps:
                out.append(LabelledSolution(problems[s.problem_id], s, steps, [1.0] * len(steps)))
    return out


def export_critic_data(
    run_dir: Path,
    output: Path,
    fmt: Format = "stepwise",
    threshold: float | None = None,
    include_correct: bool = True,
    cfg: CriticSettings | None = None,
) -> dict[str, int]:
    """Write critic training rows from every iteration of a run; return counts."""
    problems_path = run_dir / "problems" / "train.jsonl"
    if not problems_path.exists():
        raise UsageError(f"{run_dir}: no problems/train.jsonl (not a training run directory?)")
    cfg = cfg or CriticSettings()
    threshold = cfg.rollout_threshold if threshold is None else threshold
    problems = {p.id: p for p in read_jsonl(problems_path, Problem)}
    rows: list[dict[str, Any]] = []
    counts = {"rolled_out": 0, "correct": 0, "steps": 0, "wrong_steps": 0}
    for d in sorted(run_dir.glob("iter-*")):
        samples = list(JsonlLog(d / "samples.jsonl", Sample))
        for sol in labelled_solutions(problems, samples, threshold, include_correct):
            counts["correct" if sol.sample.correct else "rolled_out"] += 1
            counts["steps"] += len(sol.steps)
            counts["wrong_steps"] += sol.labels.count(False)
            rows.append(sol.stepwise() if fmt == "stepwise" else sol.critique(cfg))
    if counts["rolled_out"] == 0:
        raise UsageError(
            f"{run_dir}: no step rollouts found; run with plugins.settings.critic.rollouts > 0"
        )
    write_records(output, rows)
    counts["rows"] = len(rows)
    return counts
