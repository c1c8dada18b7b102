"""The ``critic`` rater, registered by the critic plugin for the raters selection."""

from __future__ import annotations

from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.records import Message, Request, Sample, TrainingExample
from reasonloop.plugins.critic.rater import acceptance
from reasonloop.plugins.raters.builtin import RatingContext

ACCEPT = "Step 1: correct - fine.\nFinal answer: correct"
REJECT = "Step 1: wrong - 2 + 2 is 4.\nFinal answer: wrong"


def sample(sid: str, text: str = "", parent: str | None = None, critique: bool = False) -> Sample:
    request = Request(
        id=f"r-{sid}",
        problem_id="p",
        messages=[Message(role="user", content="q")],
        plugin="critic" if critique else "selfimprove",
        purpose="critique" if critique else "sample",
        parent_sample_id=parent,
        answers_problem=not critique,
        meta={"steps": ["2 + 2 = 5"]} if critique else {},
    )
    return Sample(id=sid, problem_id="p", request=request, completion=text)


def example(sample_id: str | None) -> TrainingExample:
    return TrainingExample(
        id=f"e-{sample_id}",
        problem_id="p",
        sample_id=sample_id,
        messages=[Message(role="assistant", content="x")],
    )


def test_the_score_is_the_share_of_parsed_critiques_that_accept():
    samples = [
        sample("a"),
        sample("b"),
        sample("c"),
        sample("ca1", ACCEPT, parent="a", critique=True),
        sample("ca2", REJECT, parent="a", critique=True),
        sample("ca3", "no verdict here", parent="a", critique=True),  # unparsable: ignored
        sample("cb", ACCEPT, parent="b", critique=True),
        sample("c1", ACCEPT, parent="c"),  # not a critique: ignored
    ]
    ctx = RatingContext(stage=None, candidates=[], problems={}, samples=samples)  # type: ignore[arg-type]
    scores = acceptance([example("a"), example("b"), example("c"), example(None)], ctx)
    assert scores == [0.5, 1.0, None, None]


def test_the_critic_plugin_registers_the_rater_and_blocking_it_removes_it():
    registry = Registry.collect(make_plugin_manager(), "reasonloop_register_raters", "rater")
    assert registry.get("critic") is acceptance and registry.owner("critic") == "critic"
    assert registry.owner("length") == "raters"
    blocked = Registry.collect(
        make_plugin_manager(disable=["critic"]), "reasonloop_register_raters", "rater"
    )
    assert "critic" not in blocked.names() and "length" in blocked.names()
