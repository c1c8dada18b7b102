"""The page in a real headless Chromium, driven by Playwright: loads, filters, searches, escapes.

Chromium is the system one (the ``chromium`` fixture); without one these
tests skip and say how to get it.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reasonloop.show import write_page

from .conftest import FILLER, HOSTILE, SKIP_REASON, Page, find_chromium


@pytest.fixture(scope="module")
def page_file(browse_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_page(browse_run, tmp_path_factory.mktemp("page") / "show.html")


@pytest.fixture
def page(chromium, page_file: Path):
    opened = Page(chromium, page_file)
    yield opened
    opened.page.close()


def test_page_loads_without_errors_and_shows_the_summary(page):
    assert page.errors == []
    summary = page.page.inner_text("#summary-rows")
    assert "50.0% [9.5, 90.5]" in summary and "100.0% [34.2, 100.0]" in summary
    assert "+50.0 points" in page.page.inner_text("#paired-rows")
    assert page.page.eval_on_selector("#plots img", "img => img.complete && img.naturalWidth") > 100
    total = 4 + FILLER + 2
    assert page.counts() == f"{total} of {total} problems, 59 of 59 samples match"
    assert len(page.problems()) == 20  # one page; the rest are not in the DOM
    assert page.page.locator(".node").count() < 59


def test_filters_change_what_is_shown(page):
    page.choose("#f-verdict", "correct")
    assert (
        page.counts()
        == f"{4 + FILLER + 2 - 1} of {4 + FILLER + 2} problems, 52 of 59 samples match"
    )
    verdicts = page.page.eval_on_selector_all(
        ".node:not(.context) > .node-head .verdict", "els => els.map(e => e.textContent)"
    )
    assert verdicts and set(verdicts) == {"correct"}
    page.page.click("#f-reset")
    page.choose("#f-plugin", "critic")
    assert page.problems() == ["t-critic"]
    # The critique and its revision match; the wrong answer they follow is context.
    assert page.page.locator(".node:not(.context)").count() == 2
    assert page.page.locator('.node.context[data-sample="s-wrong"]').count() == 1
    page.page.click("#f-reset")
    page.choose("#f-difficulty", "3")
    assert page.problems() == ["t-hostile"]
    page.choose("#f-difficulty", "any")
    page.choose("#f-source", "humaneval")
    assert page.problems() == ["t-code"]
    page.page.click("#f-reset")
    page.choose("#f-stage", "base/eval")
    assert page.problems() == ["e-plain", "e-hostile"]
    page.page.click("#f-reset")
    page.choose("#f-kept", "made a training example")
    assert page.problems() == ["t-critic", "t-guided", "t-code"]
    page.page.click("#f-reset")
    page.choose("#f-how", "guided-answer")
    assert page.problems() == ["t-guided"]
    page.page.click("#f-reset")
    page.choose("#f-order", "fewest correct first")
    assert page.problems()[0] == "t-hostile"  # 0 of 1 correct


def test_pages_show_the_next_problems(page):
    first = page.problems()
    page.page.click("#pager-top .next")
    second = page.problems()
    assert len(second) == 20 and not set(first) & set(second)
    page.page.click("#pager-bottom .last")
    assert len(page.problems()) == 4 + FILLER + 2 - 40
    assert "page 3 of 3" in page.page.inner_text("#pager-top")


def test_search_finds_a_problem_by_prompt_answer_text_or_id(page):
    page.search("EGGS")
    assert page.problems() == ["t-guided"]
    page.search("return 2 * x")
    assert page.problems() == ["t-code"]
    assert page.page.locator(".node:not(.context)").count() == 1
    page.search("t-filler-07")
    assert page.problems() == ["t-filler-07"]
    page.search("Hint: the answer is 12")  # what a guided request asked
    assert page.problems() == ["t-guided"]
    page.search("no such text anywhere")
    assert page.problems() == [] and "No problem matches" in page.page.inner_text("#problems")


def test_lineage_shows_as_a_chain(page):
    chain = page.page.locator(
        '[data-sample="s-wrong"] > .children > [data-sample="s-critique"]'
        ' > .children > [data-sample="s-revision"]'
    )
    assert chain.count() == 1
    card = page.page.inner_text('[data-problem="t-critic"]')
    assert card.index("plain sample") < card.index("critique") < card.index("revision after")
    assert "A reviewer says: Step 1 is wrong." in card and "trained on" in card
    fixed = page.page.locator('[data-sample="s-program"] > .children > [data-sample="s-fixed"]')
    assert "program fixed after its tests ran" in fixed.inner_text()
    assert "Your program failed: assert double(2) == 4" in fixed.inner_text()
    code = page.page.inner_text('[data-problem="t-code"]')
    assert "tests written by the model" in code
    guided = page.page.inner_text('[data-sample="s-guided"]')
    assert "guided by the answer as a hint" in guided and "Hint: the answer is 12." in guided


def test_hostile_model_output_is_shown_as_text(page):
    page.search("t-hostile")
    node = page.page.locator('[data-sample="s-hostile"]')
    assert node.locator("pre.completion").text_content() == HOSTILE
    assert node.locator(".extracted").text_content() == "<b>bold</b>"
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("img[src=x]").count() == 0
    assert page.page.locator("#problems script, #problems b b").count() == 0
    page.search("e-hostile")
    assert HOSTILE in page.page.locator('[data-problem="e-hostile"] pre.prompt').text_content()
    assert page.page.evaluate("window.__pwned") is None
    assert page.errors == []


def test_screenshot_has_content(page, tmp_path):
    from PIL import Image

    shot = page.page.screenshot(full_page=False)
    (tmp_path / "show.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size == (1280, 1600)
    small = image.resize((128, 160))
    colours = small.getcolors(maxcolors=128 * 160)
    assert len(colours) > 40  # text, badges, a plot: not a blank or one-colour page
    white = sum(n for n, rgb in colours if min(rgb) > 245)
    assert white < 0.9 * 128 * 160
    # The badge colours of a wrong and a correct verdict are on screen.
    pixels = {rgb for _, rgb in image.getcolors(maxcolors=1280 * 1600)}
    assert (0xC6, 0x28, 0x28) in pixels and (0x1A, 0x7F, 0x37) in pixels


def test_without_a_chromium_the_tests_skip_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("REASONLOOP_CHROMIUM", str(tmp_path / "missing"))
    assert find_chromium() is None
    monkeypatch.delenv("REASONLOOP_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None
    assert "scripts/setup.sh" in SKIP_REASON and "apt-get install chromium" in SKIP_REASON
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    assert find_chromium() == str(tmp_path / "chromium")
