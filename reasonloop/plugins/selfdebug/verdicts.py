"""The model's per-block verdicts on an execution trace, read from its free-text reply.

In-execution debugging asks the model to judge each block of a trace
("[Block N]: correct or wrong, and why"). Models answer in many shapes:
``[Block 2]: wrong``, ``**Block 2** - Incorrect``, ``BLOCK-2 is not
correct``, LDB's JSON lines (``{"block": "BLOCK-2", "correct": "False"}``).
:func:`parse_block_verdicts` reads them all and never raises: what it cannot
read is counted, so a report can say how often the judgement was usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["BlockVerdicts", "Outcome", "parse_block_verdicts"]

#: What a reply decides: every shown block correct (the program is kept), some
#: block wrong, some blocks judged correct but not all, or nothing readable.
Outcome = Literal["all-correct", "wrong", "incomplete", "unparsable"]

#: Replies longer than this are read up to it (a runaway reply costs no more).
MAX_CHARS = 20_000
#: How far after a block's name its verdict may stand.
WINDOW = 240

_HEADER = re.compile(r"block[ \t]*[-_#:]?[ \t]*(\d{1,6})\b", re.IGNORECASE)
_WORDY = re.compile(r"[A-Za-z0-9]")
_JSON_CORRECT = re.compile(r"""["']correct["']\s*:\s*["']?(true|false)\b""", re.IGNORECASE)
_WORD = re.compile(
    r"\b(?:(not|isn't|is\s+not)\s+)?(incorrect|correct|wrong|buggy)\b", re.IGNORECASE
)


@dataclass
class BlockVerdicts:
    """The blocks a reply judged correct and wrong, among those the trace showed."""

    shown: list[int]
    correct: list[int] = field(default_factory=list)
    wrong: list[int] = field(default_factory=list)
    #: Verdicts on blocks the trace did not show (a made-up or omitted block).
    unknown_blocks: int = 0

    @property
    def outcome(self) -> Outcome:
        if self.wrong:
            return "wrong"
        if not self.correct:
            return "unparsable"
        return "all-correct" if set(self.correct) >= set(self.shown) else "incomplete"

    def to_meta(self) -> dict[str, Any]:
        """The verdicts as a request's ``meta`` keeps them (JSON)."""
        return {
            "outcome": self.outcome,
            "correct": self.correct,
            "wrong": self.wrong,
            "unknown_blocks": self.unknown_blocks,
        }


def parse_block_verdicts(text: str, shown: list[int]) -> BlockVerdicts:
    """Read the verdict on each block of ``shown`` from the model's ``text``.

    A block's verdict is the first verdict word (correct, wrong, incorrect,
    not correct, ...) or JSON ``"correct": true|false`` between its name and
    the next block's name, within a short window. A block judged both ways
    counts as wrong; blocks not in ``shown`` are counted, not used.
    """
    text = text[:MAX_CHARS] if isinstance(text, str) else ""
    headers = list(_HEADER.finditer(text))
    shown_set = set(shown)
    judged: dict[int, bool] = {}
    unknown = 0
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        # The verdict stands on the block's own line, or on the next line when
        # the name stands alone ("[Block 2]:"); never further down, where a
        # reply may echo the block's code (``correct = x == y``).
        lines = text[match.end() : min(end, match.end() + WINDOW)].splitlines() or [""]
        window = lines[0]
        if not _WORDY.search(window):
            window = next((line for line in lines[1:] if line.strip()), "")
        verdict = _read(window)
        if verdict is None:
            continue
        block = int(match.group(1))
        if block not in shown_set:
            unknown += 1
            continue
        judged[block] = judged.get(block, True) and verdict
    # LDB's JSON names the block after the verdict key's object opens: read
    # each JSON-looking line as a whole too.
    for line in text.splitlines():
        if "{" not in line or "correct" not in line.lower():
            continue
        head, key = _HEADER.search(line), _JSON_CORRECT.search(line)
        if head is None or key is None:
            continue
        block = int(head.group(1))
        if block in shown_set:
            judged[block] = judged.get(block, True) and key.group(1).lower() == "true"
    order = [b for b in shown if b in judged]
    return BlockVerdicts(
        shown=list(shown),
        correct=[b for b in order if judged[b]],
        wrong=[b for b in order if not judged[b]],
        unknown_blocks=unknown,
    )


def _read(window: str) -> bool | None:
    """True (correct), False (wrong) or None from the text after one block's name."""
    key = _JSON_CORRECT.search(window)
    word = _WORD.search(window)
    if key is not None and (word is None or key.start() <= word.start() + 1):
        return key.group(1).lower() == "true"
    if word is None:
        return None
    negated, term = word.group(1), word.group(2).lower()
    good = term == "correct"
    return not good if negated else good
