"""A small run directory with every kind of lineage, hostile model output and the real report.

Also the browser the page is tested in: the system Chromium (Debian's
``chromium`` package, which ``scripts/setup.sh`` installs when apt is there)
driven by Playwright, whose own browser downloads are never used. Without a
Chromium the browser tests skip and say how to get one.

The records are the real pydantic models written with the run directory's
own writers; ``report.md`` and ``accuracy.png`` come from the real
``write_report``. Only the model is left out: its completions are written
here, so that a test knows exactly what the page must show.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reasonloop.core.accounting import compute_ledger
from reasonloop.core.records import Message, Problem, Reference, Request, Sample, TrainingExample
from reasonloop.core.report import write_report
from reasonloop.core.rundir import JsonlLog, RunDirectory, RunState, write_records
from reasonloop.core.statistics import wilson_interval

#: Model output that would run a script if the page ever parsed it as markup.
HOSTILE = (
    '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    "<!-- & ]]> \u2028 done"
)
#: Extra training problems with one plain sample each, so that there is more than one page.
FILLER = 45


def problem(pid: str, prompt: str, answer: str, difficulty: int, source: str, **kw) -> Problem:
    return Problem(
        id=pid,
        prompt=prompt,
        reference=Reference(answer=answer, **kw.pop("reference", {})),
        metadata={"source": source, "difficulty": difficulty, **kw},
    )


def sample(
    sid: str,
    p: Problem,
    completion: str,
    verdict: str | None,
    extracted: str | None = None,
    *,
    plugin: str = "selfimprove",
    purpose: str = "sample",
    how: str = "plain",
    role: str = "actor",
    parent: Sample | None = None,
    asked: str | None = None,
    round_: int = 0,
    mode: str = "train",
    meta: dict | None = None,
    answers: bool = True,
) -> Sample:
    request = Request(
        id=f"req-{sid}",
        problem_id=p.id,
        role=role,
        messages=[Message(role="user", content=asked or p.prompt)],
        plugin=plugin,
        purpose=purpose,
        how=how,
        parent_sample_id=parent.id if parent else None,
        round=round_,
        answers_problem=answers,
        meta=meta or {},
    )
    return Sample(
        id=sid,
        problem_id=p.id,
        request=request,
        completion=completion,
        prompt_tokens=20 + len(asked or p.prompt) // 4,
        completion_tokens=len(completion) // 4,
        extracted=extracted,
        verdict=verdict,
        mode=mode,
    )


def eval_json(problems: list[Problem], samples: list[Sample]) -> dict:
    """``eval.json`` as the loop writes it, for greedy samples (one per problem)."""
    answers = [
        {
            "problem_id": s.problem_id,
            "correct": s.correct,
            "verdict": s.verdict.value if s.verdict else None,
            "extracted": s.extracted,
            "difficulty": str(p.metadata["difficulty"]),
        }
        for p, s in zip(problems, samples, strict=True)
    ]
    correct = sum(a["correct"] for a in answers)
    return {
        "problems": len(answers),
        "accuracy": correct / len(answers),
        "interval": list(wilson_interval(correct, len(answers))),
        "by": {},
        "compute": compute_ledger(samples),
        "answers": answers,
    }


def build_run(root: Path) -> Path:
    """Write the run directory into ``root`` and return it."""
    t1 = problem("t-critic", "Tom has 2 apples and gets 2 more. How many?", "4", 1, "arithmetic")
    t2 = problem("t-guided", "A box holds 3 rows of 4 eggs. How many eggs?", "12", 2, "gsm8k")
    t3 = problem("t-hostile", "Ann has 7 pens and loses 3. How many are left?", "4", 3, "gsm8k")
    c1 = problem(
        "t-code",
        "def double(x):\n    '''Return twice x.'''\n",
        "",
        2,
        "humaneval",
        reference={"tests": "assert double(2) == 4"},
    )
    c1 = c1.model_copy(update={"domain": "code"})
    filler = [
        problem(f"t-filler-{i:02d}", f"What is {i} plus {i}?", str(2 * i), 1, "arithmetic")
        for i in range(FILLER)
    ]
    e1 = problem("e-plain", "What is 6 times 7?", "42", 1, "arithmetic")
    e2 = problem("e-hostile", f"What is 1 + 1? {HOSTILE}", "2", 2, "arithmetic")
    train = [t1, t2, t3, c1, *filler]
    evals = [e1, e2]
    write_records(root / "problems" / "train.jsonl", train)
    write_records(root / "problems" / "eval.jsonl", evals)

    wrong = sample("s-wrong", t1, "2 + 2 = 5.\nAnswer: 5", "wrong", "5")
    right = sample("s-right", t1, "2 + 2 = 4.\nAnswer: 4", "correct", "4")
    critique = sample(
        "s-critique",
        t1,
        "Step 1: 2 + 2 is 4, not 5. The answer is wrong.",
        None,
        plugin="critic",
        purpose="critique",
        how="critique",
        role="critic",
        parent=wrong,
        asked="Check each step of this solution:\nStep 1: 2 + 2 = 5.",
        round_=1,
        answers=False,
    )
    revision = sample(
        "s-revision",
        t1,
        "Tom has 2 + 2 = 4 apples.\nAnswer: 4",
        "correct",
        "4",
        plugin="critic",
        purpose="refine",
        how="refined-after-critique",
        parent=critique,
        asked="A reviewer says: Step 1 is wrong. Revise your answer.",
        round_=2,
        meta={"depth": 1, "critique": {"parsed": True, "first_error": 1}},
    )
    plain2 = sample("s-plain2", t2, "3 + 4 = 7.\nAnswer: 7", "wrong", "7")
    guided = sample(
        "s-guided",
        t2,
        "3 rows of 4 is 3 * 4 = 12 eggs.\nAnswer: 12",
        "correct",
        "12",
        plugin="guidance",
        purpose="guided-answer",
        how="guided-answer",
        asked="A box holds 3 rows of 4 eggs. How many eggs?\nHint: the answer is 12.",
        round_=1,
        meta={"strategy": "answer", "attempt": 1},
    )
    hostile = sample("s-hostile", t3, HOSTILE, "wrong", "<b>bold</b>")
    tests = sample(
        "s-tests",
        c1,
        "assert double(2) == 4\nassert double(0) == 1",
        None,
        plugin="selfdebug",
        purpose="tests",
        how="test-gen",
        asked="Write 2 tests for double.",
        answers=False,
    )
    program = sample("s-program", c1, "def double(x):\n    return x + 1", "wrong")
    fixed = sample(
        "s-fixed",
        c1,
        "def double(x):\n    return 2 * x",
        "correct",
        plugin="selfdebug",
        purpose="debug",
        how="debug-post",
        parent=program,
        asked="Your program failed: assert double(2) == 4 (got 3). Fix it.",
        round_=1,
        meta={"debug_round": 1, "self_tests_passed": "0/2"},
    )
    fills = [
        sample(f"s-fill-{p.id}", p, f"Answer: {p.reference.answer}", "correct") for p in filler
    ]
    it = root / "iter-000"
    JsonlLog(it / "samples.jsonl", Sample).append(
        [wrong, right, critique, plain2, guided, hostile, tests, program, fixed, *fills]
    )
    kept = [right, revision, guided, fixed]
    write_records(
        it / "selected.jsonl",
        [
            TrainingExample(
                id=f"ex-{s.id}",
                problem_id=s.problem_id,
                sample_id=s.id,
                messages=[Message(role="assistant", content=s.completion)],
            )
            for s in kept
        ],
    )
    # The revision is appended after its parent critique, as a later round is.
    JsonlLog(it / "samples.jsonl", Sample).append([revision])

    base_eval = [
        sample("b-e1", e1, "6 * 7 = 41.\nAnswer: 41", "wrong", "41", purpose="eval", mode="eval"),
        sample("b-e2", e2, "Answer: 2", "correct", "2", purpose="eval", mode="eval"),
    ]
    iter_eval = [
        sample("i-e1", e1, "6 * 7 = 42.\nAnswer: 42", "correct", "42", purpose="eval", mode="eval"),
        sample("i-e2", e2, "Answer: 2", "correct", "2", purpose="eval", mode="eval"),
    ]
    for d, samples in ((root / "base", base_eval), (it, iter_eval)):
        JsonlLog(d / "eval_samples.jsonl", Sample).append(samples)
        (d / "eval.json").write_text(json.dumps(eval_json(evals, samples)))
    state = RunState()
    for stage in ("base/eval", "iter-000/sample", "iter-000/select", "iter-000/eval"):
        state.complete(stage, 1.5)
    run_dir = RunDirectory(root)
    run_dir.save_state(state)
    run_dir.recipe_path.write_text("version: 1\nname: browse\n# recipe text: <b>not markup</b>\n")
    write_report(run_dir=run_dir)
    return root


@pytest.fixture(scope="session")
def browse_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory (session-wide: tests that change it take ``browse_copy``)."""
    return build_run(tmp_path_factory.mktemp("runs") / "browse")


@pytest.fixture
def browse_copy(browse_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(browse_run, tmp_path / "browse"))


CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SKIP_REASON = (
    "no Chromium found: run `bash scripts/setup.sh` (it installs Debian's chromium with apt), "
    "or `apt-get install chromium`, or set REASONLOOP_CHROMIUM to a Chromium binary"
)


def find_chromium() -> str | None:
    """The Chromium to drive: ``REASONLOOP_CHROMIUM``, else the first one on ``PATH``."""
    given = os.environ.get("REASONLOOP_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium():
    """A headless system Chromium under Playwright (skips with the fix when there is none)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "playwright is not installed: pip install -e '.[dev]' (or pip install playwright)"
        )
    executable = find_chromium()
    if executable is None:
        pytest.skip(SKIP_REASON)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


class Page:
    """One opened page and every console error or uncaught exception it produced."""

    def __init__(self, browser, path: Path):
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 1600})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(path.resolve().as_uri())
        # Waiting on selectors: the page's policy forbids the eval a polled function needs.
        self.page.wait_for_selector("body[data-ready='1']", state="attached")

    def problems(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#problems article", "cards => cards.map(c => c.dataset.problem)"
        )

    def counts(self) -> str:
        return self.page.inner_text("#counts")

    def choose(self, select: str, label_start: str) -> None:
        """Pick the option of ``select`` whose text starts with ``label_start``."""
        value = self.page.eval_on_selector(
            select,
            "(s, start) => [...s.options].find(o => o.text.startsWith(start)).value",
            label_start,
        )
        self.page.select_option(select, value)

    def search(self, text: str) -> None:
        before = self.page.evaluate("window.reasonloopShow.applied")
        self.page.fill("#f-search", text)
        # The search runs once typing stops for 150 ms.
        self.page.wait_for_selector(f"body[data-applied='{before + 1}']", state="attached")
