"""The sample tree: parents, children, roots and chains, and attempt chains over it."""

from __future__ import annotations

from reasonloop.core.lineage import SampleTree, attempt_chains
from reasonloop.core.records import Request, Sample, Verdict


def sample(
    sid: str,
    correct: bool = False,
    parent: str | None = None,
    rnd: int = 0,
    answers: bool = True,
    purpose: str = "sample",
) -> Sample:
    request = Request(
        id=f"r-{sid}",
        problem_id="p",
        messages=[],
        parent_sample_id=parent,
        round=rnd,
        answers_problem=answers,
        purpose=purpose,
    )
    verdict = Verdict.CORRECT if correct else Verdict.WRONG
    return Sample(id=sid, problem_id="p", request=request, completion="", verdict=verdict)


def critique_tree() -> SampleTree:
    # a -> critique ca -> revisions a1, a1b; a1 -> critique ca1 -> revision a2; b alone.
    return SampleTree(
        [
            sample("a"),
            sample("b", True),
            sample("ca", parent="a", rnd=1, answers=False, purpose="critique"),
            sample("a1", parent="ca", rnd=2, purpose="refine"),
            sample("a1b", True, parent="ca", rnd=2, purpose="refine"),
            sample("ca1", parent="a1", rnd=3, answers=False, purpose="critique"),
            sample("a2", True, parent="ca1", rnd=4, purpose="refine"),
        ]
    )


def ids(samples) -> list[str]:
    return [s.id for s in samples]


def test_parent_children_and_roots():
    tree = critique_tree()
    a, a1 = tree.get("a"), tree.get("a1")
    assert len(tree) == 7 and "ca" in tree and "zz" not in tree and tree.get("zz") is None
    assert tree.parent(a1).id == "ca" and tree.parent(a) is None
    assert ids(tree.children("ca")) == ["a1", "a1b"]  # drawing order
    assert ids(tree.children(a, lambda s: s.request.purpose == "refine")) == []
    assert tree.first_child(a).id == "ca" and tree.first_child(tree.get("b")) is None
    assert ids(tree.roots()) == ["a", "b"]
    assert ids(tree.roots(lambda s: s.correct)) == ["b"]


def test_children_of_a_sample_outside_the_tree_are_found_by_id():
    tree = SampleTree([sample("c", parent="gone"), sample("d", parent="gone")])
    assert ids(tree.children("gone")) == ["c", "d"]
    assert ids(tree.roots()) == ["c", "d"] and tree.parent(tree.get("c")) is None


def test_root_ancestors_and_descendants():
    tree = critique_tree()
    a2 = tree.get("a2")
    assert tree.root(a2).id == "a"
    assert ids(tree.ancestors(a2)) == ["ca1", "a1", "ca", "a"]
    assert tree.root(tree.get("b")).id == "b" and tree.ancestors(tree.get("b")) == []
    assert set(ids(tree.descendants(tree.get("a")))) == {"ca", "a1", "a1b", "ca1", "a2"}
    assert list(tree.descendants(tree.get("a2"))) == []


def test_chain_follows_a_step_until_it_stops():
    tree = critique_tree()

    def revision(answer: Sample) -> Sample | None:
        c = tree.first_child(answer, lambda s: s.request.purpose == "critique")
        return tree.first_child(c, lambda s: s.request.purpose == "refine") if c else None

    assert ids(tree.chain(tree.get("a"), revision)) == ["a", "a1", "a2"]
    assert ids(tree.chain(tree.get("b"), revision)) == ["b"]


def test_a_cycle_in_broken_data_ends_every_walk():
    tree = SampleTree([sample("x", parent="y"), sample("y", parent="x")])
    x = tree.get("x")
    assert tree.roots() == []
    assert tree.root(x).id == "y" and ids(tree.ancestors(x)) == ["y"]
    assert ids(tree.descendants(x)) == ["y"]
    assert ids(tree.chain(x, tree.parent)) == ["x", "y"]


def test_attempt_chains_follow_revisions_to_the_deepest():
    samples = [
        sample("a", False),
        sample("b", True),
        sample("tests", False, answers=False),
        sample("a1", False, parent="a", rnd=1),
        sample("a2", True, parent="a1", rnd=2),
    ]
    chains = {(r.id, f.id) for r, f in attempt_chains(samples)}
    assert chains == {("a", "a2"), ("b", "b")}


def test_attempt_chains_skip_non_answers_between_attempts():
    # A refinement answers a critique, not an answer: it starts its own chain.
    chains = [(r.id, f.id) for r, f in attempt_chains(critique_tree().samples)]
    assert chains == [("a", "a"), ("b", "b"), ("a1", "a1"), ("a1b", "a1b"), ("a2", "a2")]
