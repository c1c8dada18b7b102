"""Where samples came from: a stage's samples linked parent to child.

A sample's request names the sample it follows up on
(``request.parent_sample_id``): a critique names the answer it reviews, a
refinement the critique it answers, a debugging turn the program it fixes.
:class:`SampleTree` indexes those links once, so the core and every plugin
walk the same tree instead of each building its own; what a link *means*
(which child is a critique, which a refinement) stays with the plugin that
made it, passed in as a predicate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from reasonloop.core.records import Sample

__all__ = ["SampleTree", "attempt_chains"]

SampleFilter = Callable[[Sample], bool]


class SampleTree:
    """Samples linked parent to child by ``request.parent_sample_id``.

    A sample whose parent is not among the samples given is a root (a plain
    sample has no parent; a tree built from answers only makes a refinement
    whose parent is a critique a root too). Children keep the order the
    samples were given in, which is the order they were drawn.
    """

    def __init__(self, samples: Iterable[Sample]):
        self.samples = list(samples)
        self._by_id = {s.id: s for s in self.samples}
        self._children: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            parent = s.request.parent_sample_id
            if parent is not None:
                self._children[parent].append(s)

    def __len__(self) -> int:
        return len(self.samples)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._by_id

    def get(self, sample_id: str | None) -> Sample | None:
        """The sample with this id, or ``None`` when it is not in the tree."""
        return self._by_id.get(sample_id) if sample_id is not None else None

    def parent(self, sample: Sample) -> Sample | None:
        """The sample ``sample`` follows up on, or ``None`` (no parent, or not in the tree)."""
        return self.get(sample.request.parent_sample_id)

    def children(self, of: Sample | str, where: SampleFilter | None = None) -> list[Sample]:
        """The samples that follow up on ``of`` (a sample or its id), in drawing order.

        ``where`` keeps only the children it accepts. The id form also finds
        children of a sample that is not itself in the tree.
        """
        found = self._children.get(of if isinstance(of, str) else of.id, [])
        return [c for c in found if where is None or where(c)]

    def first_child(self, of: Sample | str, where: SampleFilter | None = None) -> Sample | None:
        """The first child of ``of`` that ``where`` accepts, or ``None``."""
        return next(iter(self.children(of, where)), None)

    def roots(self, where: SampleFilter | None = None) -> list[Sample]:
        """The samples without a parent in the tree (that ``where`` accepts), in order."""
        return [
            s
            for s in self.samples
            if s.request.parent_sample_id not in self._by_id and (where is None or where(s))
        ]

    def root(self, sample: Sample) -> Sample:
        """The first sample of ``sample``'s lineage: its oldest ancestor in the tree."""
        node = sample
        seen = {node.id}
        while (up := self.parent(node)) is not None and up.id not in seen:
            seen.add(up.id)
            node = up
        return node

    def ancestors(self, sample: Sample) -> list[Sample]:
        """``sample``'s parent, its parent's parent, ... up to the root."""
        out: list[Sample] = []
        node = sample
        seen = {node.id}
        while (up := self.parent(node)) is not None and up.id not in seen:
            seen.add(up.id)
            out.append(up)
            node = up
        return out

    def descendants(self, sample: Sample) -> Iterator[Sample]:
        """Every sample below ``sample``: each node's children in order, depth first."""
        todo, seen = [sample], {sample.id}
        while todo:
            for child in self.children(todo.pop()):
                if child.id in seen:
                    continue
                seen.add(child.id)
                yield child
                todo.append(child)

    def chain(self, start: Sample, step: Callable[[Sample], Sample | None]) -> list[Sample]:
        """``start`` and each sample ``step`` leads to from the last, until it returns ``None``.

        ``step`` says which follow-up continues the chain (for the critic: the
        refinement answering the critique of an answer); a sample already in
        the chain ends it.
        """
        out, seen = [start], {start.id}
        while (nxt := step(out[-1])) is not None and nxt.id not in seen:
            seen.add(nxt.id)
            out.append(nxt)
        return out


def attempt_chains(samples: list[Sample]) -> list[tuple[Sample, Sample]]:
    """(first attempt, final attempt) per independent attempt at one problem.

    Only answer samples (``request.answers_problem``) count. A first attempt
    is an answer without an answer as parent; its final attempt is its
    descendant of the latest round (a refined or debugged program), or
    itself. Plain sampling gives chains of one sample.
    """
    tree = SampleTree(s for s in samples if s.request.answers_problem)
    chains = []
    for root in tree.roots():
        final = root
        for child in tree.descendants(root):
            if child.request.round >= final.request.round:
                final = child
        chains.append((root, final))
    return chains
