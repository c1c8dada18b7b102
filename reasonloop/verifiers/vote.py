"""Majority voting over answers, grouped by the math verifier's equivalence.

Test-time methods that draw several answers per problem (the critic's
``select`` mode, brute-force resampling) choose the answer most of them
agree on; ``1/2`` and ``0.5`` vote together.
"""

from __future__ import annotations

from reasonloop.core.records import Sample

__all__ = ["majority"]


def majority(answers: list[Sample]) -> Sample | None:
    """The first answer of the largest group of equivalent answers (earliest group on ties).

    Answers without an extracted answer do not vote; ``None`` when none has one.
    """
    # Imported here: the math verifier is heavy, and plugins load for every command.
    from reasonloop.verifiers.math import answers_match

    groups: list[list[Sample]] = []
    for s in answers:
        if not s.extracted:
            continue
        for g in groups:
            rep = g[0].extracted or ""
            if s.extracted == rep or answers_match(s.extracted, rep):
                g.append(s)
                break
        else:
            groups.append([s])
    if not groups:
        return None
    best = max(range(len(groups)), key=lambda i: (len(groups[i]), -i))
    return groups[best][0]
