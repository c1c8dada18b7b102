"""The authors' critique format (AutoMathCritique's released critic) parses like reasonloop's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonloop.plugins.critic.critique import parse_critique, split_steps
from reasonloop.plugins.critic.mathcritique import MATHCRITIQUE_TEMPLATE, looks_like_mathcritique

DATA = Path(__file__).parent / "data" / "mathcritique_critiques.jsonl"

SOLUTION = (
    "The distance from his apartment to work is 10 miles\n"
    "Half of that distance is 10/2 = <<10/2=5>>5 miles\n"
    "The gym is 2 miles more than the distance from his apartment to work is "
    "10+2 = <<10+2=12>>12 miles\n"
    "The answer is 12."
)

# As the authors' critic writes it: each step repeated (calculator notes
# dropped), lines ending in two spaces, the final verdict with its explanation.
AUTHORS = (
    "Step sentence: The distance from his apartment to work is 10 miles  \n"
    "Correctness of the step: Correct  \n"
    "Explanation: The distance given is accurately stated as 10 miles.\n"
    "\n"
    "Step sentence: Half of that distance is 10/2 = 5 miles  \n"
    "Correctness of the step: Correct  \n"
    "Explanation: Half of 10 miles is 5 miles.\n"
    "\n"
    "Step sentence: The gym is 2 miles more than the distance from his apartment to work "
    "is 10+2 = 12 miles  \n"
    "Correctness of the step: Wrong  \n"
    "Explanation: The gym is 2 miles more than half the distance: 2 + 5 = 7 miles.\n"
    "\n"
    "Step sentence: The answer is 12.  \n"
    "Correctness of the step: Wrong  \n"
    "Explanation: The final answer rests on the previous step.\n"
    "\n"
    "Correctness of the final answer: Wrong  \n"
    "Explanation: 2 was added to the full distance instead of half of it; the answer is 7.\n"
)

OURS = (
    "Step 1: correct - The distance given is accurately stated as 10 miles.\n"
    "Step 2: correct - Half of 10 miles is 5 miles.\n"
    "Step 3: wrong - The gym is 2 miles more than half the distance: 2 + 5 = 7 miles.\n"
    "Step 4: wrong - The final answer rests on the previous step.\n"
    "Final answer: wrong"
)


def test_the_authors_format_parses_like_ours():
    steps = split_steps(SOLUTION)
    theirs, ours = parse_critique(AUTHORS, 4, steps=steps), parse_critique(OURS, 4, steps=steps)
    assert theirs.parsed and ours.parsed, (theirs.unparsable, ours.unparsable)
    assert theirs.format == "mathcritique" and ours.format == "reasonloop"
    assert theirs.steps == ours.steps == (True, True, False, False)
    assert theirs.reasons == ours.reasons
    assert theirs.final_correct is ours.final_correct is False
    assert theirs.first_wrong_step == ours.first_wrong_step == 3
    assert not theirs.accepts
    # The actor is shown the whole critique, the final explanation too.
    assert theirs.feedback.endswith("the answer is 7.")
    # Forced formats: each reads only its own.
    assert parse_critique(AUTHORS, 4, "mathcritique").parsed
    assert not parse_critique(AUTHORS, 4, "reasonloop").parsed
    assert not parse_critique(OURS, 4, "mathcritique").parsed


def test_the_released_examples_parse(tmp_path):
    """Critiques written in the authors' released format, with the verdicts each must give."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    assert len(rows) >= 10
    parsed = 0
    for row in rows:
        c = parse_critique(
            row["critique"], len(split_steps(row["solution"])), steps=split_steps(row["solution"])
        )
        assert c.parsed == (row["steps"] is not None), (row["name"], c.unparsable)
        if c.parsed:
            parsed += 1
            assert list(c.steps) == row["steps"], row["name"]
            assert c.final_correct is row["final_correct"], row["name"]
            assert c.first_wrong_step == row["first_wrong_step"], row["name"]
        else:
            assert row["reason"] in c.unparsable, (row["name"], c.unparsable)
    # The well-formed ones (every row but the deliberately broken) all parse.
    assert (
        parsed
        == sum(r["steps"] is not None for r in rows)
        >= 0.95 * sum(r["well_formed"] for r in rows)
    )


@pytest.mark.parametrize(
    ("text", "steps", "final"),
    [
        # lowercase, extra whitespace, a Chinese colon, markdown bold, brackets
        (
            "step sentence:   She has 2 apples.\n  correctness of the step :  correct\n"
            "explanation: fine\n\nCorrectness of the final answer： [Wrong]\n",
            (True,),
            False,
        ),
        (
            "**Step sentence:** She has 2 apples.\n**Correctness of the step:** **Incorrect**\n"
            "**Explanation:** she has 3.\n\n**Correctness of the final answer:** Wrong",
            (False,),
            False,
        ),
        # No repeated sentence: the verdicts still count, in order.
        (
            "Correctness of the step: Correct\nCorrectness of the step: Correct\n"
            "Correctness of the final answer: Correct\nExplanation: all good.",
            (True, True),
            True,
        ),
        # The last repeated sentence with no verdict of its own (as the authors' data has).
        (
            "Step sentence: 2 + 2 = 4\nCorrectness of the step: Correct\nExplanation: yes\n\n"
            "Step sentence: The answer is 4.\nCorrectness of the final answer: Correct\n"
            "Explanation: 4 is right.",
            (True,),
            True,
        ),
        # A multi-line explanation; a runaway repetition after the final block is not read.
        (
            "Step sentence: x = 2\nCorrectness of the step: Wrong\nExplanation: no,\n"
            "x is 3 here.\n\nCorrectness of the final answer: Wrong\nExplanation: x = 3.\n"
            "Step sentence: x = 2\nCorrectness of the step: Correct\n",
            (False,),
            False,
        ),
    ],
)
def test_odd_but_readable_output(text, steps, final):
    c = parse_critique(text, len(steps))
    assert c.parsed, c.unparsable
    assert c.steps == steps and c.final_correct is final
    assert "x = 2\nCorrectness of the step: Correct" not in c.feedback


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Truncated before the final verdict.
        (
            "Step sentence: a\nCorrectness of the step: Wrong\nExplanation: b",
            "no 'Correctness of the final",
        ),
        # The instruction's placeholder copied back.
        (
            "Step sentence: a\nCorrectness of the step: [Correct/Wrong]\n"
            "Correctness of the final answer: Wrong",
            "without Correct or Wrong",
        ),
        (
            "Step sentence: a\nCorrectness of the step: Wrong\n"
            "Correctness of the final answer: maybe",
            "final answer' line without",
        ),
        ("Correctness of the final answer: Correct", "no step verdicts"),
        (
            "Step sentence: a\nStep sentence: b\nCorrectness of the step: Wrong\n"
            "Correctness of the final answer: Wrong",
            "step sentence 1 has no",
        ),
        # A verdict hidden in an explanation is not a verdict line.
        (
            "Step sentence: a\nExplanation: Correctness of the step: Correct",
            "no 'Correctness of the final",
        ),
    ],
)
def test_malformed_output_is_unparsable_with_the_reason(text, reason):
    c = parse_critique(text, 2, "mathcritique")
    assert not c.parsed and not c.accepts and reason in c.unparsable
    assert c.steps == () and c.final_correct is None


def test_repeated_sentences_are_matched_to_the_steps_they_repeat():
    steps = [
        "She has 2 apples.",
        "She gets 3 more, 2 + 3 = <<2+3=6>>6.",
        "So 6 - 1 = 5.",
        "Answer: 5",
    ]
    # The critic skips the answer line and splits step 2 in two.
    text = (
        "Step sentence: She has 2 apples.\nCorrectness of the step: Correct\nExplanation: ok\n"
        "Step sentence: She gets 3 more,\nCorrectness of the step: Correct\nExplanation: ok\n"
        "Step sentence: 2 + 3 = 6.\nCorrectness of the step: Wrong\nExplanation: 2 + 3 = 5\n"
        "Step sentence: So 6 - 1 = 5.\nCorrectness of the step: Wrong\nExplanation: from 6\n"
        "Correctness of the final answer: Wrong\n"
    )
    c = parse_critique(text, 4, steps=steps)
    assert c.parsed and c.steps == (True, False, False)
    assert c.first_wrong_step == 2 and c.reasons[1] == "ok 2 + 3 = 5"


def test_detection_and_the_authors_prompt():
    assert looks_like_mathcritique(AUTHORS) and not looks_like_mathcritique(OURS)
    assert not looks_like_mathcritique("The step sentence: is it right?")
    assert "{question}" in MATHCRITIQUE_TEMPLATE and "{solution}" in MATHCRITIQUE_TEMPLATE
    assert "Correctness of the final answer: [Correct/Wrong]" in MATHCRITIQUE_TEMPLATE


def test_the_authors_prompt_setting_asks_in_their_format(tmp_path, run_context, sample_rounds):
    """``critique_prompt: mathcritique``: their instruction, steps as lines, no prefill."""
    settings = {"critique_prompt": "mathcritique", "critiques_per_problem": 1}
    _, _, _, samples, _ = sample_rounds(run_context, tmp_path, settings)
    critiques = [s for s in samples if s.request.purpose == "critique"]
    assert critiques
    for c in critiques:
        shown = c.request.messages[-1].content
        assert shown.startswith("Instruction:\nFor a given question, there is a step-by-step")
        assert "Solution:\nMia has 2 apples.\nShe gets 2 more" in shown
        assert "(1)" not in shown and "Example review" not in shown
        assert c.request.prefill is None and c.text == c.completion
        assert c.request.meta["format"] == "auto"


def test_the_default_prompt_keeps_the_example_and_the_prefill(tmp_path, run_context, sample_rounds):
    _, _, _, samples, _ = sample_rounds(run_context, tmp_path, {"critiques_per_problem": 1})
    c = next(s for s in samples if s.request.purpose == "critique")
    assert "Example review:" in c.request.messages[-1].content
    assert "(1) Mia has 2 apples." in c.request.messages[-1].content
    assert c.request.prefill == "Step 1:"


def test_a_set_template_or_prefill_wins_over_the_prompt_preset():
    from reasonloop.plugins.critic.settings import CriticSettings

    cfg = CriticSettings(critique_prompt="mathcritique", critique_prefill="Step sentence:")
    assert cfg.critique_template == MATHCRITIQUE_TEMPLATE
    assert cfg.critique_prefill == "Step sentence:"
    own = CriticSettings(
        critique_prompt="mathcritique", critique_template="Q: {question}\n{solution}"
    )
    assert own.critique_template.startswith("Q:") and own.critique_prefill is None
