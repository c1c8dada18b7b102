"""Per-block verdicts read from the model's free text: the shapes models write, and hostile text."""

from __future__ import annotations

import time

import pytest

from reasonloop.plugins.selfdebug.verdicts import parse_block_verdicts


@pytest.mark.parametrize(
    ("reply", "correct", "wrong"),
    [
        ("[Block 0]: correct, sets x.\n[Block 1]: wrong, it subtracts.", [0], [1]),
        ("**Block 0**: Correct\n**Block 1** - Incorrect: it should add", [0], [1]),
        ("BLOCK-0 is correct. BLOCK-1 is not correct.", [0], [1]),
        ("Block #0: correct\nBlock #1: This block isn't correct", [0], [1]),
        ("[Block 1]:\nThis block is wrong: b is subtracted.\n[Block 0]:\nCorrect.", [0], [1]),
        # LDB's JSON lines, the verdict's key before or after the block's name
        (
            '{"block": "BLOCK-0", "correct": "True", "explanation": "sets x"}\n'
            '{"block": "BLOCK-1", "correct": false, "explanation": "is it correct? no"}',
            [0],
            [1],
        ),
        ('{"correct": "False", "block": "BLOCK-1", "explanation": "x"}', [], [1]),
        # a block judged both ways counts as wrong
        ("[Block 0]: correct\n[Block 1]: correct\n[Block 1]: on second thought, wrong", [0], [1]),
    ],
)
def test_verdict_shapes(reply, correct, wrong):
    v = parse_block_verdicts(reply, [0, 1])
    assert (v.correct, v.wrong, v.outcome) == (correct, wrong, "wrong")


def test_outcomes_all_correct_incomplete_unparsable():
    assert parse_block_verdicts("[Block 0]: correct\n[Block 3]: correct", [0, 3]).outcome == (
        "all-correct"
    )
    assert parse_block_verdicts("[Block 0]: correct", [0, 3]).outcome == "incomplete"
    assert parse_block_verdicts("I am not sure what the code does.", [0]).outcome == "unparsable"
    assert parse_block_verdicts("", []).outcome == "unparsable"


def test_an_echoed_trace_is_no_verdict():
    """Small models repeat the trace; a variable named ``right`` or ``correct`` is not a verdict."""
    echo = (
        "[Block 0] in search, lines 2-3:\n    left, right = 0, len(xs)\n"
        "  variables after: left = 0, right = 3\n[Block 1] in search, lines 4-4:\n"
        "    correct = xs[mid] == x"
    )
    v = parse_block_verdicts(echo, [0, 1])
    assert (v.correct, v.wrong, v.outcome) == ([], [], "unparsable")


def test_hostile_replies_are_counted_not_trusted():
    # Blocks the trace did not show are counted, never used.
    v = parse_block_verdicts("[Block 5]: correct\n[Block 0]: correct", [0])
    assert (v.correct, v.unknown_blocks, v.outcome) == ([0], 1, "all-correct")
    v = parse_block_verdicts("[Block 99999]: correct\n[Block 2]: wrong", [0, 1])
    assert (v.outcome, v.unknown_blocks) == ("unparsable", 2)
    # Absurd block numbers, control characters, non-text: no crash.
    assert parse_block_verdicts("[Block 1" + "0" * 400 + "]: correct", [0]).outcome == "unparsable"
    assert parse_block_verdicts("[Block 0]:\x00\x1b[31m correct", [0]).outcome == "all-correct"
    assert parse_block_verdicts(None, [0]).outcome == "unparsable"  # type: ignore[arg-type]


def test_huge_replies_are_read_in_bounded_time():
    start = time.perf_counter()
    parse_block_verdicts("block " * 200_000 + "[Block 0]: correct", [0])
    parse_block_verdicts("[Block 0]: " + "not " * 100_000 + "correct", [0])
    parse_block_verdicts('{"correct": ' * 50_000, [0])
    assert time.perf_counter() - start < 2.0


def test_meta_form():
    meta = parse_block_verdicts("[Block 0]: wrong", [0, 1]).to_meta()
    assert meta == {"outcome": "wrong", "correct": [], "wrong": [0], "unknown_blocks": 0}
