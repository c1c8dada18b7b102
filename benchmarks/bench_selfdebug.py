"""Self-debugging modes against plain resampling, on the same first attempts.

    .venv/bin/python benchmarks/bench_selfdebug.py [--problems 40] [--n 4] [--out DIR]
    .venv/bin/python benchmarks/bench_selfdebug.py --gate-ablation [--problems 8] [--n 2]

Runs ``reasonloop eval recipes/selfdebug-humaneval.yaml`` once with
post-execution debugging and detailed feedback, then with label feedback and
with in-execution (trace) debugging. The later runs start from the first
run's plain attempts and self-written tests (copied into their run
directories, where the scheduler reuses samples whose requests match), so
every mode debugs the very same programs and only the debugging differs.
Prints, per mode: pass@1 of the first attempts (plain sampling) and of the
final programs, tokens per attempt, and plain resampling with the same
tokens (oracle pass@k and self-test pick@k), plus the quality of the
self-written tests.

``--gate-ablation`` runs in-execution debugging twice on the same first
attempts and self-written tests: tracing every program (``trace: all``) and
only the programs that fail a self-written test (``trace: failing``). It
prints, per gate, pass@1 before and after debugging with 95% intervals and
the number of problems, how many programs correct on the real tests were
"repaired away" (wrong after debugging) and how many wrong ones were fixed,
what the model's block verdicts decided, and the tokens each side spent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "selfdebug-humaneval.yaml"
MODES = {
    "post-detail": [
        "plugins.settings.selfdebug.mode=post",
        "plugins.settings.selfdebug.feedback=detail",
    ],
    "post-label": [
        "plugins.settings.selfdebug.mode=post",
        "plugins.settings.selfdebug.feedback=label",
    ],
    "in-execution": ["plugins.settings.selfdebug.mode=in"],
}
GATES = {
    "trace-all": ["plugins.settings.selfdebug.mode=in", "plugins.settings.selfdebug.trace=all"],
    "trace-failing": [
        "plugins.settings.selfdebug.mode=in",
        "plugins.settings.selfdebug.trace=failing",
    ],
}
SHARED_PURPOSES = {"eval", "tests"}


def run_mode(name: str, out: Path, common: list[str], settings: dict | None = None) -> dict:
    run_dir = out / name
    args = [sys.executable, "-m", "reasonloop", "eval", str(RECIPE), "--run-dir", str(run_dir)]
    for item in common + (settings or MODES)[name]:
        args += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([*args, "--no-progress"], check=True, env=env, cwd=ROOT)
    return json.loads((run_dir / "base" / "eval.json").read_text())


def seed_from(first: Path, run_dir: Path) -> None:
    """Copy the first run's plain attempts and written tests (and problems) into ``run_dir``."""
    (run_dir / "base").mkdir(parents=True, exist_ok=True)
    (run_dir / "problems").mkdir(exist_ok=True)
    for f in (first / "problems").iterdir():
        (run_dir / "problems" / f.name).write_text(f.read_text())
    kept = [
        line
        for line in (first / "base" / "eval_samples.jsonl").read_text().splitlines()
        if json.loads(line)["request"]["purpose"] in SHARED_PURPOSES
    ]
    (run_dir / "base" / "eval_samples.jsonl").write_text("".join(k + "\n" for k in kept))


def _interval(m: dict, key: str) -> str:
    lo, hi = m["pass_at_k"].get("intervals", {}).get(key, [float("nan")] * 2)
    return f"{m['pass_at_k'][key]:.1%} [{lo:.1%}, {hi:.1%}]"


def gate_ablation(args: argparse.Namespace, common: list[str]) -> None:
    """In-execution, every program traced vs only those failing a self-written test."""
    common = [*common, f"plugins.settings.selfdebug.rounds={args.rounds}"]
    results = {}
    for i, name in enumerate(GATES):
        if i:
            seed_from(args.out / "trace-all", args.out / name)
        results[name] = run_mode(name, args.out, common, GATES)
    print(
        f"\nIn-execution gate ablation: HumanEval problems 0-{args.problems - 1}, {args.n} "
        f"attempts each, {args.rounds} revision(s), the same first attempts and self-written "
        "tests on both sides; pass@1 with 95% bootstrap intervals over problems; "
        "tokens = prompt + completion"
    )
    for name, m in results.items():
        sd = m["plugins"]["selfdebug"]
        v = sd.get("verdicts", {})
        tokens = sd.get("tokens", {})
        spent = {k: t["tokens"] for k, t in tokens.items()}
        first = "first_attempt_pass@1" if "first_attempt_pass@1" in m["pass_at_k"] else "pass@1"
        print(
            f"\n{name}: n = {m['pass_at_k']['problems']} problems, {sd.get('chains', 0)} programs\n"
            f"  pass@1 before: {_interval(m, first)}   after: {_interval(m, 'pass@1')}\n"
            f"  repaired away (correct -> wrong): {sd.get('broken', 0)}   "
            f"fixed (wrong -> correct): {sd.get('fixed', 0)}   "
            f"revised: {sd.get('debugged', 0)}\n"
            f"  traced: {v.get('traced', 0)} "
            f"(passing every self-written test: {v.get('traced_passing_self_tests', 0)})   "
            f"verdicts: {v.get('outcomes', {})}\n"
            f"  kept although wrong: {v.get('on_wrong_programs', {}).get('all-correct', 0)}   "
            f"correct but sent to revision: "
            f"{sum(n for k, n in v.get('on_correct_programs', {}).items() if k != 'all-correct')}\n"
            f"  tokens: {spent} (total {sum(spent.values())})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=None, help="default 40, ablation 8")
    parser.add_argument("--n", type=int, default=None, help="default 4, ablation 2")
    parser.add_argument("--rounds", type=int, default=1, help="revisions (gate ablation)")
    parser.add_argument("--gate-ablation", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    small = args.gate_ablation
    args.problems = args.problems or (8 if small else 40)
    args.n = args.n or (2 if small else 4)
    args.out = args.out or ROOT / "runs" / ("bench-selfdebug-gate" if small else "bench-selfdebug")
    common = [f"data.eval.0.limit={args.problems}", f"eval.n={args.n}"]
    if small:
        gate_ablation(args, common)
        return
    results = {}
    for i, name in enumerate(MODES):
        if i:
            seed_from(args.out / "post-detail", args.out / name)
        results[name] = run_mode(name, args.out, common)
    print(
        f"\nHumanEval problems 0-{args.problems - 1}, {args.n} attempts each, "
        "tokens = prompt + completion"
    )
    header = (
        "mode",
        "first pass@1",
        "final pass@1",
        "fixed",
        "broken",
        "tok/attempt plain",
        "tok/attempt debugged",
        "k",
        "oracle pass@k",
        "self-test pick@k",
    )
    print(" | ".join(header))
    for name, m in results.items():
        sd = m["plugins"]["selfdebug"]
        eq = sd.get("equal_tokens", {})
        cells = [
            name,
            f"{sd['first_attempt_pass@1']:.1%}",
            f"{sd['final_pass@1']:.1%}",
            str(sd["fixed"]),
            str(sd["broken"]),
            str(eq.get("tokens_per_plain_attempt")),
            str(eq.get("tokens_per_debugged_attempt")),
            str(eq.get("k")),
            f"{eq['oracle_pass@k']:.1%}" if "oracle_pass@k" in eq else eq.get("note", "-"),
            f"{eq['self_test_pick@k']:.1%}" if "self_test_pick@k" in eq else "-",
        ]
        print(" | ".join(cells))
    q = results["post-detail"]["plugins"]["selfdebug"]["test_quality"]
    print(
        f"\nself-written tests: {q['problems_with_tests']}/{q['problems']} problems with tests, "
        f"{q['tests_per_problem']:.2f} per problem, the canonical solution passes "
        f"{q.get('canonical_pass_rate', 0):.1%} of them; "
        f"{q.get('problems_all_tests_valid', 0)} problems with all tests valid"
    )


if __name__ == "__main__":
    main()
