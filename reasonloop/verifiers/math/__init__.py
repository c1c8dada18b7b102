"""Judge a model's math answer against the gold answer: correct, wrong, or why not.

The checks run cheapest first and stop at the first that decides: the cleaned
strings are equal; the same word (``\\text{Evelyn}``, ``(C)``); exact
arithmetic and evaluation at sample points, in this process and bounded by
static limits; and only then ``sympy.simplify`` in a worker process that is
killed after ``timeout`` seconds. No answer text is ever evaluated as code.

>>> with MathVerifier() as verifier:
...     verifier.verify("Half of them, so the answer is 1/2.", "0.5").verdict
<Verdict.CORRECT: 'correct'>
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from reasonloop.core.records import Verdict
from reasonloop.errors import UsageError
from reasonloop.verifiers.math.equivalence import NumericCheck, values_equal
from reasonloop.verifiers.math.extract import extract_answer
from reasonloop.verifiers.math.normalize import clean_answer, text_key
from reasonloop.verifiers.math.parse import parse_answer
from reasonloop.verifiers.math.pool import SymbolicPool, SymbolicTimeout
from reasonloop.verifiers.math.tree import LimitExceeded, Num

__all__ = ["GOLD_FORMATS", "MathResult", "MathVerifier", "answers_match", "extract_answer"]

#: How a gold answer may be given: a bare answer, a worked solution, or either (guessed).
GOLD_FORMATS = ("auto", "answer", "solution")
_NUMERIC = NumericCheck()
# A gold that has any of these is a text holding its answer, not the bare answer.
_SOLUTION_MARKS = re.compile(r"\\boxed|\\fbox|####|(?<!\\)\$|\\\(|\\\[|</think>")
_TEXT_OR_COMMAND = re.compile(r"\\[a-zA-Z]+\s*\{[^{}]*\}|\\[a-zA-Z]+")
_PLAIN_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class MathResult:
    """A verdict, the answer it was reached on, and which check decided it."""

    verdict: Verdict
    #: The final answer found in the completion (None when there was none).
    extracted: str | None
    #: ``{"check": ...}`` names the deciding check; errors and limits add a ``reason``.
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.CORRECT


class MathVerifier:
    """Verify math completions against gold answers, each check bounded in time.

    Safe to share between threads. Call :meth:`close` (or use it as a context
    manager) to stop the worker processes of the symbolic check.
    """

    def __init__(self, timeout: float = 1.0, gold_format: str = "auto") -> None:
        if gold_format not in GOLD_FORMATS:
            raise UsageError(
                f"gold_format {gold_format!r}: expected one of {', '.join(GOLD_FORMATS)}"
            )
        self.timeout = timeout
        self.gold_format = gold_format
        self._pool = SymbolicPool(timeout)

    def verify(self, text: str, gold: str) -> MathResult:
        """Return the verdict on the final answer in ``text`` against ``gold``.

        ``gold`` is read as :attr:`gold_format` says: ``answer`` (the bare
        answer, only cleaned), ``solution`` (a worked solution, whose answer is
        found as in ``text``) or ``auto`` (a solution when it has a box, a
        ``####`` line or math delimiters, or is a sentence rather than math;
        otherwise a bare answer).
        """
        return self._guarded(extract_answer, text, gold)

    def verify_many(self, pairs: Iterable[tuple[str, str]]) -> list[MathResult]:
        """Return :meth:`verify` for each ``(text, gold)`` pair, in order."""
        return [self.verify(text, gold) for text, gold in pairs]

    def judge(self, answer: str, gold: str) -> MathResult:
        """Return the verdict on an already extracted ``answer`` against ``gold``."""
        return self._guarded(clean_answer, answer, gold)

    def _guarded(self, find: Callable[[str], str | None], text: str, gold: str) -> MathResult:
        # Any exception is a bug, reported as an ERROR verdict rather than raised mid-batch.
        answer = None
        try:
            answer = find(text)
            return self._judge(answer or "", self.gold_answer(gold))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return MathResult(Verdict.ERROR, answer, {"check": "error", "reason": reason})

    def gold_answer(self, gold: str) -> str:
        """Return the cleaned answer that ``gold`` states, read as :attr:`gold_format` says."""
        return _gold_answer(gold, self.gold_format)

    def _judge(self, pred: str, ref: str) -> MathResult:
        if not pred:
            return MathResult(Verdict.UNPARSABLE, None, {"check": "extract"})

        def result(verdict: Verdict, check: str, **more: Any) -> MathResult:
            return MathResult(verdict, pred, {"check": check, **more})

        if pred == ref:
            return result(Verdict.CORRECT, "string")
        key = text_key(pred)
        if key is not None and key == text_key(ref):
            return result(Verdict.CORRECT, "text")
        try:
            ref, gold_tree = _parse_chain(ref)
        except LimitExceeded as exc:
            return result(Verdict.TIMEOUT, "limits", reason=f"gold: {exc}")
        except ValueError:
            return result(Verdict.WRONG, "string", reason="gold is not math")
        try:
            pred_math, pred_tree = _parse_chain(pred)
        except LimitExceeded as exc:
            return result(Verdict.TIMEOUT, "limits", reason=str(exc))
        except ValueError as exc:
            return result(Verdict.WRONG, "parse", reason=str(exc))
        try:
            equal = values_equal(gold_tree, pred_tree, _NUMERIC)
        except LimitExceeded as exc:
            return result(Verdict.TIMEOUT, "limits", reason=str(exc))
        if equal is not None:
            exact = isinstance(gold_tree, Num) and isinstance(pred_tree, Num)
            return result(_verdict(equal), "exact" if exact else "numeric")
        try:
            equal = self._pool.check(ref, pred_math)
        except SymbolicTimeout:
            return result(Verdict.TIMEOUT, "symbolic", reason=f"over {self.timeout:g} s")
        except LimitExceeded as exc:
            return result(Verdict.TIMEOUT, "limits", reason=str(exc))
        return result(_verdict(equal), "symbolic")

    def close(self) -> None:
        """Stop the worker processes; the verifier cannot be used afterwards."""
        self._pool.close()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@lru_cache(maxsize=4096)  # one gold is judged against every sample of its problem
def _gold_answer(gold: str, gold_format: str) -> str:
    if gold_format == "answer":
        return clean_answer(gold)
    if gold_format == "auto" and not _SOLUTION_MARKS.search(gold):
        bare = clean_answer(gold)
        if _is_math(bare):
            return bare
    # A solution, or (auto) a sentence that is not an answer itself: find its answer.
    return extract_answer(gold) or clean_answer(gold)


def _is_math(answer: str) -> bool:
    # Letters parse as products of variables, but two plain words make a sentence.
    if len(_PLAIN_WORD.findall(_TEXT_OR_COMMAND.sub(" ", answer))) >= 2:
        return False
    try:
        parse_answer(answer)
    except ValueError:
        return False
    return True


def _parse_chain(answer: str) -> tuple[str, Any]:
    """Parse ``answer``; a chain "a = b = c" that does not parse is read as its last part."""
    try:
        return answer, parse_answer(answer)
    except LimitExceeded:
        raise
    except ValueError:
        parts = answer.split("=")
        if len(parts) < 3 or "," in answer or ";" in answer:
            raise
        last = parts[-1].strip()
        return last, parse_answer(last)


def _verdict(equal: bool) -> Verdict:
    return Verdict.CORRECT if equal else Verdict.WRONG


_default: MathVerifier | None = None
_default_lock = threading.Lock()


def answers_match(predicted: str, gold: str) -> bool:
    """Return whether the answer ``predicted`` equals ``gold`` (False on timeout).

    Uses a verifier shared by the process, with the default one-second bound.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MathVerifier()
            atexit.register(_default.close)
    return _default.judge(predicted, gold).correct
