"""Plain self-improvement: sample, keep what is verified correct, train on it.

This built-in plugin asks for round 0 (``n`` plain samples per training
problem, the greedy answer per evaluation problem), turns correct plain
samples into training examples, and provides the default selection
(deduplicate, cap per problem) and the default final answer. Method plugins
add their own rounds, examples, selection or answer choice on top.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from reasonloop import hookimpl
from reasonloop.core.records import Sample, TrainingExample

if TYPE_CHECKING:
    from reasonloop.core.context import IterationContext, RoundContext
    from reasonloop.core.recipe import SelectionConfig
    from reasonloop.core.records import Problem, Request

NAME = "selfimprove"


@hookimpl
def reasonloop_round_requests(ctx: RoundContext) -> list[Request] | None:
    if ctx.round != 0:
        return None
    if ctx.mode == "train":
        n = ctx.recipe.sampling.n
        params: dict[str, object] = {"n": n}
    else:
        ev = ctx.recipe.eval
        params = {"n": ev.n, "temperature": ev.temperature}
        if ev.max_tokens is not None:
            params["max_tokens"] = ev.max_tokens
    purpose = "sample" if ctx.mode == "train" else "eval"
    return [
        ctx.request(p, ctx.run.problem_messages(p), plugin=NAME, purpose=purpose, **params)
        for p in ctx.problems
    ]


@hookimpl
def reasonloop_training_examples(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> list[TrainingExample] | None:
    clean = ctx.recipe.selection.clean and problem.domain == "math"
    examples = []
    for s in samples:
        if s.request.plugin != NAME or not s.correct:
            continue
        text = s.text
        if clean and problem.reference and problem.reference.answer:
            text = clean_solution(text, problem.reference.answer)
        examples.append(ctx.run.solution_example(problem, s, text, plugin=NAME))
    return examples


@hookimpl(trylast=True)
def reasonloop_select_examples(
    examples: list[TrainingExample], ctx: IterationContext
) -> list[TrainingExample]:
    return deduplicate(examples, ctx.recipe.selection)


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


@hookimpl(trylast=True)
def reasonloop_final_answer(
    problem: Problem, samples: list[Sample], ctx: IterationContext
) -> Sample | None:
    answers = [s for s in samples if s.request.answers_problem]
    if not answers:
        return None
    deepest = max(s.request.round for s in answers)
    return [s for s in answers if s.request.round == deepest][-1]


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
