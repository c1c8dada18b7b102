"""A real third-party plugin package, built with pip and found through its entry point.

The package ``reasonloop-demo-plugins`` holds four plugins (entry points):
``demo`` implements hooks with a subset of their arguments and registers a
data source; ``flaky`` raises inside ``reasonloop_eval_metrics`` until its
file is rewritten; ``broken`` fails to import; ``typo`` implements a hook
that does not exist. Each test blocks the plugins it is not about. The CLI
runs in a subprocess with the package's install directory on PYTHONPATH and
``REASONLOOP_NO_ENTRYPOINTS`` unset, as a user's shell would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "reasonloop-demo-plugins"
version = "0.3.0"
dependencies = []

[project.entry-points.reasonloop]
demo = "rl_demo_plugin"
flaky = "rl_flaky_plugin"
broken = "rl_broken_plugin"
typo = "rl_typo_plugin"

[tool.setuptools]
py-modules = ["rl_demo_plugin", "rl_flaky_plugin", "rl_broken_plugin", "rl_typo_plugin"]
"""

DEMO = '''\
"""A data source of sums, and hooks that take fewer arguments than they are offered."""

from pydantic import BaseModel, ConfigDict

from reasonloop import hookimpl
from reasonloop.core.records import Problem, Reference

PAIRS = [(2, 3), (4, 4), (7, 1), (5, 6), (9, 2)]


def load_sums(spec):
    count = int(spec.options.get("count", len(PAIRS)))
    return [
        Problem(
            id=f"sum-{a}-{b}",
            prompt=f"What is {a} + {b}?",
            reference=Reference(answer=str(a + b)),
            metadata={"source": "demo-sums", "difficulty": 1},
        )
        for a, b in PAIRS[:count]
    ]


@hookimpl
def reasonloop_register_datasets(register):
    register("demo-sums", load_sums)


@hookimpl
def reasonloop_eval_metrics(samples):
    return {"samples": len(samples), "answered": sum(s.extracted is not None for s in samples)}


class DemoSettings(BaseModel):
    """plugins.settings.demo: what the report section says."""

    model_config = ConfigDict(extra="forbid")

    title: str = "demo-sums"


@hookimpl
def reasonloop_register_settings(register):
    register("demo", DemoSettings)


@hookimpl
def reasonloop_report_sections(run):
    settings = run.settings_for("demo") or DemoSettings()
    return [f"## {settings.title}\\n\\nWritten by the demo plugin."]
'''

FLAKY_BROKEN = """\
from reasonloop import hookimpl


@hookimpl
def reasonloop_eval_metrics(samples):
    raise RuntimeError(f"flaky cannot score {len(samples)} samples")
"""

FLAKY_FIXED = """\
from reasonloop import hookimpl


@hookimpl
def reasonloop_eval_metrics(samples):
    return {"scored": len(samples)}
"""

BROKEN = "import reasonloop_demo_no_such_module  # noqa: F401\n"

TYPO = """\
from reasonloop import hookimpl


@hookimpl
def reasonloop_eval_metric(samples):  # missing "s"
    return {}
"""

RECIPE = """\
version: 1
name: third-party
seed: 1
iterations: 0
run_dir: {run_dir}
roles:
  actor:
    model: {model}
    backend_options: {{batch_size: 8}}
    sampling: {{max_tokens: 16}}
prompt:
  template: "{{prompt}}\\nEnd with 'Answer: <number>'."
data:
  eval: [{{name: demo-sums, options: {{count: 3}}}}]
eval: {{n: 2, temperature: 0.8, max_tokens: 16}}
trainer: {{name: none}}
plugins: {{settings: {{demo: {{title: Sums of the demo}}}}}}
"""

ALL = ("demo", "flaky", "broken", "typo")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo package, built and installed with pip into a directory of its own."""
    root = tmp_path_factory.mktemp("third-party")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    for module, text in (
        ("rl_demo_plugin", DEMO),
        ("rl_flaky_plugin", FLAKY_BROKEN),
        ("rl_broken_plugin", BROKEN),
        ("rl_typo_plugin", TYPO),
    ):
        (src / f"{module}.py").write_text(text)
    target = root / "site"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--target", str(target), str(src)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert list(target.glob("reasonloop_demo_plugins-0.3.0.dist-info"))
    return target


def reasonloop(
    site: Path, cwd: Path, *args: str, on: tuple[str, ...]
) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, with only the plugins ``on`` of the demo package."""
    env = {k: v for k, v in os.environ.items() if k != "REASONLOOP_NO_ENTRYPOINTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["REASONLOOP_DISABLE_PLUGINS"] = ",".join(p for p in ALL if p not in on)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "reasonloop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=900,
    )


def test_plugins_lists_the_installed_plugin_and_what_it_registers(site, tmp_path):
    result = reasonloop(site, tmp_path, "plugins", "--json", on=("demo",))
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    demo = rows["demo"]
    assert demo["version"] == "0.3.0" and demo["builtin"] is False
    assert demo["registers"] == {"datasets": ["demo-sums"], "settings": ["demo"]}
    assert demo["hooks"] == [
        "reasonloop_eval_metrics",
        "reasonloop_register_datasets",
        "reasonloop_register_settings",
        "reasonloop_report_sections",
    ]
    assert "flaky" not in rows and rows["datasets"]["essential"] is True
    table = reasonloop(site, tmp_path, "plugins", on=("demo",))
    assert "datasets: demo-sums" in table.stdout and "installed" in table.stdout


def test_validate_checks_an_installed_plugins_settings(site, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(run_dir=tmp_path / "run", model="unused"))
    ok = reasonloop(site, tmp_path, "validate", str(recipe), on=("demo",))
    assert ok.returncode == 0, ok.stderr
    typo = reasonloop(
        site,
        tmp_path,
        "validate",
        str(recipe),
        "--set",
        "plugins.settings.demo.titel=x",
        on=("demo",),
    )
    assert typo.returncode == 2
    assert "plugins.settings.demo.titel: unknown key; did you mean 'title'?" in typo.stderr
    assert "Traceback" not in typo.stderr
    misspelt = reasonloop(
        site,
        tmp_path,
        "validate",
        str(recipe),
        "--set",
        "plugins.settings.dmeo.title=x",
        on=("demo",),
    )
    assert misspelt.returncode == 2
    assert "no plugin declares settings 'dmeo'" in misspelt.stderr
    assert "did you mean 'demo'?" in misspelt.stderr
    # A blocked plugin's block is not checked (nothing says what it accepts), and
    # validate says it is ignored.
    plain = tmp_path / "plain.yaml"
    plain.write_text(recipe.read_text().replace("name: demo-sums", "name: arithmetic"))
    off = reasonloop(site, tmp_path, "validate", str(plain), on=())
    assert off.returncode == 0, off.stderr
    assert "demo" in off.stdout + off.stderr and "ignored" in off.stdout + off.stderr
    schema = json.loads(reasonloop(site, tmp_path, "schema", on=("demo",)).stdout)
    assert "DemoSettings" in json.dumps(schema)


def test_an_installed_plugin_that_fails_to_import_is_named(site, tmp_path):
    result = reasonloop(site, tmp_path, "plugins", on=("broken",))
    assert result.returncode == 4
    assert "plugin 'broken' (from reasonloop-demo-plugins) failed to import" in result.stderr
    assert "REASONLOOP_DISABLE_PLUGINS=broken" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_installed_plugin_with_an_unknown_hook_is_named(site, tmp_path):
    result = reasonloop(site, tmp_path, "plugins", on=("typo",))
    assert result.returncode == 4
    assert "plugin 'typo' implements an unknown hook" in result.stderr
    assert "reasonloop_eval_metric" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_tiny_evaluation_uses_the_plugins_data_source_and_hooks(site, tmp_path, smollm2):
    run_dir = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(run_dir=run_dir, model=smollm2))
    result = reasonloop(site, tmp_path, "run", str(recipe), "--no-progress", on=("demo",))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run_dir / "base" / "eval.json").read_text())
    assert metrics["problems"] == 3
    demo = metrics["plugins"]["demo"]
    assert demo["samples"] == 6 and 0 <= demo["answered"] <= 6
    assert {a["problem_id"] for a in metrics["answers"]} == {"sum-2-3", "sum-4-4", "sum-7-1"}
    report = (run_dir / "report.md").read_text()
    assert "## Sums of the demo\n\nWritten by the demo plugin." in report


@pytest.mark.slow
def test_a_raising_hook_stops_the_run_and_resume_completes_once_fixed(site, tmp_path, smollm2):
    (site / "rl_flaky_plugin.py").write_text(FLAKY_BROKEN)
    run_dir = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(run_dir=run_dir, model=smollm2))
    failed = reasonloop(site, tmp_path, "run", str(recipe), "--no-progress", on=("demo", "flaky"))
    assert failed.returncode == 4, failed.stderr
    errors = [line for line in failed.stderr.splitlines() if "Error" in line]
    assert len(errors) == 1, failed.stderr
    assert (
        "plugin 'flaky' failed in its hook reasonloop_eval_metrics: "
        "RuntimeError: flaky cannot score 6 samples" in errors[0]
    )
    assert f"continue with: reasonloop resume {run_dir}" in failed.stderr
    assert "Traceback" not in failed.stderr
    log = (run_dir / "run.log").read_text()
    assert "Traceback" in log and 'raise RuntimeError(f"flaky cannot score' in log
    drawn = (run_dir / "base" / "eval_samples.jsonl").read_text().splitlines()
    assert len(drawn) == 6
    assert not (run_dir / "base" / "eval.json").exists()

    (site / "rl_flaky_plugin.py").write_text(FLAKY_FIXED)
    for cached in (site / "__pycache__").glob("rl_flaky_plugin.*"):
        cached.unlink()
    resumed = reasonloop(
        site, tmp_path, "resume", str(run_dir), "--no-progress", on=("demo", "flaky")
    )
    assert resumed.returncode == 0, resumed.stderr
    # The samples drawn before the failure are the ones scored: none redrawn.
    assert (run_dir / "base" / "eval_samples.jsonl").read_text().splitlines() == drawn
    metrics = json.loads((run_dir / "base" / "eval.json").read_text())
    assert metrics["plugins"]["flaky"] == {"scored": 6}
    assert metrics["plugins"]["demo"]["samples"] == 6
    state = json.loads((run_dir / "state.json").read_text())
    assert state["completed"] == ["base/eval"]
