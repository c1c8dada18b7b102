"""Verification by problem domain: each domain's samples go to its own verifier."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reasonloop.core.plugins import build_checked
from reasonloop.core.records import Problem

if TYPE_CHECKING:
    from reasonloop.core.context import RunContext
    from reasonloop.core.protocols import VerifyResult

__all__ = ["DomainVerifiers"]


class DomainVerifiers:
    """A :class:`~reasonloop.core.protocols.Verifier` that routes each item by domain.

    The recipe's ``verifier.domains`` names the verifier of a domain (code
    problems get ``code`` by default) and ``verifier.name`` the rest. Each
    verifier is built on first use, so a math-only run never starts the
    code execution pool.
    """

    def __init__(self, run: RunContext):
        self.run = run
        self._built: dict[str, Any] = {}

    def _for(self, domain: str) -> Any:
        name, options, key = self.run.recipe.verifier.for_domain(domain)
        if key not in self._built:
            factory = self.run.verifiers.get(name)
            self._built[key] = build_checked(
                factory, f"{key}.options", dict(options), source=self.run.recipe.source
            )
        return self._built[key]

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[VerifyResult]:
        by_domain: dict[str, list[int]] = defaultdict(list)
        for i, (problem, _) in enumerate(items):
            by_domain[problem.domain].append(i)
        results: list[Any] = [None] * len(items)
        for domain, indices in by_domain.items():
            checked = self._for(domain).verify([items[i] for i in indices])
            for i, res in zip(indices, checked, strict=True):
                results[i] = res
        return results

    def close(self) -> None:
        for verifier in self._built.values():
            verifier.close()
        self._built.clear()
