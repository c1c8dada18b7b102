"""The ``critic`` rater: how often the critic accepted the sample a training example came from.

Registered for the ``raters`` selection through ``reasonloop_register_raters``;
it reads the critiques in the iteration's samples, so it has something to say
only when the critic plugin critiqued that sample.
"""

from __future__ import annotations

from typing import Any

from reasonloop.core.lineage import SampleTree
from reasonloop.core.records import TrainingExample
from reasonloop.plugins.critic.rounds import critique_of, is_critique

__all__ = ["RATER", "acceptance"]

#: The name recipes use in ``plugins.settings.raters.raters``.
RATER = "critic"


def acceptance(examples: list[TrainingExample], ctx: Any) -> list[float | None]:
    """The share of parsed critiques of each example's sample that accept it; ``None``: none.

    ``ctx`` is the raters plugin's rating context; only its ``samples`` (every
    sample of the iteration) are read.
    """
    tree = SampleTree(ctx.samples)
    out: list[float | None] = []
    for ex in examples:
        parsed = [critique_of(c) for c in tree.children(ex.sample_id or "", is_critique)]
        verdicts = [p.accepts for p in parsed if p.parsed]
        out.append(sum(verdicts) / len(verdicts) if verdicts else None)
    return out
