"""The typed hook wrapper: how results of several plugins combine, and how they fail."""

from __future__ import annotations

import logging

import pytest

from reasonloop import hookimpl
from reasonloop.core.hooks import Hooks, plugin_callers, stop_on_plugin_failure
from reasonloop.core.plugins import Registry, make_plugin_manager
from reasonloop.core.records import Message, Problem, TrainingExample
from reasonloop.errors import ExitCode, PluginError, PluginHookError, UsageError


def example(i: int) -> TrainingExample:
    return TrainingExample(
        id=f"e{i}", problem_id="p", messages=[Message(role="assistant", content=str(i))]
    )


class PlainMethodOff:
    """Replaces the essential selfimprove plugin (whose hooks need a real run) with nothing."""

    @hookimpl
    def reasonloop_round_requests(self, ctx):
        return None

    @hookimpl
    def reasonloop_training_examples(self, problem, samples, ctx):
        return None

    @hookimpl
    def reasonloop_select_examples(self, examples, ctx):
        return None

    @hookimpl
    def reasonloop_final_answer(self, problem, samples, ctx):
        return None


def hooks_with(*plugins: object) -> Hooks:
    # Without the built-in method plugins, whose hooks need a real run.
    return Hooks(
        make_plugin_manager(
            disable=["selfimprove", "critic", "guidance", "raters", "curriculum"],
            extra_plugins=[PlainMethodOff(), *plugins],
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


def test_reasonloop_eval_metrics_impl_may_take_a_subset_of_the_arguments():
    class OnlySamples:
        @hookimpl
        def reasonloop_eval_metrics(self, samples):
            return {"samples_seen": len(samples)}

    class OnlyProblems:
        @hookimpl
        def reasonloop_eval_metrics(self, problems):
            return {"problems_seen": len(problems)}

    pm = make_plugin_manager(disable=["critic", "selfdebug"])
    pm.register(OnlySamples(), name="only-samples")
    pm.register(OnlyProblems(), name="only-problems")
    merged = Hooks(pm).eval_metrics([Problem(id="p", prompt="q")], [], None)
    assert merged == {"only-samples": {"samples_seen": 0}, "only-problems": {"problems_seen": 1}}


def test_a_hook_wrapper_sees_the_per_plugin_calls():
    seen: list[str] = []

    class Watch:
        @hookimpl(wrapper=True)
        def reasonloop_eval_metrics(self):
            result = yield
            seen.append("eval_metrics")
            return [{**r, "watched": True} for r in result]

        @hookimpl(wrapper=True)
        def reasonloop_register_backends(self, register):
            seen.append("register_backends")
            return (yield)

    class Extra:
        @hookimpl
        def reasonloop_eval_metrics(self, samples):
            return {"n": len(samples)}

    pm = make_plugin_manager(disable=["critic", "selfdebug"], extra_plugins=[Watch()])
    pm.register(Extra(), name="extra")
    assert Hooks(pm).eval_metrics([], [], None) == {"extra": {"n": 0, "watched": True}}
    registry = Registry.collect(pm, "reasonloop_register_backends", "backend")
    assert registry.owner("transformers") == "backends"  # the wrapper owns nothing
    assert seen == ["eval_metrics", "register_backends"]


def test_tracing_shows_the_per_plugin_hook_calls(monkeypatch, capsys):
    class Extra:
        @hookimpl
        def reasonloop_eval_metrics(self, samples):
            return {"n": len(samples)}

    monkeypatch.setenv("REASONLOOP_TRACE_HOOKS", "1")
    pm = make_plugin_manager(disable=["critic", "selfdebug"])
    pm.register(Extra(), name="extra")
    capsys.readouterr()
    Hooks(pm).eval_metrics([], [], None)
    Registry.collect(pm, "reasonloop_register_trainers", "trainer")
    err = capsys.readouterr().err
    assert "reasonloop_eval_metrics" in err and "reasonloop_register_trainers" in err


def test_callers_per_plugin_follow_registration_order():
    class Late:
        @hookimpl
        def reasonloop_register_backends(self, register):
            register("late", object)

    pm = make_plugin_manager(extra_plugins=[Late()])
    names = [name for name, _ in plugin_callers(pm, "reasonloop_register_backends")]
    assert names[0] == "backends" and len(names) == 2


def test_a_raising_hook_names_the_plugin_and_the_hook():
    class Sections:
        @hookimpl
        def reasonloop_report_sections(self, run):
            return ["## fine"]

    class Broken:
        @hookimpl
        def reasonloop_report_sections(self, run):
            raise KeyError("missing")

    pm = make_plugin_manager(disable=["critic", "guidance", "raters", "curriculum", "selfdebug"])
    pm.register(Sections(), name="sections")
    pm.register(Broken(), name="broken")
    with pytest.raises(PluginHookError) as info:
        Hooks(pm).report_sections(None)
    assert info.value.plugin == "broken" and info.value.hook == "reasonloop_report_sections"
    assert "plugin 'broken' failed in its hook reasonloop_report_sections: KeyError" in str(
        info.value
    )
    assert info.value.exit_code == ExitCode.PLUGIN_ERROR
    assert isinstance(info.value.__cause__, KeyError)


def test_a_raising_register_or_metrics_hook_names_its_plugin():
    class BadRegister:
        @hookimpl
        def reasonloop_register_datasets(self, register):
            raise RuntimeError("no network")

    class BadMetrics:
        @hookimpl
        def reasonloop_eval_metrics(self, samples):
            return 1 / len(samples)

    pm = make_plugin_manager(disable=["critic", "selfdebug"])
    pm.register(BadRegister(), name="bad-register")
    pm.register(BadMetrics(), name="bad-metrics")
    with pytest.raises(PluginHookError, match="'bad-register' failed in its hook reasonloop_reg"):
        Registry.collect(pm, "reasonloop_register_datasets", "dataset")
    with pytest.raises(PluginHookError, match=r"'bad-metrics' failed in .*ZeroDivisionError"):
        Hooks(pm).eval_metrics([], [], None)


def test_a_plugins_own_reasonloop_error_passes_through():
    class Strict:
        @hookimpl
        def reasonloop_report_sections(self, run):
            raise UsageError("plugins.settings.strict.level: must be positive")

    with pytest.raises(UsageError, match="must be positive") as info:
        hooks_with(Strict()).report_sections(None)
    assert not isinstance(info.value, PluginHookError)


def test_a_failure_inside_a_wrapped_hook_blames_the_raising_plugin():
    class Wrap:
        @hookimpl(wrapper=True)
        def reasonloop_report_sections(self, run):
            return (yield)

    class Broken:
        @hookimpl
        def reasonloop_report_sections(self, run):
            raise ValueError("bad")

    pm = make_plugin_manager(disable=["critic", "guidance", "raters", "curriculum", "selfdebug"])
    pm.register(Wrap(), name="wrap")
    pm.register(Broken(), name="broken")
    with pytest.raises(PluginHookError) as info:
        Hooks(pm).report_sections(None)
    assert info.value.plugin == "broken"


def test_stop_on_plugin_failure_logs_the_traceback_and_adds_the_hint(tmp_path):
    class Broken:
        @hookimpl
        def reasonloop_report_sections(self, run):
            raise ValueError("bad section")

    hooks = hooks_with(Broken())
    logger = logging.getLogger("reasonloop")
    handler = logging.FileHandler(tmp_path / "run.log")
    logger.addHandler(handler)
    try:
        with (
            pytest.raises(PluginHookError) as info,
            stop_on_plugin_failure(lambda: "continue with: reasonloop resume RUN"),
            stop_on_plugin_failure(lambda: "the inner hint"),
        ):
            hooks.report_sections(None)
    finally:
        logger.removeHandler(handler)
        handler.close()
    message = str(info.value)
    assert "in its hook reasonloop_report_sections: ValueError: bad section" in message
    assert f"the traceback is in {tmp_path / 'run.log'}" in message
    assert message.endswith("the inner hint") and "Traceback" not in message
    logged = (tmp_path / "run.log").read_text()
    assert logged.count("Traceback") == 1 and 'raise ValueError("bad section")' in logged
