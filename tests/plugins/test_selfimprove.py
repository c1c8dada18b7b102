from __future__ import annotations

from reasonloop.core.records import Message, Request, Sample, TrainingExample
from reasonloop.plugins.selfimprove import reasonloop_final_answer, reasonloop_select_examples


def _example(i: int, problem: str, completion: str) -> TrainingExample:
    return TrainingExample(
        id=f"e{i}",
        problem_id=problem,
        messages=[Message(role="user", content="q"), Message(role="assistant", content=completion)],
    )


class Ctx:
    class recipe:
        class selection:
            dedupe = True
            max_per_problem = 2


def test_select_dedupes_and_caps_per_problem():
    examples = [
        _example(0, "a", "Answer: 4"),
        _example(1, "a", "answer:  4"),  # same text up to case and spaces
        _example(2, "a", "2+2 = 4. Answer: 4"),
        _example(3, "a", "4! Answer: 4"),
        _example(4, "b", "Answer: 4"),  # same text, other problem: kept
    ]
    kept = reasonloop_select_examples(examples, Ctx())
    assert [e.id for e in kept] == ["e0", "e2", "e4"]


def test_final_answer_is_the_last_answer_of_the_deepest_round():
    def sample(i, rnd, answers=True):
        req = Request(id=f"r{i}", problem_id="p", messages=[], round=rnd, answers_problem=answers)
        return Sample(id=f"s{i}", problem_id="p", request=req, completion="")

    samples = [sample(0, 0), sample(1, 1), sample(2, 2, answers=False), sample(3, 1)]
    assert reasonloop_final_answer(None, samples, None).id == "s3"
    assert reasonloop_final_answer(None, [sample(9, 0, answers=False)], None) is None
