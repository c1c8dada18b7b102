"""Load problems from local JSON lines, Parquet or CSV files, or from the hub.

Columns are matched to :class:`Problem` fields through ``spec.fields``; fields
left unmapped are looked up under common column names (``question``,
``problem`` or ``prompt`` for the prompt, and so on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reasonloop.core.dataspec import DatasetSpec
from reasonloop.core.records import Problem, Reference
from reasonloop.errors import UsageError

__all__ = [
    "DEFAULT_COLUMNS",
    "answer_text",
    "load_file",
    "load_hub",
    "problems_from_rows",
    "problems_from_table",
    "resolve_columns",
    "window",
]

#: Where a field is looked for when ``spec.fields`` does not name its column.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "unique_id", "task_id", "problem_id"),
    "prompt": ("question", "problem", "prompt"),
    "tests": ("tests", "test"),
    "answer": ("answer", "final_answer", "solution"),
    "rationale": ("rationale", "explanation", "solution"),
    "entry_point": ("entry_point",),
    "solution": ("canonical_solution", "solution"),
    "difficulty": ("difficulty", "level"),
    "domain": ("domain",),
}
_SUFFIXES = {
    "json": (".json", ".jsonl", ".json.gz", ".jsonl.gz"),
    "parquet": (".parquet",),
    "csv": (".csv",),
}
_KNOWN_OPTIONS = {"source", "domain", "metadata", "config"}


def load_file(spec: DatasetSpec) -> list[Problem]:
    """Load the problems in a JSON lines, Parquet or CSV file, or a directory of them.

    Options: ``source`` (the ``metadata["source"]`` and id prefix; default the
    file's stem), ``domain`` (``math`` or ``code``; default ``code`` when there
    is a tests column), ``metadata`` (columns to copy into ``metadata``).
    """
    if spec.name not in _SUFFIXES:
        raise UsageError(f"unknown file format {spec.name!r}; use one of {', '.join(_SUFFIXES)}")
    if not spec.path:
        raise UsageError(f"a {spec.name} dataset needs path: a file or a directory of files")
    _check_options(spec)
    path = Path(spec.path).expanduser()
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.name.endswith(_SUFFIXES[spec.name]))
        if not files:
            raise UsageError(
                f"{path}: no {spec.name} files "
                f"({', '.join(_SUFFIXES[spec.name])}) in this directory"
            )
    elif path.is_file():
        files = [str(path)]
    else:
        raise UsageError(f"{path}: no such file or directory")
    label = str(path)
    # The directory name or the file name without its suffixes: data.jsonl.gz -> data.
    source = str(spec.options.get("source") or path.name.split(".")[0])
    table = _read(label, lambda d: d.load_dataset(spec.name, data_files=files, split="train"))
    return problems_from_table(table, spec, source=source, label=label)


def load_hub(spec: DatasetSpec) -> list[Problem]:
    """Load a Hugging Face hub dataset named by ``spec.path`` (needs network or a cache).

    ``spec.split`` defaults to ``train``; ``options.config`` names a subset
    (``main`` for ``openai/gsm8k``). Other options as for :func:`load_file`.
    """
    if not spec.path:
        raise UsageError("a hub dataset needs path: the hub id, e.g. openai/gsm8k")
    _check_options(spec)
    split = spec.split or "train"
    config = spec.options.get("config")
    label = f"hub dataset {spec.path!r} (split {split!r})"
    table = _read(
        label,
        lambda d: d.load_dataset(spec.path, config, split=split),
        hint="it needs network access or a local copy in the Hugging Face cache; "
        "offline, download it once or point a json, parquet or csv source at local files",
    )
    source = str(spec.options.get("source") or spec.path.rstrip("/").split("/")[-1])
    return problems_from_table(table, spec, source=source, label=label)


def _check_options(spec: DatasetSpec) -> None:
    unknown = sorted(set(spec.options) - _KNOWN_OPTIONS)
    if unknown:
        raise UsageError(
            f"{spec.name} dataset {spec.path}: unknown option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(sorted(_KNOWN_OPTIONS))}"
        )


def _read(label: str, load: Callable[[Any], Any], hint: str = "") -> Any:
    import datasets

    quiet = not datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        return load(datasets)
    # datasets raises many unrelated types (pyarrow, json, network, hub errors).
    except Exception as exc:
        message = f"{label}: could not be read: {_reasons(exc)}"
        raise UsageError(f"{message}; {hint}" if hint else message) from exc
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def _reasons(exc: BaseException) -> str:
    # datasets wraps the useful message (a parse error and its row) in generic ones.
    reasons: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(reasons) < 3:
        reasons.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(reasons)


def problems_from_table(table: Any, spec: DatasetSpec, *, source: str, label: str) -> list[Problem]:
    """Turn the rows of a ``datasets.Dataset`` inside the spec's window into problems."""
    rows = window(range(len(table)), spec)
    selected = table.select(rows) if len(rows) != len(table) else table
    return problems_from_rows(
        selected, list(table.column_names), spec, source=source, label=label, start=rows.start
    )


def problems_from_rows(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    spec: DatasetSpec,
    *,
    source: str,
    label: str,
    start: int = 0,
) -> list[Problem]:
    """Turn mapping rows into problems; ``start`` is the first row's index in the source."""
    mapping = resolve_columns(columns, spec.fields, label)
    default_domain = spec.options.get("domain") or ("code" if mapping["tests"] else "math")
    extra = list(spec.options.get("metadata") or [])
    missing = [c for c in extra if c not in columns]
    if missing:
        raise UsageError(
            f"{label}: options.metadata names missing column(s) {missing}; {_found(columns)}"
        )
    problems = []
    for index, row in enumerate(rows, start=start):
        value = {field: answer_text(row[col]) if col else None for field, col in mapping.items()}
        if not value["prompt"]:
            raise UsageError(f"{label}: row {index} has an empty {mapping['prompt']}")
        domain = value["domain"] or default_domain
        if domain not in ("math", "code"):
            raise UsageError(f"{label}: row {index} has domain {domain!r}; use math or code")
        metadata: dict[str, Any] = {"source": source, **{c: row[c] for c in extra}}
        if mapping["difficulty"] and row[mapping["difficulty"]] is not None:
            metadata["difficulty"] = row[mapping["difficulty"]]
        reference = Reference(
            **{f: value[f] for f in ("answer", "rationale", "tests", "entry_point", "solution")}
        )
        problems.append(
            Problem(
                id=value["id"] or f"{source}-{index:05d}",
                domain=domain,
                prompt=value["prompt"],
                reference=reference,
                metadata=metadata,
            )
        )
    return problems


def resolve_columns(
    columns: Sequence[str], fields: Mapping[str, str], label: str
) -> dict[str, str | None]:
    """Return the column each Problem field is read from (``None``: not in this source)."""
    unknown = sorted(set(fields) - set(DEFAULT_COLUMNS))
    if unknown:
        raise UsageError(
            f"{label}: fields maps unknown field(s) {unknown}; "
            f"fields are {', '.join(DEFAULT_COLUMNS)}"
        )
    mapping: dict[str, str | None] = {}
    for field, candidates in DEFAULT_COLUMNS.items():
        if field in fields:
            if fields[field] not in columns:
                raise UsageError(
                    f"{label}: fields.{field} names column {fields[field]!r}, "
                    f"which is not there; {_found(columns)}"
                )
            mapping[field] = fields[field]
            continue
        taken = {c for c in mapping.values() if c}
        # A "solution" column is a program in code sets and a worked answer in math sets.
        is_code = mapping.get("tests") is not None
        if (field == "solution") != is_code:
            candidates = tuple(c for c in candidates if c != "solution")
        mapping[field] = next((c for c in candidates if c in columns and c not in taken), None)
    for field in ("prompt", "answer"):
        if mapping[field] is None and not (field == "answer" and mapping["tests"]):
            looked = ", ".join(DEFAULT_COLUMNS[field])
            raise UsageError(
                f"{label}: no column for {field} (looked for {looked}; "
                f"name it with fields.{field}); {_found(columns)}"
            )
    return mapping


def answer_text(value: Any) -> str | None:
    """Return a cell as text: ``None`` stays ``None``, ``42.0`` becomes ``"42"``."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def window(rows: range, spec: DatasetSpec) -> range:
    """Return the part of ``rows`` that ``spec.offset`` and ``spec.limit`` select."""
    if spec.offset < 0 or (spec.limit is not None and spec.limit < 0):
        raise UsageError(f"{spec.name}: offset and limit must be zero or more")
    end = len(rows) if spec.limit is None else spec.offset + spec.limit
    return rows[spec.offset : end]


def _found(columns: Sequence[str]) -> str:
    return f"columns found: {', '.join(columns) or '(none)'}"
