"""The run browser's HTML: the template with its script, style and the run's data inlined.

The page needs nothing but itself: no server, no network (its content
security policy forbids every fetch), and the only script it runs is its
own, allowed by hash, so even text that slipped into the markup could not
run. The data sits in a ``<script type="application/json">`` element with
``<``, ``>`` and ``&`` written as JSON escapes, so no string in it, however
hostile, can end that element early; the script draws every string as
text, never as markup.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

__all__ = ["embedded_json", "render_page"]

_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _asset(name: str) -> str:
    return resources.files("reasonloop.show").joinpath(name).read_text(encoding="utf-8")


def embedded_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element of an HTML page."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    # str.replace per character is many times faster than str.translate on a large page.
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def render_page(data: dict[str, Any]) -> bytes:
    """The whole page for ``data`` (from :func:`~reasonloop.show.data.page_data`), as UTF-8."""
    script = _asset("page.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    page = _asset("page.html")
    for name, value in (
        ("__POLICY__", policy),
        ("__STYLE__", _asset("page.css")),
        ("__SCRIPT__", script),
    ):
        page = page.replace(name, value, 1)
    # The data goes in last, so that nothing in it is taken for a placeholder.
    head, sep, tail = page.partition("__DATA__")
    if not sep:  # pragma: no cover - the template is part of the package
        raise RuntimeError("page.html has no __DATA__ placeholder")
    # Lone surrogates (possible in decoded model output) cannot be UTF-8: shown as '?'.
    return (head + embedded_json(data) + tail).encode("utf-8", errors="replace")
