"""Compute accounting: tokens and wall time per role, plugin and purpose.

The ledger is derived from the samples themselves (each carries its token
counts and its share of wall time), so it survives a resume unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reasonloop.core.records import Sample

__all__ = ["compute_ledger", "merge_ledgers", "total_tokens"]

FIELDS = (
    "requests",
    "samples",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "seconds",
)


def compute_ledger(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Sum samples by (role, plugin, purpose), one row per group, sorted."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    seen_requests: set[str] = set()
    for s in samples:
        key = (s.request.role, s.request.plugin, s.request.purpose)
        row = rows.setdefault(
            key, {"role": key[0], "plugin": key[1], "purpose": key[2], **dict.fromkeys(FIELDS, 0)}
        )
        if s.request.id not in seen_requests:
            seen_requests.add(s.request.id)
            row["requests"] += 1
        row["samples"] += 1
        row["prompt_tokens"] += s.prompt_tokens
        row["cached_tokens"] += s.cached_tokens
        row["completion_tokens"] += s.completion_tokens
        row["seconds"] += s.seconds
    for row in rows.values():
        row["seconds"] = round(row["seconds"], 3)
    return [rows[k] for k in sorted(rows)]


def merge_ledgers(*ledgers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ledgers row by row (e.g. sampling and evaluation of one iteration)."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for ledger in ledgers:
        for r in ledger:
            key = (r["role"], r["plugin"], r["purpose"])
            row = rows.setdefault(key, {**r, **dict.fromkeys(FIELDS, 0)})
            for f in FIELDS:
                row[f] += r.get(f, 0)  # ledgers written before a field existed
    return [rows[k] for k in sorted(rows)]


def total_tokens(ledger: Iterable[dict[str, Any]]) -> int:
    return sum(r["prompt_tokens"] + r["completion_tokens"] for r in ledger)
