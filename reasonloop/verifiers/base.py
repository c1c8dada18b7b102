"""The protocol every verifier implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.records import Problem, Verdict

__all__ = ["Verifier", "VerifyResult"]


class VerifyResult(BaseModel):
    """A verifier's judgement of one answer, with what it was based on."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    extracted: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Verifier(Protocol):
    """Judges answers against a problem's reference.

    ``verify`` gets (problem, answer text) pairs in one batch, so a verifier
    can run them in parallel, and returns one result per pair, in order.
    A problem without a reference gets ``Verdict.ERROR``.
    """

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[VerifyResult]: ...

    def close(self) -> None: ...
