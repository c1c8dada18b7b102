"""Preference data from verified samples: pairs (DPO) and labelled answers (KTO).

Plugins contribute :class:`~reasonloop.core.records.PreferencePair` objects
through ``reasonloop_preference_pairs``; the helpers here are what they share:
pairing correct against wrong samples of one problem under the recipe's rule
and cap (:func:`pair_correct_with_wrong`), and the unpaired rows a KTO
trainer reads (:func:`unpaired_rows`). The loop writes both files for every
iteration, so any trainer, or a user's own script, can read them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonloop.core.records import PreferencePair, Sample, TrainingExample, Verdict, stable_id

if TYPE_CHECKING:
    from reasonloop.core.recipe import PreferenceConfig

__all__ = [
    "WRONG",
    "count_by_source",
    "hardness_order",
    "is_wrong_answer",
    "pair_correct_with_wrong",
    "unique_pairs",
    "unpaired_rows",
]

#: The verdicts of an answer the model got wrong (an ``error`` is the verifier's fault).
WRONG = (Verdict.WRONG, Verdict.UNPARSABLE)


def is_wrong_answer(s: Sample, domain: str = "math") -> bool:
    """An actor's answer to the problem that the verifier judged wrong or unparsable.

    For code a timeout is the program's fault (it looped), so it counts too;
    for math it is the checker's.
    """
    wrong = (*WRONG, Verdict.TIMEOUT) if domain == "code" else WRONG
    return s.request.answers_problem and s.role == "actor" and s.verdict in wrong


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def hardness_order(wrong: list[Sample], gold: str | None) -> list[Sample]:
    """Wrong samples, most plausible first: an answer near ``gold``, a far one, then none.

    Numeric answers rank by their distance to the reference; a stated answer
    that is not a number ranks after them, an unparsable sample last. Ties
    keep the drawing order.
    """
    target = _number(gold)

    def rank(item: tuple[int, Sample]) -> tuple[int, float, int]:
        i, s = item
        if s.extracted is None or s.verdict == Verdict.UNPARSABLE:
            return (2, 0.0, i)
        value = _number(s.extracted)
        if value is None or target is None:
            return (1, 0.0, i)
        return (0, abs(value - target), i)

    return [s for _, s in sorted(enumerate(wrong), key=rank)]


def pair_correct_with_wrong(
    correct: list[tuple[Sample, str]],
    wrong: list[tuple[Sample, str]],
    cfg: PreferenceConfig,
    *,
    seed: object,
    gold: str | None = None,
) -> list[tuple[tuple[Sample, str], tuple[Sample, str]]]:
    """(chosen, rejected) pairs of one problem by ``cfg.pairing``, at most ``cfg.max_per_problem``.

    ``correct`` and ``wrong`` hold (sample, the text it teaches); repeated
    texts count once. ``seed`` makes ``random`` pairing the same on resume.
    """
    chosen = _unique(correct)
    rejected = _unique(wrong)
    if not chosen or not rejected:
        return []
    if cfg.pairing == "all":
        pairs = [(c, r) for c in chosen for r in rejected]
    else:
        if cfg.pairing == "random":
            rng = random.Random(stable_id("pairs", seed))
            rng.shuffle(chosen)
            rng.shuffle(rejected)
        else:
            order = {s.id: i for i, s in enumerate(hardness_order([s for s, _ in rejected], gold))}
            rejected.sort(key=lambda item: order[item[0].id])
        # Every sample on both sides appears in at least one pair.
        n = max(len(chosen), len(rejected))
        pairs = [(chosen[i % len(chosen)], rejected[i % len(rejected)]) for i in range(n)]
    if cfg.max_per_problem is not None:
        pairs = pairs[: cfg.max_per_problem]
    return pairs


def _unique(items: list[tuple[Sample, str]]) -> list[tuple[Sample, str]]:
    seen: set[str] = set()
    out = []
    for s, text in items:
        if _key(text) not in seen:
            seen.add(_key(text))
            out.append((s, text))
    return out


def unique_pairs(pairs: Iterable[PreferencePair]) -> list[PreferencePair]:
    """``pairs`` without repeats (same problem, prompt, chosen and rejected) or ties."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for p in pairs:
        if _key(p.chosen) == _key(p.rejected):
            continue
        key = (p.problem_id, *(_key(m.content) for m in p.prompt), _key(p.chosen), _key(p.rejected))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def unpaired_rows(
    selected: list[TrainingExample],
    samples: list[Sample],
    pairs: list[PreferencePair],
    cfg: PreferenceConfig,
) -> list[dict[str, Any]]:
    """KTO's unpaired rows (``prompt``, ``completion``, ``label``) for one iteration.

    Desirable: the selected training examples that train one final answer
    (what SFT would learn; multi-turn chains are left out). Undesirable:
    every pair's rejected answer, and the wrong plain samples (lineage
    ``plain``) of each problem, at most ``cfg.max_wrong_per_problem`` per
    problem, also of problems without a correct sample, which pairs cannot
    use. Repeats are dropped.
    """
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()

    def add(problem_id: str, prompt: list[dict], text: str, label: bool, **extra: Any) -> bool:
        key = (problem_id, *(_key(m["content"]) for m in prompt), _key(text))
        if key in seen:
            return False
        seen.add(key)
        completion = [{"role": "assistant", "content": text}]
        rows.append(
            {"prompt": prompt, "completion": completion, "label": label, "problem_id": problem_id}
            | extra
        )
        return True

    for ex in selected:
        row = ex.to_trl()
        # A chain trains a correction with the wrong attempt in its prompt: not a plain answer.
        if "prompt" in row and all(m["role"] != "assistant" for m in row["prompt"]):
            content = row["completion"][0]["content"]
            add(
                ex.problem_id,
                row["prompt"],
                content,
                True,
                sample_id=ex.sample_id,
                source=ex.plugin,
            )
    for p in pairs:
        prompt = p.to_trl()["prompt"]
        add(
            p.problem_id, prompt, p.rejected, False, sample_id=p.rejected_sample_id, source=p.source
        )
    wrong_per_problem: Counter[str] = Counter()
    for s in samples:
        if not is_wrong_answer(s) or s.request.how != "plain" or s.request.prefill:
            continue
        cap = cfg.max_wrong_per_problem
        if cap is not None and wrong_per_problem[s.problem_id] >= cap:
            continue
        prompt = [{"role": m.role, "content": m.content} for m in s.request.messages]
        if add(
            s.problem_id, prompt, s.text.strip(), False, sample_id=s.id, source=s.request.plugin
        ):
            wrong_per_problem[s.problem_id] += 1
    return rows


def count_by_source(path: Path) -> dict[str, int]:
    """Rows of a ``preferences.jsonl`` or ``unpaired.jsonl`` per ``source``; ``{}`` when absent."""
    import json

    if not path.exists():
        return {}
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                counts[str(json.loads(line).get("source", "?"))] += 1
    return dict(sorted(counts.items()))
