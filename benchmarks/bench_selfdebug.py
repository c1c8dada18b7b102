"""Self-debugging modes against plain resampling, on the same first attempts.

    .venv/bin/python benchmarks/bench_selfdebug.py [--problems 40] [--n 4] [--out DIR]

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
SHARED_PURPOSES = {"eval", "tests"}


def run_mode(name: str, out: Path, common: list[str]) -> dict:
    run_dir = out / name
    args = [sys.executable, "-m", "reasonloop", "eval", str(RECIPE), "--run-dir", str(run_dir)]
    for item in common + MODES[name]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-selfdebug")
    args = parser.parse_args()
    common = [f"data.eval.0.limit={args.problems}", f"eval.n={args.n}"]
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
