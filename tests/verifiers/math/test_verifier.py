"""The math verifier end to end: verdicts, evidence, time bounds, safety, real data."""

from __future__ import annotations

import builtins
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sympy
from sympy.parsing import sympy_parser as parser

from reasonloop.core.records import Verdict
from reasonloop.verifiers import math as math_verifier
from reasonloop.verifiers.math import MathResult, MathVerifier, answers_match
from reasonloop.verifiers.math import tree as A
from reasonloop.verifiers.math.normalize import clean_answer
from reasonloop.verifiers.math.parse import parse_answer
from reasonloop.verifiers.math.symbolic import to_sympy

VERIFIERS = Path(math_verifier.__file__).parent
MODULES = sorted(VERIFIERS.glob("*.py"))
# Needs sympy: evaluation alone refuses trigonometric arguments this large.
SYMBOLIC_GOLD = "\\sin(10^{40}x)"
SYMBOLIC_PRED = "\\sin(x \\cdot 10^{40})"
# simplify() on this pair runs for many seconds.
SLOW_GOLD = "(\\sin(10^{40}x)+1)^{200}"
SLOW_PRED = "(\\sin(10^{40}x)+\\cos(10^{40}x))^{200}"

ADVERSARIAL = {
    "power tower": "\\boxed{10^{10^{10^{10}}}}",
    "factorials": "\\boxed{9!!!!!!!}",
    "huge factorial": "\\boxed{(10^{100})!}",
    "huge binomial": "\\boxed{\\binom{10^{9}}{10^{5}}}",
    "nested braces": "\\boxed{" + "{" * 20_000 + "1" + "}" * 20_000 + "}",
    "nested brackets": "\\boxed{" + "(" * 50_000 + "1" + ")" * 50_000 + "}",
    "deep but short": "\\boxed{" + "\\sqrt{" * 45 + "2" + "}" * 45 + "}",
    "long sum": "\\boxed{" + "1+" * 50_000 + "1}",
    "long number": "9" * 100_000,
    "long word": "\\boxed{" + "x" * 100_000,
    "exponent chain": "\\boxed{" + "x^" * 500 + "x}",
    "many plus-minus": "\\boxed{" + "1 \\pm " * 100 + "1}",
    "exp tower": "\\boxed{e^{e^{e^{e^{10}}}}}",
    "huge sine": "\\boxed{\\sin(10^{100})}",
    "symbolic tower": "\\boxed{x^{x^{x^{x^{x}}}}}",
    "slow simplify": f"\\boxed{{{SLOW_PRED}}}",
    "dollar signs": "$" * 100_000,
    "nested sums": "\\boxed{\\sum_{i=1}^{100}\\sum_{j=1}^{100}\\sum_{k=1}^{100} ijk}",
    "many long sums": "\\boxed{"
    + "+".join(["\\sum_{k=1}^{100} (" + "+".join(["k^2"] * 20) + ")"] * 8)
    + "}",
    "huge sum": "\\boxed{\\sum_{k=1}^{10^{100}} k!}",
    "many boxes": "\\boxed{1}, " * 50_000,
    "matrix products": "\\boxed{"
    + ("\\begin{pmatrix}" + "\\\\".join(["&".join(["9"] * 10)] * 10) + "\\end{pmatrix}") * 4
    + "}",
}
BOUNDED = {Verdict.TIMEOUT, Verdict.WRONG, Verdict.UNPARSABLE}


@pytest.fixture(scope="module")
def verifier():
    with MathVerifier(timeout=1.0) as v:
        yield v


def test_correct_answer_reports_what_was_extracted_and_which_check_decided(verifier):
    result = verifier.verify("Half of the 8 apples, so the answer is $\\boxed{4}$.", "4")
    assert result == MathResult(Verdict.CORRECT, "4", {"check": "string"})
    assert result.correct


@pytest.mark.parametrize(
    ("text", "gold", "verdict", "check"),
    [
        ("The answer is \\boxed{0.5}.", "\\frac{1}{2}", Verdict.CORRECT, "exact"),
        ("The answer is \\boxed{3}.", "\\frac{1}{2}", Verdict.WRONG, "exact"),
        ("So $x = 2\\sqrt{3}$.", "\\sqrt{12}", Verdict.CORRECT, "numeric"),
        ("Answer: Evelyn", "\\text{Evelyn}", Verdict.CORRECT, "text"),
        ("I am not sure how to do this.", "4", Verdict.UNPARSABLE, "extract"),
        ("The answer is \\boxed{blue}.", "4", Verdict.WRONG, "numeric"),
    ],
)
def test_verdicts_and_evidence(verifier, text, gold, verdict, check):
    result = verifier.verify(text, gold)
    assert result.verdict == verdict
    assert result.evidence["check"] == check


def test_symbolic_check_decides_what_evaluation_cannot(verifier):
    result = verifier.verify(f"\\boxed{{{SYMBOLIC_PRED}}}", SYMBOLIC_GOLD)
    assert result.verdict == Verdict.CORRECT
    assert result.evidence == {"check": "symbolic"}


def test_verify_many_keeps_order(verifier):
    pairs = [("\\boxed{1}", "1"), ("\\boxed{2}", "1"), ("no answer", "1")]
    verdicts = [r.verdict for r in verifier.verify_many(iter(pairs))]
    assert verdicts == [Verdict.CORRECT, Verdict.WRONG, Verdict.UNPARSABLE]


def test_unexpected_exception_is_an_error_verdict_with_its_message(verifier, monkeypatch):
    def broken(*args, **kwargs):  # stands in for a bug in a comparison
        raise RuntimeError("comparison exploded")

    monkeypatch.setattr(math_verifier, "values_equal", broken)
    result = verifier.verify("\\boxed{x+1}", "1+x")
    assert result.verdict == Verdict.ERROR
    assert result.extracted == "x+1"
    assert "comparison exploded" in result.evidence["reason"]


def test_answers_match_compares_answers_not_completions():
    assert answers_match("1,000", "1000")
    assert answers_match("\\frac{\\sqrt{3}}{2}", "\\sqrt{3}/2")
    assert not answers_match("1001", "1000")


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_inputs_return_a_verdict_quickly(verifier, text):
    start = time.perf_counter()
    result = verifier.verify(text, "5")
    assert time.perf_counter() - start < 5
    assert result.verdict in BOUNDED, result


def test_slow_symbolic_check_times_out_and_the_verifier_recovers():
    with MathVerifier(timeout=0.5) as verifier:
        # Start the worker first: its start (importing sympy) is not the pair's time.
        assert verifier.verify(f"\\boxed{{{SYMBOLIC_PRED}}}", SYMBOLIC_GOLD).correct
        start = time.perf_counter()
        result = verifier.verify(f"\\boxed{{{SLOW_PRED}}}", SLOW_GOLD)
        assert time.perf_counter() - start < 5
        assert result.verdict == Verdict.TIMEOUT
        assert result.evidence["check"] == "symbolic"
        # The killed worker was replaced: the next symbolic check works.
        after = verifier.verify(f"\\boxed{{{SYMBOLIC_PRED}}}", SYMBOLIC_GOLD)
        assert after.verdict == Verdict.CORRECT


def test_time_bound_holds_outside_the_main_thread():
    results: list[tuple[MathResult, float]] = []

    def work(v: MathVerifier) -> None:
        start = time.perf_counter()
        result = v.verify(f"\\boxed{{{SLOW_PRED}}}", SLOW_GOLD)
        results.append((result, time.perf_counter() - start))

    def run_in_threads(target, v: MathVerifier) -> None:
        threads = [threading.Thread(target=target, args=(v,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    with MathVerifier(timeout=0.5) as v:
        # Start one worker per thread first: starting a worker is not charged to a pair,
        # and on a busy machine importing sympy three times over takes seconds.
        run_in_threads(lambda v: v.verify(f"\\boxed{{{SYMBOLIC_PRED}}}", SYMBOLIC_GOLD), v)
        run_in_threads(work, v)
    assert len(results) == 3
    for result, elapsed in results:
        assert result.verdict == Verdict.TIMEOUT
        assert elapsed < 5


def test_time_bound_holds_in_another_process():
    code = (
        "import json, sys, time\n"
        "from reasonloop.verifiers.math import MathVerifier\n"
        "text, gold = json.loads(sys.argv[1])\n"
        "with MathVerifier(timeout=0.5) as v:\n"
        "    v.verify('\\\\boxed{\\\\sin(x 10^{40})}', '\\\\sin(10^{40}x)')\n"
        "    t = time.perf_counter()\n"
        "    r = v.verify(text, gold)\n"
        "    print(json.dumps([r.verdict.value, time.perf_counter() - t]))\n"
    )
    pair = json.dumps([f"\\boxed{{{SLOW_PRED}}}", SLOW_GOLD])
    out = subprocess.run(
        [sys.executable, "-c", code, pair], capture_output=True, text=True, timeout=120
    )
    verdict, elapsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict == "timeout"
    assert elapsed < 5


def test_worker_runs_as_a_module_without_loading_itself_twice():
    # The package __init__ must not import the worker program, or runpy warns.
    request = json.dumps({"gold": "x^2 - 1", "pred": "(x-1)(x+1)"}) + "\n"
    out = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "reasonloop.verifiers.math.worker"],
        input=request,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "RuntimeWarning" not in out.stderr
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {"ready": True},
        {"equal": True},
    ]


SAFETY_INPUTS = [
    "__import__('os').system('echo pwned')",
    "exec('1')",
    "eval('2+2')",
    "lambda: 0",
    "x.__class__",
    "open('/etc/passwd')",
    "\\frac{\\sqrt{3}}{2}",
    "2(x+1)",
    "(x+1)^2",
    "\\sin^2 x + \\cos^2 x",
    "y = 2x + 3",
    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
    "(0, 1] \\cup [2, 3)",
    "1 \\pm \\sqrt{19}",
    "\\text{Monday}",
    "\\cot x + \\log_2 8 + |x| + \\lfloor x \\rfloor + \\binom{x}{2} + x!",
]


@pytest.fixture
def code_traps(monkeypatch):
    """Record every string handed to eval, exec, sympify or sympy's parser."""
    caught: list[str] = []

    def recording(real):
        def trap(source, *args, **kwargs):
            # Imports exec compiled code objects; only source text is the danger.
            if isinstance(source, (str, bytes)):
                caught.append(str(source))
                raise AssertionError(f"evaluated as code: {source!r}")
            return real(source, *args, **kwargs)

        return trap

    sympify_module = sys.modules["sympy.core.sympify"]  # the name "sympify" is the function
    monkeypatch.setattr(builtins, "eval", recording(builtins.eval))
    monkeypatch.setattr(builtins, "exec", recording(builtins.exec))
    monkeypatch.setattr(sympify_module, "sympify", recording(sympify_module.sympify))
    monkeypatch.setattr(sympy, "sympify", recording(sympy.sympify))
    monkeypatch.setattr(parser, "parse_expr", recording(parser.parse_expr))
    monkeypatch.setattr(parser, "eval_expr", recording(parser.eval_expr))
    return caught


def test_answer_text_never_reaches_eval_or_sympify(code_traps, verifier):
    for answer in SAFETY_INPUTS:
        for gold in ("\\frac{\\sqrt{3}}{2}", "x^2 + 2x + 1", "5"):
            result = verifier.verify(f"The answer is \\boxed{{{answer}}}.", gold)
            assert result.verdict != Verdict.ERROR, result
        # A gold given as a solution goes through the same extraction and parser.
        result = verifier.verify("5", f"Hence $\\boxed{{{answer}}}$.")
        assert result.verdict != Verdict.ERROR, result
    assert code_traps == []


def test_symbolic_check_builds_sympy_objects_only_through_constructors(code_traps):
    built = 0
    for answer in SAFETY_INPUTS:
        try:
            tree = parse_answer(clean_answer(answer))
        except ValueError:
            continue
        scalars = tree.items if isinstance(tree, A.Seq) else (tree,)
        for node in scalars:
            if isinstance(node, A.SCALARS):
                assert isinstance(to_sympy(node), sympy.Basic)
                built += 1
    assert built >= 8
    assert code_traps == []


def test_source_never_calls_eval_or_sympify():
    banned = re.compile(r"\b(?:eval|exec|sympify|parse_expr|parse_latex|latex2sympy)\s*\(")
    assert len(MODULES) >= 10, MODULES
    for module in MODULES:
        assert not banned.search(module.read_text()), module.name


def test_gsm8k_and_math500_reference_answers(shared_data, verifier):
    """Each dataset's own worked solution is judged correct, a changed answer wrong."""
    pairs = []
    for line in (shared_data / "gsm8k" / "test.jsonl").open():
        row = json.loads(line)
        pairs.append((row["answer"], row["answer"].split("####")[-1].strip()))
    for line in (shared_data / "math500" / "test.jsonl").open():
        row = json.loads(line)
        pairs.append((row["solution"], row["answer"]))
    for solution, gold in pairs:
        assert verifier.verify(solution, gold).verdict == Verdict.CORRECT, (gold, solution[-80:])
        assert verifier.verify(f"So it is $\\boxed{{{gold}}}$.", gold).correct
        changed = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), gold, count=1)
        if changed != gold:
            wrong = verifier.verify(f"Answer: ${changed}$", gold)
            assert wrong.verdict == Verdict.WRONG, (gold, changed)
