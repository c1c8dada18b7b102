"""What ``reasonloop show`` puts in the page, read back from the HTML it writes."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from reasonloop.errors import UsageError
from reasonloop.show import page_data, render_page, write_page

from .conftest import FILLER, HOSTILE


def rows_by_id(data: dict) -> dict[str, dict]:
    fields = data["samples"]["fields"]
    return {
        r[fields.index("id")]: dict(zip(fields, r, strict=True)) for r in data["samples"]["rows"]
    }


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="rl-data">(.*?)</script>', html, re.S)
    assert m, "no data element"
    return json.loads(m.group(1))


def test_samples_come_in_lineage_order_with_parent_rows_and_depths(browse_run):
    data = page_data(browse_run)
    ids = [r[data["samples"]["fields"].index("id")] for r in data["samples"]["rows"]]
    rows = rows_by_id(data)
    # The revision was appended last, after the whole first round, yet follows its critique.
    assert ids.index("s-revision") == ids.index("s-critique") + 1
    assert ids.index("s-critique") == ids.index("s-wrong") + 1
    assert [rows[i]["depth"] for i in ("s-wrong", "s-critique", "s-revision", "s-right")] == [
        0,
        1,
        2,
        0,
    ]
    assert rows["s-critique"]["parent"] == ids.index("s-wrong")
    assert rows["s-revision"]["parent"] == ids.index("s-critique")
    assert rows["s-fixed"]["parent"] == ids.index("s-program")
    assert rows["s-wrong"]["parent"] == rows["s-tests"]["parent"] == -1
    assert data["values"]["how"][rows["s-revision"]["how"]] == "refined-after-critique"
    assert data["values"]["role"][rows["s-critique"]["role"]] == "critic"
    assert rows["s-critique"]["verdict"] is None and rows["s-revision"]["verdict"] == "correct"


def test_stages_problems_finals_and_training_marks(browse_run):
    data = page_data(browse_run)
    assert data["stages"] == ["base/eval", "iter-000/sample", "iter-000/eval"]
    problems = data["problems"]["rows"]
    assert len(problems) == 4 + FILLER + 2
    split_and_id = [(p[0], p[1]) for p in problems]
    assert ("train", "t-code") in split_and_id and ("eval", "e-hostile") in split_and_id
    rows = rows_by_id(data)
    assert {sid for sid, r in rows.items() if r["kept"]} == {
        "s-right",
        "s-revision",
        "s-guided",
        "s-fixed",
    }
    e1 = split_and_id.index(("eval", "e-plain"))
    assert [f[1:] for f in data["finals"] if f[0] == e1] == [
        ["base/eval", "wrong", "41", False],
        ["iter-000/eval", "correct", "42", True],
    ]
    assert [r["accuracy_text"] for r in data["summary"]] == [
        "50.0% [9.5, 90.5]",
        "100.0% [34.2, 100.0]",
    ]
    assert data["paired"][0]["gained"] == 1 and data["paired"][0]["lost"] == 0


def test_the_plot_is_embedded_byte_for_byte_and_shared_prompts_once(browse_run):
    data = page_data(browse_run)
    (plot,) = data["plots"]
    assert plot["name"] == "accuracy.png"
    raw = base64.b64decode(plot["src"].removeprefix("data:image/png;base64,"))
    assert raw == (browse_run / "accuracy.png").read_bytes()
    assert "Check each step" in data["texts"][rows_by_id(data)["s-critique"]["asked"]]
    assert len(data["texts"]) == len(set(data["texts"]))
    assert data["run"]["report"].startswith("# Run report: browse")


def test_hostile_text_cannot_leave_the_data_element(browse_run):
    html = render_page(page_data(browse_run)).decode()
    assert HOSTILE not in html and "window.__pwned" in html  # present, but only escaped
    assert html.count("</script>") == 2 and html.count("<script") == 2
    data = embedded(html)
    assert rows_by_id(data)["s-hostile"]["completion"] == HOSTILE
    assert rows_by_id(data)["s-hostile"]["extracted"] == "<b>bold</b>"


def test_only_the_page_script_may_run_and_nothing_may_be_fetched(browse_run):
    html = render_page(page_data(browse_run)).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_write_page_defaults_to_the_run_directory(browse_copy, cli, tmp_path):
    outcome = cli("show", browse_copy)
    assert outcome.exit_code == 0, outcome.stderr
    assert (browse_copy / "show.html").stat().st_size > 10_000
    assert "show.html" in outcome.stdout
    target = write_page(browse_copy, tmp_path / "pages" / "run.html")
    assert embedded(target.read_text())["run"]["name"] == "browse"
    assert not list((tmp_path / "pages").glob(".run.html.*"))  # no temporary file left


def test_a_directory_without_a_run_is_a_clear_error(tmp_path, cli):
    with pytest.raises(UsageError, match="not a run directory"):
        page_data(tmp_path)
    outcome = cli("show", tmp_path)
    assert outcome.exit_code == 2 and "not a run directory (no state.json)" in outcome.stderr
