"""Each rater's reliability from a judge's pairwise preferences (FIRE's intrinsic reliability).

A judge compared pairs of candidates ``(a, b)``; its preference ``p`` for
``a`` over ``b`` is 1, 0, or in between (0.5: a tie, or the two position
orders disagreed). A rater prefers ``a`` when it scores ``a`` higher. With
``d = 2p - 1`` the judge's signed preference and ``s`` the sign of the
rater's score difference (0 when it scores them equal), the rater's

- *skill* is ``sum(d * s) / sum(|d|)`` over the pairs it scored both
  candidates of: 1 when it always orders them as the judge does, 0 when it
  does no better than a coin (or ties everything), -1 when it always orders
  them the other way;
- *agreement* is ``(1 + skill) / 2``, the share of the judge's decided pairs
  it orders the same way (its ties counting half): FIRE's reliability, the
  rater's accuracy on the judge's pairwise judgements.

The reliability used for weighing is ``max(0, skill)`` by default: a rater at
chance level, or worse, gets no weight (an adversarial rater is not flipped
into a useful one). ``chance_corrected=False`` uses the agreement itself, as
FIRE does, so a coin-flip rater keeps half the weight of a perfect one.
Pairs the judge left undecided (``p = 0.5``) say nothing about order and
count for no rater.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["JudgedRater", "Preference", "judged_reliability"]


@dataclass(frozen=True)
class Preference:
    """The judge's preference for candidate ``first`` over candidate ``second`` (0 to 1)."""

    first: int
    second: int
    p: float


@dataclass(frozen=True)
class JudgedRater:
    """How one rater fared against the judge."""

    #: Judge-decided pairs the rater scored both candidates of.
    pairs: int
    #: The share of them it orders as the judge does (ties half); ``None``: no pairs.
    agreement: float | None
    #: The weight factor used: ``max(0, 2 * agreement - 1)`` or the agreement itself.
    reliability: float

    def as_dict(self) -> dict[str, object]:
        agreement = None if self.agreement is None else round(self.agreement, 4)
        return {
            "pairs": self.pairs,
            "agreement": agreement,
            "reliability": round(self.reliability, 4),
        }


def judged_reliability(
    scores: Mapping[str, Sequence[float | None]],
    preferences: Sequence[Preference],
    chance_corrected: bool = True,
) -> dict[str, JudgedRater]:
    """Each rater's agreement with the judge, and the reliability it is weighed by."""
    out: dict[str, JudgedRater] = {}
    for name, values in scores.items():
        signed = total = 0.0
        pairs = 0
        for pref in preferences:
            d = 2.0 * pref.p - 1.0
            a, b = values[pref.first], values[pref.second]
            if d == 0 or a is None or b is None:
                continue
            s = int(a > b) - int(a < b)
            signed += d * s
            total += abs(d)
            pairs += 1
        if total == 0:
            out[name] = JudgedRater(pairs=0, agreement=None, reliability=0.0)
            continue
        skill = signed / total
        agreement = (1.0 + skill) / 2.0
        reliability = max(0.0, skill) if chance_corrected else agreement
        out[name] = JudgedRater(pairs=pairs, agreement=agreement, reliability=reliability)
    return out
