"""Write docs/recipes.md, the recipe reference, from the recipe's pydantic models.

    python scripts/gen_recipe_docs.py > docs/recipes.md
    python scripts/gen_recipe_docs.py --check     # exit 1 when docs/recipes.md is stale

Key descriptions come from the ``#:`` comments above each field in the source
(pydantic does not see them); a field without one takes its text from
:data:`EXTRA_DESCRIPTIONS` below.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "recipes.md"
EXAMPLE = REPO / "recipes" / "quickstart.yaml"

#: Descriptions of fields that have no ``#:`` comment, by ``Class.field``.
EXTRA_DESCRIPTIONS = {
    "Recipe.version": "The recipe format version. Only `1` exists.",
    "Recipe.name": "The run's name; the run directory defaults to `runs/<name>`.",
    "Recipe.seed": "Every request's sampling seed is derived from this and the request id; "
    "trainers that take a seed (trl-sft, command) train with it.",
    "Recipe.iterations": "Sample -> select -> train -> evaluate iterations. "
    "`0` only evaluates the base model.",
    "Recipe.roles": "The roles by name. `actor` is required; plugins may address others "
    "(`critic`, `teacher`...), which must then be defined here.",
    "Recipe.prompt": "How a problem becomes the actor's message.",
    "Recipe.data": "Training and evaluation problems.",
    "Recipe.sampling": "The training-time sampling stage.",
    "Recipe.verifier": "Which verifier judges answers.",
    "Recipe.selection": "Which verified samples become training examples.",
    "Recipe.trainer": "Which trainer fine-tunes the actor.",
    "Recipe.eval": "Held-out evaluation.",
    "Recipe.plugins": "Which plugins run, and their settings.",
    "RoleConfig.backend": "A registered backend.",
    "RoleConfig.model": "The model the backend loads. For `transformers`: a checkpoint "
    "directory, a `.gguf` file, `pkg:PACKAGE/FILE` (a file inside an installed package) "
    "or a hub id.",
    "DataConfig.train": "Sources of the training pool, concatenated.",
    "DataConfig.eval": "Sources of the held-out evaluation set, concatenated.",
    "DatasetSpec.name": "A registered dataset or file loader.",
    "DatasetSpec.split": "The split to read, for sources that have splits.",
    "DatasetSpec.offset": "Rows to skip first.",
    "VerifierConfig.name": "A registered verifier.",
    "VerifierConfig.options": "Passed to the verifier's factory as is.",
    "TrainerConfig.name": "A registered trainer.",
    "TrainerConfig.options": "Passed to the trainer's factory; see the trainer's own table below.",
    "EvalConfig.temperature": "Sampling temperature of the evaluation requests.",
    "EvalConfig.max_tokens": "Token limit of the evaluation requests; `null` keeps the "
    "actor's `sampling.max_tokens`.",
    "EvalConfig.max_rounds": "The most rounds (round 0 included) plugins may ask for "
    "in evaluation.",
    "SamplingParams.n": "Completions per request.",
    "SamplingParams.temperature": "Sampling temperature; `0` is greedy.",
    "SamplingParams.top_p": "Nucleus sampling threshold.",
    "SamplingParams.max_tokens": "The most new tokens per completion.",
    "SamplingParams.stop": "Strings that end a completion.",
    "SamplingParams.seed": "Sampling seed; unset, it is derived from the recipe's `seed`.",
    "TrlSftOptions.method": "`full` fine-tunes every weight; `lora` trains an adapter and "
    "merges it.",
    "TrlSftOptions.epochs": "Passes over the training file.",
    "TrlSftOptions.batch_size": "Examples per device and step.",
    "TrlSftOptions.gradient_accumulation_steps": "Steps accumulated before each update.",
    "TrlSftOptions.lr_scheduler": "The learning-rate schedule (`lr_scheduler_type`).",
    "TrlSftOptions.warmup_steps": "Learning-rate warm-up steps.",
    "TrlSftOptions.lora_r": "LoRA rank.",
    "TrlSftOptions.lora_alpha": "LoRA scaling.",
    "TrlSftOptions.lora_dropout": "LoRA dropout.",
    "TrlSftOptions.seed": "Training seed (weight init, data order).",
    "TrlSftOptions.gradient_checkpointing": "Trade compute for memory.",
    "TrlSftOptions.logging_steps": "Log the loss to `run.log` every this many steps.",
}

#: Section descriptions for models without a docstring, by class name.
EXTRA_SECTION_DOCS = {
    "VerifierConfig": "Which verifier judges answers, and its options.",
    "TrainerConfig": "Which trainer fine-tunes the actor after each sampling stage.",
}

#: Option models of the built-in trainers, by trainer name.
TRAINER_OPTIONS = {
    "trl-sft": "reasonloop.trainers.trl_sft:TrlSftOptions",
    "trl-grpo": "reasonloop.trainers.trl_grpo:TrlGrpoOptions",
    "command": "reasonloop.trainers.command:CommandTrainerOptions",
    "none": "reasonloop.trainers.none:NoneTrainerOptions",
}

#: Which registry names the key a section's ``name``/``backend`` field takes.
REGISTERED = {
    "RoleConfig": ("backend", "reasonloop_register_backends"),
    "VerifierConfig": ("verifier", "reasonloop_register_verifiers"),
    "TrainerConfig": ("trainer", "reasonloop_register_trainers"),
    "DatasetSpec": ("dataset", "reasonloop_register_datasets"),
}


# -- reading the source ---------------------------------------------------------


def comment_docs(cls: type) -> dict[str, str]:
    """The ``#:`` comments above each annotated field of ``cls`` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not issubclass(klass, BaseModel) or klass is BaseModel:
            continue
        try:
            source_file = inspect.getsourcefile(klass)
        except TypeError:
            continue
        if source_file is None:
            continue
        docs.update(_class_comments(Path(source_file), klass.__name__))
    return docs


def _class_comments(path: Path, class_name: str) -> dict[str, str]:
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            comment: list[str] = []
            i = stmt.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#:"):
                comment.insert(0, lines[i].strip()[2:].strip())
                i -= 1
            if comment:
                out[stmt.target.id] = " ".join(comment)
    return out


def markdown(text: str) -> str:
    """reST inline markup to Markdown: ``x`` and :role:`x` become `x`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    # Recipes are YAML: say null/true/false, not Python's None/True/False.
    for python, yaml_word in (("None", "null"), ("True", "true"), ("False", "false")):
        text = text.replace(f"`{python}`", f"`{yaml_word}`")
    return text


def section_doc(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or EXTRA_SECTION_DOCS.get(cls.__name__, "")
    return markdown(inspect.cleandoc(doc)) if doc else ""


# -- rendering values -----------------------------------------------------------


def yaml_value(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, str):
        return json.dumps(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


class Reference:
    """Walks the recipe's models and renders one table per section."""

    def __init__(self, root: type[BaseModel], plugin_settings: dict[str, type[BaseModel]]):
        self.paths: dict[type[BaseModel], list[str]] = {}
        self.order: list[type[BaseModel]] = []
        self.registered = registered_names()
        self._walk(root, "")
        for name, model in plugin_settings.items():
            self._walk(model, f"plugins.settings.{name}")

    def _walk(self, model: type[BaseModel], path: str) -> None:
        if model in self.paths:
            self.paths[model].append(path)
            return
        self.paths[model] = [path]
        self.order.append(model)
        for name, field in model.model_fields.items():
            for sub, suffix in self._children(field.annotation):
                self._walk(sub, f"{path}.{name}{suffix}".lstrip("."))

    def _children(self, annotation: Any) -> list[tuple[type[BaseModel], str]]:
        origin, args = get_origin(annotation), get_args(annotation)
        if model_of(annotation):
            return [(annotation, "")]
        if origin is list and args and model_of(args[0]):
            return [(args[0], "[]")]
        if origin is dict and len(args) == 2 and model_of(args[1]):
            return [(args[1], ".<name>")]
        if origin in (Union, types.UnionType):
            return [c for a in args for c in self._children(a)]
        return []

    def type_name(self, annotation: Any) -> str:
        origin, args = get_origin(annotation), get_args(annotation)
        if annotation is type(None):
            return "null"
        if annotation is Any:
            return "any"
        if origin in (Union, types.UnionType):
            return " or ".join(self.type_name(a) for a in args)
        if origin is Literal:
            return " or ".join(json.dumps(a) for a in args)
        if origin is list:
            if not args:
                return "list"
            item = self.type_name(args[0])
            return "list of sections" if item == "section" else f"list of {item}"
        if origin is dict:
            if not args or args[1] is Any:
                return "mapping"
            value = self.type_name(args[1])
            return "mapping of sections" if value == "section" else f"mapping of {value}"
        if model_of(annotation) is not None:
            return "section"
        return getattr(annotation, "__name__", str(annotation))

    def render_section(self, model: type[BaseModel], title: str, level: str = "###") -> str:
        docs = comment_docs(model)
        out = [f"{level} {title}", ""]
        doc = section_doc(model)
        if doc:
            out += [doc, ""]
        if model.__name__ in REGISTERED:
            kind, _ = REGISTERED[model.__name__]
            names = ", ".join(f"`{n}`" for n in self.registered[kind])
            out += [f"Built-in {kind}s: {names}. Plugins add more.", ""]
        if not model.model_fields:
            out += ["No keys.", ""]
            return "\n".join(out)
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            description = docs.get(name) or EXTRA_DESCRIPTIONS.get(f"{model.__name__}.{name}", "")
            row = [
                f"`{name}`",
                self.type_name(field.annotation) + constraints(field),
                default_of(field),
                markdown(description),
            ]
            out.append("| " + " | ".join(cell(c) for c in row) + " |")
        out.append("")
        return "\n".join(out)

    def render(self) -> str:
        parts = []
        for model in self.order:
            paths = self.paths[model]
            title = ", ".join(f"`{p}`" for p in paths if p) or "Top level"
            parts.append(self.render_section(model, title))
        for trainer, target in TRAINER_OPTIONS.items():
            module, _, attr = target.partition(":")
            options = getattr(importlib.import_module(module), attr)
            parts.append(self.render_section(options, f"`trainer.options` for `{trainer}`"))
        return "\n".join(parts)


def constraints(field: FieldInfo) -> str:
    words = []
    for m in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                words.append(f"{sign} {getattr(m, attr)}")
        if getattr(m, "min_length", None) is not None:
            words.append(f"not empty (at least {m.min_length})")
        if getattr(m, "pattern", None):
            words.append(f"matching `{m.pattern}`")
    return (", " + ", ".join(words)) if words else ""


def default_of(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel) and not value.model_dump(exclude_defaults=True):
            return "its defaults"
    else:
        value = field.default
    return f"`{yaml_value(_plain(value))}`"


def _plain(value: Any) -> Any:
    """Models inside a default (a mapping of sections) as plain mappings."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def builtin_plugins() -> Any:
    """A plugin manager with the built-in plugins only, ignoring installed plugins and the env."""
    from reasonloop.core.plugins import make_plugin_manager

    saved = os.environ.pop("REASONLOOP_DISABLE_PLUGINS", None)
    try:
        return make_plugin_manager(load_entrypoints=False)
    finally:
        if saved is not None:
            os.environ["REASONLOOP_DISABLE_PLUGINS"] = saved


def registered_names() -> dict[str, list[str]]:
    """Names the built-in plugins register."""
    from reasonloop.core.plugins import Registry

    pm = builtin_plugins()
    return {kind: Registry.collect(pm, hook, kind).names() for kind, hook in REGISTERED.values()}


def plugin_settings() -> dict[str, type[BaseModel]]:
    """The settings models the built-in plugins declare, by name."""
    from reasonloop.core.settings import settings_models

    registry = settings_models(builtin_plugins())
    return {name: registry.get(name) for name in registry.names()}


# -- the page -------------------------------------------------------------------


def example_notes(data: dict[str, Any]) -> str:
    """Notes on the example recipe, with the values it sets."""
    from reasonloop.core.recipe import recipe_from_dict

    r = recipe_from_dict(data)
    actor = r.roles["actor"]
    train = ", ".join(sorted({s.name for s in r.data.train}))
    evals = ", ".join(sorted({s.name for s in r.data.eval}))
    k = r.data.problems_per_iteration
    draw = (
        f"each iteration samples the next {k} problems of the pool (wrapping around)"
        if k
        else "each iteration samples the whole pool"
    )
    sel = r.selection
    keep = f"at most {sel.max_per_problem}" if sel.max_per_problem else "all"
    selection = f"- `selection`: keep {keep} correct samples per problem"
    if sel.dedupe:
        selection += ", skip repeated completions"
    if sel.clean:
        selection += ", and cut each after the sentence that states the answer"
    start = "the base model" if r.trainer.restart_from_base else "the previous iteration's model"
    start += (
        " on every iteration's examples so far"
        if r.trainer.trains_on_all_iterations
        else " on this iteration's examples"
    )
    ev = r.eval
    how = (
        "greedy (one sample at temperature 0)"
        if ev.n == 1 and ev.temperature == 0
        else f"{ev.n} samples at temperature {ev.temperature}"
    )
    first = "the base model first, then " if ev.baseline else ""
    notes = [
        f"- `roles.actor`: the one role. Backend `{actor.backend}` loads `{actor.model}`; "
        "`backend_options` go to the backend as they are; `sampling` holds the defaults for "
        "requests that leave a parameter unset.",
        "- `prompt.template`: the problem text replaces `{prompt}`.",
        f"- `data`: training problems from `{train}`, held-out problems from `{evals}`; {draw}.",
        f"- `sampling.n: {r.sampling.n}`: the built-in `selfimprove` plugin asks for "
        f"{r.sampling.n} plain samples per problem in round 0. No other plugin is configured, "
        "so sampling ends after round 0.",
        selection + ".",
        f"- `trainer`: `{r.trainer.name}` with its options; each iteration trains from {start}.",
        f"- `eval`: evaluates {first}each iteration's model, {how}.",
    ]
    return "\n".join(notes)


def example_error() -> str:
    """The message a broken recipe produces, taken from the loader itself."""
    from reasonloop.core.recipe import recipe_from_dict
    from reasonloop.errors import RecipeError

    bad = {
        "version": 1,
        "name": "demo",
        "roles": {"actor": {"model": "m"}},
        "data": {},
        "sampling": {"n": 0, "temprature": 0.7},
    }
    try:
        recipe_from_dict(bad, "recipes/demo.yaml")
    except RecipeError as exc:
        return str(exc)
    raise AssertionError("the broken example recipe validated")


def example_plugin_error() -> str:
    """The message for a misspelt plugin name and a misspelt key in a plugin's block."""
    from reasonloop.core.recipe import recipe_from_dict
    from reasonloop.core.settings import validate_plugin_settings
    from reasonloop.errors import RecipeError

    bad = {
        "version": 1,
        "name": "demo",
        "roles": {"actor": {"model": "m"}},
        "data": {},
        "plugins": {"settings": {"guidanse": {"attempts": 4}, "critic": {"refinments": 2}}},
    }
    try:
        validate_plugin_settings(recipe_from_dict(bad, "recipes/demo.yaml"), builtin_plugins())
    except RecipeError as exc:
        return str(exc)
    raise AssertionError("the misspelt plugin settings validated")


def render() -> str:
    """The whole of docs/recipes.md."""
    from reasonloop.core.recipe import Recipe

    example_text = EXAMPLE.read_text()
    data = yaml.safe_load(example_text)
    reference = Reference(Recipe, plugin_settings())
    page = f"""\
# Recipe reference

A recipe is a YAML file that says what a run does: which models answer which
roles, where problems come from, how samples are drawn, verified, selected and
trained on, and how the result is evaluated. `reasonloop run`, `validate` and
`eval` take one.

Every section rejects unknown keys, and a recipe that does not load names the
file, the dotted key, what was expected and, where a known key is close, the
key that was probably meant:

```text
{example_error()}
```

`reasonloop validate RECIPE` checks a recipe, and the backend, verifier,
trainer and dataset names it uses and the backends' options, without running
anything. It loads no model and reads no data unless asked
(`--resolve-models`, `--load-data`), so the GPU recipes validate anywhere.

Ready recipes: `recipes/*.yaml` are sized for SmolLM2-135M on a CPU (minutes
each); `recipes/paper/*.yaml` use the papers' settings on GPUs (7-8B actors,
separate critic and 70B teacher models, vLLM data and tensor parallelism,
DeepSpeed ZeRO-3 or LoRA training), each with a header that says what it
reproduces, the hardware, the expected wall time and the paper's table or
figure to compare with. A test validates every one of them.

Each block under `plugins.settings` is checked against the settings its
plugin declares (the built-in ones are in the tables below; `reasonloop
schema` includes those of installed plugins too). A block that no plugin
declares is an error that lists the known names, so a misspelt plugin never
silently switches a method off:

```text
{example_plugin_error()}
```

The block of a plugin that `plugins.disable` or `REASONLOOP_DISABLE_PLUGINS`
blocks is not checked (the plugin is not loaded to say what it accepts):
`validate` and the run log say it is ignored. `reasonloop attribute` turns
plugins off this way while their settings stay in the recipe.

## A full example

`recipes/quickstart.yaml`:

```yaml
{example_text.rstrip()}
```

{example_notes(data)}

Keys a recipe leaves out take the defaults in the tables below.

## Overriding keys with `--set`

`run`, `validate` and `eval` accept `--set dotted.key=value` (short `-s`),
repeatable. Each override is applied to the YAML before validation, so a bad
one is reported like a bad key in the file.

- The value is parsed as YAML: `--set iterations=3` is a number,
  `--set selection.dedupe=false` a boolean, `--set 'plugins.disable=[critic]'`
  a list; an empty value is an empty string.
- Missing mappings on the path are created:
  `--set plugins.settings.myplugin.rounds=2`.
- A path through something that is not a mapping is an error (list items such
  as `data.train` entries cannot be addressed).

```bash
reasonloop run recipes/quickstart.yaml --set iterations=1 --set sampling.n=8
```

`reasonloop resume` takes no overrides: it continues with the resolved recipe
saved in the run directory (`recipe.yaml`, which also lists plugin versions
under `_plugins`).

## Editor support: `reasonloop schema`

`reasonloop schema` prints the recipe's JSON Schema. Editors that read JSON
Schema then complete and check recipe keys; with the YAML language server:

```bash
reasonloop schema > recipe.schema.json
```

```yaml
# yaml-language-server: $schema=recipe.schema.json
version: 1
```

## Keys

`<name>` stands for a key you choose (a role name, a plugin name); `[]` for
each item of a list.

{reference.render().rstrip()}
"""
    return page


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(
                f"{OUTPUT.relative_to(REPO)} is out of date; run: "
                "python scripts/gen_recipe_docs.py > docs/recipes.md",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
