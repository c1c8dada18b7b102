"""Built-in verifiers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reasonloop import hookimpl
from reasonloop.core.protocols import Verifier, VerifyResult
from reasonloop.core.records import Problem, Verdict


class MathAnswerVerifier(Verifier):
    """Compares each answer's extracted final answer with the reference answer."""

    def __init__(self, options: dict[str, Any]):
        from reasonloop.verifiers.math import MathVerifier

        self._math = MathVerifier(**options)

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[VerifyResult]:
        results = []
        for problem, text in items:
            gold = problem.reference.answer if problem.reference else None
            if gold is None:
                results.append(
                    VerifyResult(verdict=Verdict.ERROR, evidence={"error": "no reference answer"})
                )
                continue
            r = self._math.verify(text, gold)
            results.append(
                VerifyResult(verdict=r.verdict, extracted=r.extracted, evidence=dict(r.evidence))
            )
        return results

    def close(self) -> None:
        self._math.close()


def code_verifier(options: dict[str, Any]) -> Any:
    """The ``code`` verifier: programs run with their tests in the execution pool."""
    from reasonloop.verifiers.code import CodeVerifier

    return CodeVerifier(options)


@hookimpl
def reasonloop_register_verifiers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("math", MathAnswerVerifier)
    register("code", code_verifier)
