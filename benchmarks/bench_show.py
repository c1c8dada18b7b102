"""``reasonloop show`` on a synthetic run of 50,000 samples: page size and load time in Chromium.

    .venv/bin/python benchmarks/bench_show.py [--samples 50000] [--chars 400] [--keep DIR]

Writes a run directory of real records (problems, two iterations of plain
samples with critiques, revisions and guided answers, three evaluations,
``eval.json``, ``selected.jsonl`` and the real ``report.md``), builds its page,
then opens it in the system Chromium (headless, through Playwright) three
times and prints: the time to write the page, its size, the time from
navigation to the first drawn page of problems, and how long a filter, a
search over every completion and a page turn take.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.records import Message, Problem, Reference, Request, Sample, TrainingExample
from reasonloop.core.report import write_report
from reasonloop.core.rundir import JsonlLog, RunDirectory, RunState, write_records
from reasonloop.core.statistics import wilson_interval
from reasonloop.show import write_page

WORDS = [
    *("so", "the", "total", "is", "then", "we", "add", "multiply", "each", "step", "gives"),
    *("apples", "eggs", "boxes", "rows", "left", "remaining", "half", "twice", "more", "less"),
    *("per", "day", "week", "price", "cost", "each", "of", "them"),
]
#: Samples per training problem and iteration: 6 plain, 1 critique, 2 revisions, 1 guided.
PER_PROBLEM = 10
EVAL_PROBLEMS = 500


def text(rng: random.Random, chars: int) -> str:
    words, n = [], 0
    target = rng.randint(chars // 2, chars * 3 // 2)
    while n < target:
        w = rng.choice(WORDS) if rng.random() > 0.2 else str(rng.randint(1, 999))
        words.append(w)
        n += len(w) + 1
    return " ".join(words) + f".\nAnswer: {rng.randint(1, 99)}"


def request(p: Problem, rid: str, **kw) -> Request:
    content = kw.pop("content", p.prompt + "\nSolve it, then end with 'Answer: <number>'.")
    return Request(id=rid, problem_id=p.id, messages=[Message(role="user", content=content)], **kw)


def sample(rng: random.Random, sid: str, p: Problem, req: Request, chars: int, mode: str) -> Sample:
    correct = rng.random() < 0.35
    completion = text(rng, chars)
    return Sample(
        id=sid,
        problem_id=p.id,
        request=req,
        completion=completion,
        prompt_tokens=60,
        completion_tokens=len(completion) // 4,
        extracted=str(rng.randint(1, 99)),
        verdict="correct" if correct else "wrong",
        mode=mode,
    )


def build(root: Path, total: int, chars: int) -> int:
    """Write a run with about ``total`` samples into ``root``; return the exact count."""
    rng = random.Random(0)
    evals = [
        Problem(
            id=f"eval-{i:05d}",
            prompt=f"Eval question {i}: " + text(rng, 120),
            reference=Reference(answer=str(i % 97)),
            metadata={"source": rng.choice(["gsm8k", "math"]), "difficulty": 1 + i % 3},
        )
        for i in range(EVAL_PROBLEMS)
    ]
    per_iteration = (total - 3 * EVAL_PROBLEMS) // (2 * PER_PROBLEM)
    train = [
        Problem(
            id=f"train-{i:05d}",
            prompt=f"Question {i}: " + text(rng, 160),
            reference=Reference(answer=str(i % 97)),
            metadata={"source": rng.choice(["gsm8k", "math"]), "difficulty": 1 + i % 3},
        )
        for i in range(2 * per_iteration)
    ]
    write_records(root / "problems" / "train.jsonl", train)
    write_records(root / "problems" / "eval.jsonl", evals)
    count = 0
    for it in range(2):
        d = root / f"iter-{it:03d}"
        out: list[Sample] = []
        for p in train[it * per_iteration : (it + 1) * per_iteration]:
            key = f"{it}-{p.id}"
            plain = request(p, f"r-{key}", plugin="selfimprove")
            answers = [sample(rng, f"s-{key}-{k}", p, plain, chars, "train") for k in range(6)]
            first = answers[0]
            crit_req = request(
                p,
                f"c-{key}",
                role="critic",
                plugin="critic",
                purpose="critique",
                how="critique",
                parent_sample_id=first.id,
                round=1,
                answers_problem=False,
                content="Check each step:\n" + first.completion,
            )
            crit = sample(rng, f"c-{key}", p, crit_req, chars // 2, "train")
            crit = crit.model_copy(update={"verdict": None, "extracted": None})
            rev_req = request(
                p,
                f"v-{key}",
                plugin="critic",
                purpose="refine",
                how="refined-after-critique",
                parent_sample_id=crit.id,
                round=2,
                content="A reviewer says: " + crit.completion,
            )
            revs = [sample(rng, f"v-{key}-{k}", p, rev_req, chars, "train") for k in range(2)]
            hint = request(
                p,
                f"g-{key}",
                plugin="guidance",
                purpose="guided-answer",
                how="guided-answer",
                round=1,
                content=p.prompt + f"\nHint: the answer is {p.reference.answer}.",
            )
            out += [*answers, crit, *revs, sample(rng, f"g-{key}", p, hint, chars, "train")]
        JsonlLog(d / "samples.jsonl", Sample).append(out)
        kept = [s for s in out if s.correct][: len(out) // 5]
        write_records(
            d / "selected.jsonl",
            [
                TrainingExample(
                    id=f"x-{s.id}", problem_id=s.problem_id, sample_id=s.id, messages=[]
                )
                for s in kept
            ],
        )
        count += len(out)
    state = RunState()
    for it, d in ((None, root / "base"), (0, root / "iter-000"), (1, root / "iter-001")):
        ev = [
            sample(
                rng,
                f"e-{it}-{p.id}",
                p,
                request(p, f"e-{it}-{p.id}", purpose="eval"),
                chars,
                "eval",
            )
            for p in evals
        ]
        JsonlLog(d / "eval_samples.jsonl", Sample).append(ev)
        correct = sum(s.correct for s in ev)
        answers = [
            {
                "problem_id": s.problem_id,
                "correct": s.correct,
                "verdict": s.verdict.value,
                "extracted": s.extracted,
            }
            for s in ev
        ]
        (d / "eval.json").write_text(
            json.dumps(
                {
                    "problems": len(ev),
                    "accuracy": correct / len(ev),
                    "interval": list(wilson_interval(correct, len(ev))),
                    "by": {},
                    "compute": compute_ledger(ev),
                    "answers": answers,
                }
            )
        )
        count += len(ev)
        state.complete(f"{d.name}/eval", 1.0)
    RunDirectory(root).save_state(state)
    (root / "recipe.yaml").write_text("version: 1\nname: bench-show\n")
    write_report(run_dir=RunDirectory(root))
    return count


def browser_figures(page_path: Path, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("no Chromium on PATH: apt-get install chromium (or run scripts/setup.sh)")
    names = ("load", "ready_at", "script", "filter", "filter_js", "search", "search_js")
    figures: dict[str, list[float]] = {name: [] for name in (*names, "turn", "draw_js")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            start = time.perf_counter()
            page.goto(page_path.resolve().as_uri(), timeout=120_000)
            page.wait_for_function(
                "window.reasonloopShow && window.reasonloopShow.ready", timeout=120_000
            )
            figures["load"].append(time.perf_counter() - start)
            # readyAt counts from the start of navigation: reading and parsing the page included.
            figures["ready_at"].append(page.evaluate("window.reasonloopShow.readyAt") / 1000)
            figures["script"].append(page.evaluate("window.reasonloopShow.loadMs") / 1000)
            assert not errors, errors
            value = page.eval_on_selector(
                "#f-verdict", "s => [...s.options].find(o => o.text.startsWith('correct')).value"
            )
            start = time.perf_counter()
            page.select_option("#f-verdict", value)
            page.wait_for_selector("body[data-applied='2']", state="attached")
            figures["filter"].append(time.perf_counter() - start)
            figures["filter_js"].append(page.evaluate("window.reasonloopShow.lastFilterMs") / 1000)
            start = time.perf_counter()
            page.fill("#f-search", "eggs twice 42")
            page.wait_for_selector("body[data-applied='3']", state="attached")
            # Less the 150 ms the search waits for typing to stop.
            figures["search"].append(time.perf_counter() - start - 0.15)
            figures["search_js"].append(page.evaluate("window.reasonloopShow.lastFilterMs") / 1000)
            page.click("#f-reset")
            start = time.perf_counter()
            page.click("#pager-top .next")
            page.wait_for_function(
                "document.querySelector('#pager-top .page-of').textContent.startsWith('page 2')"
            )
            figures["turn"].append(time.perf_counter() - start)
            figures["draw_js"].append(page.evaluate("window.reasonloopShow.lastDrawMs") / 1000)
            page.close()
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--chars", type=int, default=400, help="mean characters per completion")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-show-")) / "run"
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    count = build(root, args.samples, args.chars)
    built = time.perf_counter() - start
    samples_mb = sum(f.stat().st_size for f in root.rglob("*samples.jsonl")) / 1e6
    start = time.perf_counter()
    page = write_page(root)
    written = time.perf_counter() - start
    figures = browser_figures(page, args.repeats)
    print(f"run: {count} samples ({samples_mb:.1f} MB of samples files, built in {built:.0f} s)")
    print(f"reasonloop show: {written:.1f} s to write the page")
    print(f"page: {page.stat().st_size / 1e6:.1f} MB")
    for name, label in (
        ("load", "open the file to first page drawn (wall, through Playwright)"),
        ("ready_at", "navigation start to first page drawn (in the page)"),
        ("script", "of which the script: parse the data, index, draw"),
        ("filter", "verdict filter over all samples, redrawn (wall)"),
        ("filter_js", "of which the script"),
        ("search", "first search over every text, redrawn (wall)"),
        ("search_js", "of which the script (building the search index included)"),
        ("turn", "next page of problems (wall)"),
        ("draw_js", "of which the script"),
    ):
        values = figures[name]
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label}: median {statistics.median(values):.2f} s (of {each})")
    if args.keep is None:
        shutil.rmtree(root.parent)


if __name__ == "__main__":
    main()
