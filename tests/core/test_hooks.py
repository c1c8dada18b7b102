"""The typed hook wrapper: how results of several plugins combine."""

from __future__ import annotations

import pytest

from reasonloop import hookimpl
from reasonloop.core.hooks import Hooks
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.records import Message, Problem, TrainingExample
from reasonloop.errors import PluginError


def example(i: int) -> TrainingExample:
    return TrainingExample(
        id=f"e{i}", problem_id="p", messages=[Message(role="assistant", content=str(i))]
    )


def hooks_with(*plugins: object) -> Hooks:
    # Without the built-in method plugins, whose hooks need a real run.
    return Hooks(
        make_plugin_manager(
            disable=["selfimprove", "critic", "guidance", "raters", "curriculum"],
            extra_plugins=plugins,
        )
    )


def test_reasonloop_run_start_lets_a_plugin_register_state(run_context):
    class Stateful:
        def __init__(self):
            self.seen = []

        @hookimpl
        def reasonloop_iteration_end(self, ctx, summary):
            self.seen.append(summary["iteration"])

    holder = Stateful()

    class Starter:
        @hookimpl
        def reasonloop_run_start(self, run):
            run.register_plugin(holder, "starter")

    run = run_context(extra_plugins=[Starter()])
    assert run.pm.get_plugin("starter.run") is holder
    run.hooks.iteration_end(None, {"iteration": 4})
    assert holder.seen == [4]


def test_reasonloop_training_examples_concatenate_in_registration_order():
    class First:
        @hookimpl
        def reasonloop_training_examples(self, problem, samples, ctx):
            return [example(1)]

    class Second:
        @hookimpl
        def reasonloop_training_examples(self, problem, samples, ctx):
            return [example(2), example(3)]

    class Nothing:
        @hookimpl
        def reasonloop_training_examples(self, problem, samples, ctx):
            return None

    hooks = hooks_with(First(), Nothing(), Second())
    problem = Problem(id="p", prompt="q")
    got = hooks.training_examples(problem, [], None)
    assert [e.id for e in got] == ["e1", "e2", "e3"]


def test_reasonloop_select_examples_first_result_wins_over_builtin():
    class KeepOdd:
        @hookimpl
        def reasonloop_select_examples(self, examples, ctx):
            return [e for e in examples if int(e.id[1:]) % 2]

    examples = [example(i) for i in range(5)]
    assert [e.id for e in hooks_with(KeepOdd()).select_examples(examples, None)] == ["e1", "e3"]


def test_reasonloop_order_examples_must_keep_the_same_examples():
    class Reverse:
        @hookimpl
        def reasonloop_order_examples(self, examples, ctx):
            return list(reversed(examples))

    class Lossy:
        @hookimpl
        def reasonloop_order_examples(self, examples, ctx):
            return examples[1:]

    examples = [example(i) for i in range(3)]
    assert [e.id for e in hooks_with(Reverse()).order_examples(examples, None)] == [
        "e2",
        "e1",
        "e0",
    ]
    assert hooks_with().order_examples(examples, None) is None
    with pytest.raises(PluginError, match="same examples"):
        hooks_with(Lossy()).order_examples(examples, None)


def test_reasonloop_eval_metrics_are_filed_under_the_plugin_name():
    class Extra:
        @hookimpl
        def reasonloop_eval_metrics(self, problems, samples, ctx):
            return {"problems_seen": len(problems)}

    # Method plugins (critic) read their settings from a real context; none here.
    pm = make_plugin_manager(disable=["critic"])
    pm.register(Extra(), name="extra")
    merged = Hooks(pm).eval_metrics([Problem(id="p", prompt="q")], [], None)
    assert merged == {"extra": {"problems_seen": 1}}


def test_reasonloop_report_sections_are_collected():
    class Section:
        @hookimpl
        def reasonloop_report_sections(self, run):
            return ["## Extra\n\ntext"]

    assert hooks_with(Section()).report_sections(None) == ["## Extra\n\ntext"]


def test_reasonloop_register_verifiers_builtin_math():
    registry = Registry.collect(make_plugin_manager(), "reasonloop_register_verifiers", "verifier")
    verifier = registry.get("math")({})
    try:
        problem = Problem(id="p", prompt="q")
        results = verifier.verify([(problem, "Answer: 3")])
        assert results[0].verdict.value == "error"  # no reference to judge against
    finally:
        verifier.close()
