"""Compare reasonloop's math verifier with math-verify: same verdicts, and how much faster.

Two mixes, judged by both verifiers in one run, each with its agreement and
throughput ratio:

- hard answers: the classes of ``tests/verifiers/math/test_hard_answers.py``
  (LaTeX-only completions, relations, number formats, sets and several boxes,
  layout, solution golds), plus MATH-500 worked solutions given as the gold;
  agreement is printed per class and overall;
- GSM8K (test) and MATH-500: model-style completions (correct ones, some in an
  equivalent form, and wrong ones) for every gold answer, reported per dataset.

    .venv/bin/python benchmarks/bench_math_verifier.py [--limit N]

Where math-verify is itself wrong, the pair is listed as a labelled exception
with the reason, instead of the verifier copying the mistake.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HARD_CASES = REPO / "tests" / "verifiers" / "math" / "test_hard_answers.py"

Pair = tuple[str, str, bool, str]  # completion, gold, constructed as correct, form

_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
_ROOT = re.compile(r"^(\d+)\s*\\sqrt\{(\d+)\}$")
_DIGITS = re.compile(r"\d+")


def load_golds() -> list[tuple[str, str, str]]:
    """Return ``(source, gold answer, worked solution)`` for GSM8K test and MATH-500."""
    golds = []
    with (DATA / "gsm8k" / "test.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            golds.append(("gsm8k", row["answer"].split("####")[-1].strip(), row["answer"]))
    with (DATA / "math500" / "test.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            golds.append(("math500", row["answer"], row["solution"]))
    return golds


def equivalent_forms(gold: str) -> list[str]:
    """Return the gold rewritten in equivalent forms that are easy to produce."""
    forms = []
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})*|-?\d+", gold):
        n = int(gold.replace(",", ""))
        forms.append(f"{n:,}" if abs(n) >= 1000 else f"{n}.0")
    m = _FRAC.match(gold)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        forms.append(f"{sign}{a}/{b}")
        value = Fraction(a, b)
        if (value * 10**6).denominator == 1:
            forms.append(f"{sign}{float(value):g}")
    if re.fullmatch(r"-?\d*\.\d+", gold):
        value = Fraction(gold)
        forms.append(rf"\frac{{{value.numerator}}}{{{value.denominator}}}")
    m = _ROOT.match(gold)
    if m:
        forms.append(rf"\sqrt{{{int(m.group(1)) ** 2 * int(m.group(2))}}}")
    m = re.fullmatch(r"\\text\{([A-Za-z ]+)\}", gold)
    if m:
        forms.append(m.group(1))
    if "\\dfrac" in gold:
        forms.append(gold.replace("\\dfrac", "\\frac"))
    if re.fullmatch(r"[-\w^ ]+(?:[+-][\w^ ]+)+", gold) and "=" not in gold:
        terms = re.findall(r"[+-]?[^+-]+", gold.replace(" ", ""))
        reordered = "".join(t if t[0] in "+-" else "+" + t for t in reversed(terms))
        forms.append(reordered.lstrip("+"))
    return forms


def perturbed(gold: str) -> str:
    """Return a wrong answer close to the gold: its first number plus one."""
    m = _DIGITS.search(gold)
    if m is None:
        return f"2({gold})"
    return gold[: m.start()] + str(int(m.group()) + 1) + gold[m.end() :]


def build_pairs(golds: list[tuple[str, str, str]]) -> list[Pair]:
    """Return the completions to judge, each with its gold and how it was built."""
    pairs: list[Pair] = []
    for source, gold, solution in golds:
        wrong = perturbed(gold)
        # The dataset's own worked solution is a realistic correct completion.
        pairs.append((solution, gold, True, "solution"))
        if source == "gsm8k":
            pairs += [
                (f"She pays for all of them.\n#### {gold}", gold, True, "####"),
                (f"So the answer is $\\boxed{{{gold}}}$.", gold, True, "boxed"),
                (f"Adding up, the total is {wrong}.\n#### {wrong}", gold, False, "####"),
                (f"The answer is $\\boxed{{{wrong}}}$.", gold, False, "boxed"),
                (f"In total she spends ${gold}.", gold, True, "currency"),
                (f"Answer: {gold} dollars", gold, True, "unit"),
                ("I could not work this one out.", gold, False, "no answer"),
            ]
        else:
            pairs += [
                (f"Putting it together: $\\boxed{{{gold}}}$.", gold, True, "boxed"),
                (
                    f"Final Answer: The final answer is ${gold}$. I hope it is correct.",
                    gold,
                    True,
                    "final answer",
                ),
                (f"So the answer is $\\boxed{{{wrong}}}$.", gold, False, "boxed"),
                (f"Answer: ${wrong}$", gold, False, "answer"),
            ]
            if not re.search(r"[,=]|\\text|\\in|matrix", gold):
                pairs.append((f"Solving, we get $x = {gold}$.", gold, True, "equation"))
        for form in equivalent_forms(gold):
            pairs.append(
                (f"Therefore the answer is $\\boxed{{{form}}}$.", gold, True, "equivalent")
            )
    return pairs


def run_math_verify(pairs: list[Pair], symmetric: bool = False) -> tuple[list[bool], float]:
    """Return math-verify's verdicts and the seconds it took.

    A bare gold is parsed as its docs show (``$gold$``); with ``symmetric`` the
    gold is parsed like the completion, as math-verify's own regression tests do.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    start = time.perf_counter()
    if symmetric:
        verdicts = [bool(verify(parse(g, config), parse(t, config))) for t, g, _, _ in pairs]
    else:
        verdicts = [bool(verify(parse(f"${g}$"), parse(t))) for t, g, _, _ in pairs]
    return verdicts, time.perf_counter() - start


def run_reasonloop(pairs: list[Pair]) -> tuple[list[bool], float, dict[str, int]]:
    """Return reasonloop's verdicts, the seconds it took, and how often each check decided."""
    from reasonloop.verifiers.math import MathVerifier

    with MathVerifier() as verifier:
        # One-time costs are not per pair: the symbolic worker starts here.
        verifier.verify("\\boxed{\\sin(x 10^{40})}", "\\sin(10^{40}x)")
        start = time.perf_counter()
        results = [verifier.verify(text, gold) for text, gold, _, _ in pairs]
        elapsed = time.perf_counter() - start
    checks: dict[str, int] = {}
    for r in results:
        key = f"{r.verdict.value}/{r.evidence.get('check')}"
        checks[key] = checks.get(key, 0) + 1
    return [r.correct for r in results], elapsed, checks


def load_hard_cases() -> tuple[dict[str, list[Pair]], dict[tuple[str, str], str]]:
    """Return the hard-answer pairs by class, and the reasons for deliberate disagreements."""
    spec = importlib.util.spec_from_file_location("hard_answers", HARD_CASES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = {
        name: [(text, gold, same, name) for gold, text, same in cases]
        for name, cases in module.CLASSES.items()
    }
    return classes, module.DELIBERATE


def solution_gold_pairs(limit: int) -> list[Pair]:
    """Return MATH-500 pairs whose gold is the worked solution (its answer boxed inside)."""
    pairs: list[Pair] = []
    with (DATA / "math500" / "test.jsonl").open() as f:
        rows = [json.loads(line) for line in f]
    for row in rows[:limit] if limit else rows:
        solution, answer = row["solution"], row["answer"]
        form = "MATH-500 solution as gold"
        pairs.append((f"So the answer is $\\boxed{{{answer}}}$.", solution, True, form))
        wrong = perturbed(answer)
        if wrong != answer:
            pairs.append((f"So the answer is $\\boxed{{{wrong}}}$.", solution, False, form))
    return pairs


def report_hard(limit: int) -> tuple[str, float]:
    """Print agreement per class on the hard answers; return its summary and speed ratio."""
    classes, deliberate = load_hard_cases()
    classes["MATH-500 solution as gold"] = solution_gold_pairs(limit)
    pairs = [pair for cases in classes.values() for pair in cases]
    theirs, their_time = run_math_verify(pairs, symmetric=True)
    ours, our_time, _ = run_reasonloop(pairs)
    print(f"hard answers: {len(pairs)} pairs in {len(classes)} classes")
    verdicts = dict(zip(range(len(pairs)), zip(ours, theirs, strict=True), strict=True))
    i = 0
    exceptions, unexplained = [], []
    for name, cases in classes.items():
        agreed = explained = 0
        for text, gold, label, _ in cases:
            o, t = verdicts[i]
            i += 1
            if o == t:
                agreed += 1
            elif (gold, text) in deliberate and o == label:
                explained += 1
                exceptions.append((gold, text, o, deliberate[(gold, text)]))
            else:
                unexplained.append((name, gold, text, o))
        share = agreed / len(cases)
        print(
            f"  {name:40} {agreed:4}/{len(cases):<4} {share:6.1%}"
            f"  (+{explained} where math-verify is wrong)"
        )
    agreed_all = sum(o == t for o, t in zip(ours, theirs, strict=True))
    own = len(pairs) - len(classes["MATH-500 solution as gold"])
    agreed_own = sum(o == t for o, t in zip(ours[:own], theirs[:own], strict=True))
    print(f"  {'overall, written cases':40} {agreed_own:4}/{own:<4} {agreed_own / own:6.1%}")
    print(f"  {'overall':40} {agreed_all:4}/{len(pairs):<4} {agreed_all / len(pairs):6.1%}")
    for gold, text, o, why in exceptions:
        print(f"  exception: gold {gold[-40:]!r}, completion {text[-50:]!r}")
        print(f"    reasonloop says {'correct' if o else 'wrong'}: {why}")
    for name, gold, text, o in unexplained:
        print(f"  DIFFERS [{name}] gold={gold[-60:]!r} text={text[-60:]!r} ours={o}")
    ratio = (len(pairs) / our_time) / (len(pairs) / their_time)
    print(
        f"  throughput: math-verify {len(pairs) / their_time:,.0f} pairs/s,"
        f" reasonloop {len(pairs) / our_time:,.0f} pairs/s; ratio {ratio:.1f}x"
    )
    summary = (
        f"written cases {agreed_own}/{own} ({agreed_own / own:.1%}),"
        f" with MATH-500 solution golds {agreed_all}/{len(pairs)} ({agreed_all / len(pairs):.1%})"
    )
    return summary, ratio


# Forms the verifier must accept and math-verify gets wrong, each with the reason.
PROBES: list[tuple[str, str, str]] = [
    (
        "She needs 1 1/2 cups, so the answer is 1 1/2.",
        "\\frac{3}{2}",
        "a mixed number written in plain text; math-verify reads only its whole part '1'",
    ),
    (
        "The answer is \\boxed{5 dollars}.",
        "5",
        "a unit word inside the box; math-verify parses 'dollars' as a product of variables",
    ),
    (
        "The answer is \\boxed{12.5}.",
        "12.5\\%",
        "the percent's own number; math-verify accepts 50 for 50% but not 12.5 for 12.5%",
    ),
    (
        "The answer is 50.0.",
        "50\\%",
        "the percent's own number as a decimal; math-verify accepts 50 but not 50.0 for 50%",
    ),
]


def probe_pairs() -> list[Pair]:
    """Return the probes as pairs, each labelled correct and carrying its reason."""
    return [(text, gold, True, f"probe: {reason}") for text, gold, reason in PROBES]


def explain(pair: Pair, ours: bool) -> str | None:
    """Return why math-verify's verdict on ``pair`` is wrong, when it is a known case."""
    text, gold, label, form = pair
    if ours != label:
        return None
    if form.startswith("probe: "):
        return form[len("probe: ") :]
    final = re.search(r"\n####\s*(\S+)\s*$", text)
    if form == "solution" and final and final.group(1) == gold:
        from math_verify import parse

        taken = parse(text)
        return (
            f"GSM8K's own '#### {gold}' final line; math-verify has no rule for it "
            f"and takes {taken[-1]!r} next to an earlier word 'answer'"
        )
    return None


ADVERSARIAL = {
    "10^{10^{10^{10}}}": "\\boxed{10^{10^{10^{10}}}}",
    "9!!!!!!!": "\\boxed{9!!!!!!!}",
    "20k nested braces": "\\boxed{" + "{" * 20_000 + "1" + "}" * 20_000 + "}",
    "45 nested roots": "\\boxed{" + "\\sqrt{" * 45 + "2" + "}" * 45 + "}",
    "100k-character sum": "\\boxed{" + "1+" * 50_000 + "1}",
    "100k-digit number": "9" * 100_000,
    "100k unclosed box": "\\boxed{" + "x" * 100_000,
    "100k of \\[": "\\[" * 50_000,
    "e^{e^{e^{e^{10}}}}": "\\boxed{e^{e^{e^{e^{10}}}}}",
    "slow simplify": "\\boxed{(\\sin(10^{40}x)+\\cos(10^{40}x))^{200}}",
}


def time_adversarial() -> None:
    """Print how long each adversarial completion takes, against the gold answer 5."""
    from reasonloop.verifiers.math import MathVerifier

    print("adversarial inputs (timeout 1 s):")
    with MathVerifier(timeout=1.0) as verifier:
        verifier.verify("\\boxed{\\sin(x 10^{40})}", "\\sin(10^{40}x)")  # start the worker
        for name, text in ADVERSARIAL.items():
            start = time.perf_counter()
            result = verifier.verify(text, "5")
            elapsed = time.perf_counter() - start
            check = result.evidence.get("check")
            print(f"  {name:20} {elapsed:6.3f} s  {result.verdict.value} ({check})")


def report_mix(source: str, pairs: list[Pair]) -> tuple[int, float]:
    """Print agreement and throughput on one dataset's pairs; return (unexplained, ratio)."""
    theirs, their_time = run_math_verify(pairs)
    ours, our_time, checks = run_reasonloop(pairs)
    differ = [(p, o, t) for p, o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    explained = [(p, o, explain(p, o)) for p, o, _ in differ]
    unexplained = [(p, o) for p, o, why in explained if why is None]
    agreed = len(pairs) - len(differ)
    print(f"{source}: {len(pairs)} pairs")
    print(f"  agreement: {agreed}/{len(pairs)} ({agreed / len(pairs):.1%}); {len(differ)} differ")
    print(f"    explained (math-verify wrong): {len(differ) - len(unexplained)}")
    print(f"    unexplained: {len(unexplained)}")
    shown: set[str] = set()
    for (text, gold, _, _form), o, why in explained:
        if why is not None and why not in shown:  # each reason once, with one example
            shown.add(why)
            count = sum(1 for _, _, w in explained if w == why)
            print(f"  exception ({count}x): gold {gold!r}, completion ...{text[-45:]!r}")
            print(f"    reasonloop says {'correct' if o else 'wrong'}: {why}")
    for (text, gold, _, form), o in unexplained[:15]:
        print(f"  DIFFERS [{form}] gold={gold!r} text={text[-70:]!r} ours={o}")
    for name, verdicts in (("math-verify", theirs), ("reasonloop", ours)):
        right = sum(v == p[2] for v, p in zip(verdicts, pairs, strict=True))
        print(f"  {name:12} matches the constructed label on {right}/{len(pairs)} pairs")
    print(f"  reasonloop checks: {dict(sorted(checks.items()))}")
    their_rate, our_rate = len(pairs) / their_time, len(pairs) / our_time
    ratio = our_rate / their_rate
    print(
        f"  throughput: math-verify {their_rate:,.0f} pairs/s ({their_time:.2f} s),"
        f" reasonloop {our_rate:,.0f} pairs/s ({our_time:.2f} s); ratio {ratio:.1f}x"
    )
    return len(unexplained), ratio


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--limit", type=int, default=0, help="use only the first N gold answers")
    opts = args.parse_args(argv)
    if not DATA.exists():
        print(f"skipped: reference data not found at {DATA}")
        return 0
    hard_summary, hard_ratio = report_hard(opts.limit // 2)
    golds = load_golds()
    if opts.limit:
        golds = golds[: opts.limit // 2] + golds[-opts.limit // 2 :]
    sources = {
        "GSM8K": build_pairs([g for g in golds if g[0] == "gsm8k"]) + probe_pairs(),
        "MATH-500": build_pairs([g for g in golds if g[0] == "math500"]),
    }
    unexplained = 0
    ratios = {}
    for name, mix in sources.items():
        missing, ratios[name] = report_mix(name, mix)
        unexplained += missing
    print(
        f"summary: hard answers {hard_summary} at {hard_ratio:.1f}x;"
        + "".join(f" {name} {ratio:.1f}x;" for name, ratio in ratios.items())
    )
    time_adversarial()
    return 0 if not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
