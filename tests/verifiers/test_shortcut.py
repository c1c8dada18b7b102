from reasonloop.datasets.arithmetic import worked_solution
from reasonloop.verifiers.shortcut import shortcut_reason, working_numbers

PROBLEM = "Tom has 48 apples. He gives away 19 and then buys 6 more. How many does he have?"
REFERENCE = worked_solution((48, 19, 6), ("-", "+"))


def test_working_numbers_leave_out_the_final_answer_statement():
    assert working_numbers("48 - 19 = 29.\n29 + 6 = 35.\nAnswer: 35") == [
        "48",
        "19",
        "29",
        "29",
        "6",
        "35",
    ]
    assert working_numbers("So the answer is 35.") == []
    assert working_numbers("1,200 + 3 = 1,203 \\boxed{1203}") == ["1200", "3", "1203"]


def test_a_worked_solution_is_not_a_shortcut():
    solution = "He has 48 - 19 = 29 apples left. Then 29 + 6 = 35.\nAnswer: 35"
    assert shortcut_reason(solution, problem=PROBLEM, references=[REFERENCE]) is None


def test_restating_the_hinted_answer_is_a_shortcut():
    reason = shortcut_reason(
        "The answer is 35.\nAnswer: 35", problem=PROBLEM, references=[REFERENCE]
    )
    assert reason == "works with none of the problem's numbers"


def test_too_little_working_compared_with_the_references_is_a_shortcut():
    # Mentions one number of the problem, but the reference works with six.
    solution = "Tom starts with 48 apples.\nAnswer: 35"
    reason = shortcut_reason(solution, problem=PROBLEM, references=[REFERENCE, None, ""])
    assert reason is not None and "1 numbers" in reason
    # With a lenient ratio the same solution passes.
    assert shortcut_reason(solution, problem=PROBLEM, references=[REFERENCE], ratio=0.1) is None


def test_problems_without_numbers_only_compare_with_references():
    assert shortcut_reason("Answer: 4", problem="What is two plus two?") is None
    assert shortcut_reason("Answer: 4", problem="What is two plus two?", references=["2 + 2 = 4"])


def test_numbers_written_as_floats_match_the_problem():
    # SVAMP writes its equations with floats: "( 290.0 / 2.0 )" uses the problem's 290 and 2.
    assert working_numbers("( 290.0 / 2.0 ) = 145.0 and 2.50") == ["290", "2", "145", "2.50"]
    problem = "There are 290 bananas in 2 groups. How big is each group?"
    assert shortcut_reason("( 290.0 / 2.0 ) = 145", problem=problem) is None
