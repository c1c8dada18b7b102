"""Quotas: every problem (or difficulty) keeps some examples, whatever the global ranking says.

Selection by fused score is global: with ``keep: 0.5`` the lower half goes,
and if the raters dislike the solutions of hard problems (long, low
likelihood), every example of the problems that guidance or the critic
fought for can go with it. A quota keeps at least ``minimum`` examples of
each group (problem or difficulty bucket) that has candidates, taking each
group's best by the ranking, and gives back the same number of places from
the bottom of the global selection, from groups that stay above their
quota. The selection keeps its size unless the quotas alone need more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["apply_quota"]


def apply_quota(
    rank: Sequence[int], keep: int, groups: Sequence[str], minimum: int
) -> tuple[list[int], int]:
    """Indices to keep (in candidate order) and how many were swapped in for the quota.

    ``rank`` is every candidate index best first, ``groups[i]`` candidate
    ``i``'s group. The ``keep`` best are kept; then each group short of
    ``min(minimum, its candidates)`` gets its best unkept candidates, and as
    many of the lowest-ranked kept candidates whose group stays at or above
    its quota leave. When no kept candidate can leave, the selection grows.
    """
    if minimum < 1:
        raise ValueError(f"a quota needs a minimum of at least 1, got {minimum}")
    keep = min(keep, len(rank))
    kept = list(rank[:keep])
    chosen = set(kept)
    sizes = Counter(groups[i] for i in rank)
    quota = {g: min(minimum, n) for g, n in sizes.items()}
    have = Counter(groups[i] for i in kept)
    added: list[int] = []
    for i in rank[keep:]:
        g = groups[i]
        if have[g] < quota[g]:
            added.append(i)
            chosen.add(i)
            have[g] += 1
    # Give back as many places, from the bottom of the ranking, where a group can spare one.
    for i in reversed(kept):
        if len(chosen) <= keep:
            break
        g = groups[i]
        if have[g] > quota[g]:
            chosen.discard(i)
            have[g] -= 1
    return sorted(chosen), len(added)
