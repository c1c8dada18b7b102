"""Every recipe in the repository validates here: offline, without data, without a GPU."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import SMOLLM2

REPO = Path(__file__).resolve().parents[1]
#: accelerate's own config files sit beside the paper recipes; they are not recipes.
NOT_RECIPES = {REPO / "recipes" / "paper" / "accelerate"}
RECIPES = sorted(
    path
    for path in [
        *(REPO / "recipes").rglob("*.yaml"),
        *(REPO / "reasonloop" / "recipes").glob("*.yaml"),
    ]
    if not any(parent in NOT_RECIPES for parent in path.parents)
)
PAPER = [path for path in RECIPES if path.parent.name == "paper"]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, no data directory, no hub cache: what a laptop in a train has."""

    def refuse(self, address):
        raise AssertionError(f"validate opened a connection to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("REASONLOOP_DATA", str(tmp_path / "no-data"))
    monkeypatch.chdir(tmp_path)  # ../shared/data is not beside it either


def test_the_repository_has_paper_recipes():
    names = {path.stem for path in PAPER}
    for method in ("gsi", "critique", "selfdebug", "raters", "curriculum", "attribute"):
        assert any(name.startswith(method) for name in names), (method, names)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_recipe_validates_offline_without_its_data(cli, offline, recipe):
    outcome = cli("validate", recipe)
    assert outcome.exit_code == 0, outcome.stderr
    assert f"{recipe}: ok" in outcome.stdout.replace("\n", "")


@pytest.mark.parametrize("recipe", PAPER, ids=lambda p: p.name)
def test_a_paper_recipe_says_what_it_reproduces_and_what_it_needs(recipe):
    header = []
    for line in recipe.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    for part in ("Reproduces:", "Compare with:", "Hardware:", "Wall time", "Data:"):
        assert f"# {part}" in text, f"{recipe.name}: the header has no {part!r}"
    assert f"recipes/paper/{recipe.name}" in text, "the header shows how to run it"


def test_a_misspelt_backend_option_fails_at_validate(cli, offline):
    recipe = REPO / "recipes" / "paper" / "gsi-gsm8k.yaml"
    outcome = cli("validate", recipe, "--set", "roles.actor.backend_options.tensor_paralel_size=2")
    assert outcome.exit_code == 2
    assert "roles.actor.backend_options.tensor_paralel_size: unknown key" in outcome.stderr
    assert "did you mean 'tensor_parallel_size'" in outcome.stderr
    outcome = cli("validate", recipe, "--set", "roles.actor.backend_options.data_parallel_size=0")
    assert outcome.exit_code == 2
    assert "roles.actor.backend_options.data_parallel_size" in outcome.stderr


def test_resolve_models_finds_a_packaged_model_and_names_a_missing_one(cli, offline):
    recipe = REPO / "recipes" / "quickstart.yaml"
    outcome = cli("validate", recipe, "--resolve-models")
    assert outcome.exit_code == 0, outcome.stderr
    assert "roles.actor.model: local file" in outcome.stdout
    assert SMOLLM2.split("/")[-1] in outcome.stdout.replace("\n", "")
    paper = REPO / "recipes" / "paper" / "critique-gsm8k-math.yaml"
    outcome = cli("validate", paper, "--resolve-models")
    assert outcome.exit_code == 2
    assert "roles.actor.model: model 'meta-llama/Llama-3.1-8B-Instruct'" in outcome.stderr
    assert "not in the local Hugging Face cache" in outcome.stderr


def test_load_data_counts_problems_and_names_missing_data(cli, offline):
    outcome = cli("validate", REPO / "recipes" / "quickstart.yaml", "--load-data")
    assert outcome.exit_code == 0, outcome.stderr
    assert "data.train.0 (arithmetic): 600 problems" in outcome.stdout
    outcome = cli("validate", REPO / "recipes" / "paper" / "raters-gsm8k.yaml", "--load-data")
    assert outcome.exit_code == 2
    assert "data.train.0: gsm8k: data not found" in outcome.stderr
