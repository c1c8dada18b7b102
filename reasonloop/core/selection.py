"""The default training data: correct solutions cleaned, repeats dropped, a cap per problem.

The built-in ``selfimprove`` plugin applies both to the examples it makes;
method plugins that make their own examples (critic, guidance) clean them the
same way, and selection plugins (raters) start from the same deduplicated
pool. Living in the core, they are shared without one plugin importing
another.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from reasonloop.core.records import TrainingExample

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext
    from reasonloop.core.recipe import SelectionConfig
    from reasonloop.core.records import Problem, Sample

__all__ = ["clean_solution", "correct_examples", "deduplicate"]


def correct_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext, plugin: str
) -> list[TrainingExample]:
    """Plugin ``plugin``'s correct samples of ``problem`` as plain examples, cleaned.

    Cleaning (:func:`clean_solution`) applies to math problems with a
    reference answer when ``selection.clean`` is on.
    """
    clean = ctx.recipe.selection.clean and problem.domain == "math"
    gold = problem.reference.answer if problem.reference else None
    examples = []
    for s in samples:
        if s.request.plugin != plugin or not s.correct:
            continue
        text = clean_solution(s.text, gold) if clean and gold else s.text
        examples.append(ctx.run.solution_example(problem, s, text, plugin=plugin))
    return examples


def deduplicate(examples: list[TrainingExample], cfg: SelectionConfig) -> list[TrainingExample]:
    """The default selection: drop repeated examples, keep at most ``max_per_problem`` each.

    Selection plugins that choose among the candidates call it first, so
    their choice starts from the same pool the default would train on.
    """
    kept: list[TrainingExample] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    per_problem: dict[str, int] = defaultdict(int)
    for ex in examples:
        # The whole conversation: a multi-turn example (wrong attempt, feedback,
        # answer) is not a duplicate of the plain example with the same answer.
        key = (ex.problem_id, tuple(_normalise(m.content) for m in ex.messages))
        if cfg.dedupe and key in seen:
            continue
        if cfg.max_per_problem is not None and per_problem[ex.problem_id] >= cfg.max_per_problem:
            continue
        seen.add(key)
        per_problem[ex.problem_id] += 1
        kept.append(ex)
    return kept


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


def clean_solution(text: str, answer: str) -> str:
    """Cut a correct solution after the sentence that first states the answer.

    Small models often reach the right number and then ramble until the token
    limit; training on the ramble teaches rambling. The cut text ends with
    ``Answer: <answer>`` so the model learns one clear way to finish. Text
    where the answer does not appear as a number is kept whole.
    """
    number = answer.strip().replace(",", "")
    if not re.fullmatch(r"-?\d+(\.\d+)?", number):
        return text.strip()
    pattern = re.compile(r"(?<![\d.])" + re.escape(number).replace(r"\-", "-") + r"(?![\d]|\.\d)")
    plain = text.replace(",", "")
    # Map positions in the comma-free text back to the original text.
    offsets = [i for i, ch in enumerate(text) if ch != ","]
    match = pattern.search(plain)
    if match is None:
        return text.strip()
    end_in_plain = match.end()
    cut = offsets[end_in_plain - 1] + 1 if end_in_plain > 0 else 0
    tail = _SENTENCE_END.search(text, cut)
    head = text[
        : tail.end() if tail and tail.group() != "\n" else (tail.start() if tail else len(text))
    ]
    head = head.strip()
    head = re.sub(r"(?i)\banswer\s*[:=]?\s*$", "", head).strip()
    if re.search(r"(?i)answer\s*:\s*" + re.escape(number) + r"\s*\.?$", head.replace(",", "")):
        return head
    return f"{head}\nAnswer: {answer.strip()}"
