"""step_check, the exact process verifier of arith_word solutions: hand-checked good and bad
steps, and hostile solutions that must never pass (an error verdict where it cannot judge)."""
import pytest

from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.types import Candidate, Task
from pipeline.judging.step_check import StepCheckVerifier
from pipeline.judging.verifiers import make_verifier

# "Mia has 8 apples. A friend gives her 1 more. She buys 2 more. She buys 2 bags with 6 apples in each."
TASK = Task(id="mia", kind="math", answer="23",
            prompt="Question: Mia has 8 apples. A friend gives her 1 more. She buys 2 more. She buys 2 bags "
                   "with 6 apples in each. How many apples does Mia have now?\nSolution:\n",
            metadata={"solution": "8 + 1 = 9\n9 + 2 = 11\n2 * 6 = 12\n11 + 12 = 23\nAnswer: 23"})


def judge(text: str, task: Task = TASK):
    return StepCheckVerifier().verify(task, [Candidate(task_id=task.id, sample_index=0, content=text)])[0]


def flags(text: str) -> list[bool]:
    return [s["correct"] for s in judge(text).details["steps"]]


def test_the_reference_and_a_reordered_solution_pass():
    assert judge(TASK.metadata["solution"]).passed
    reordered = judge("6 * 2 = 12\n1 + 8 = 9\n9 + 2 = 11\n12 + 11 = 23\nAnswer: 23")  # + and * either way
    assert reordered.passed and reordered.score == 1.0 and all(reordered.details["prefix_correct"])


def test_hand_checked_bad_steps():
    assert flags("8 + 1 = 8\n8 + 2 = 10\n2 * 6 = 12\n10 + 12 = 22\nAnswer: 22") == [False, False, True, False, False]
    verdict = judge("8 + 1 = 9\n9 + 2 = 11\n2 * 6 = 12\n11 + 12 = 23\nAnswer: 24")
    assert not verdict.passed and verdict.details["steps"][-1]["reason"] == "answer 24 is wrong"
    assert judge("8 + 1 = 8\n8 + 2 = 10").details["prefix_correct"] == [False, False]
    assert flags("8 + 1 = 9\n9 - 2 = 7") == [True, False]  # right arithmetic, not this problem's step
    assert flags("12 / 0 = 0\n12 / 5 = 2") == [False, False]  # no division by zero, only exact division


def test_right_looking_lines_that_are_not_the_work_do_not_pass():
    fakes = {
        "answer only": "Answer: 23",
        "true but unrelated": "2 + 2 = 4\n4 + 19 = 23\nAnswer: 23",
        "a step repeated": "8 + 1 = 9\n8 + 1 = 9\n9 + 2 = 11\n2 * 6 = 12\n11 + 12 = 23\nAnswer: 23",
        "a result used before it is computed": "11 + 12 = 23\n8 + 1 = 9\n9 + 2 = 11\n2 * 6 = 12\nAnswer: 23",
        "a step skipped": "8 + 1 = 9\n9 + 2 = 11\n11 + 12 = 23\nAnswer: 23",
        "lines after the answer": "8 + 1 = 9\n9 + 2 = 11\n2 * 6 = 12\n11 + 12 = 23\nAnswer: 23\nAnswer: 23",
        "other scripts' digits": "\u0668 + \u0661 = \u0669\n9 + 2 = 11\n2 * 6 = 12\n11 + 12 = 23\nAnswer: 23",
        "prose": "I added everything up carefully.\nAnswer: 23",
    }
    for name, text in fakes.items():
        verdict = judge(text)
        assert not verdict.passed and verdict.error is None, name


def test_what_cannot_be_judged_is_an_error_never_a_pass():
    huge = "8" * 5000  # past int()'s digit limit: must not raise, must not pass
    cases = {"empty": "", "blank lines": "\n \n\n", "a huge number": f"8 + 1 = {huge}\nAnswer: 23",
             "a huge answer": f"8 + 1 = 9\nAnswer: {huge}"}
    for name, text in cases.items():
        verdict = judge(text)
        assert verdict.error and not verdict.passed and not verdict.accepted, name
    no_reference = TASK.model_copy(update={"metadata": {}})
    assert judge(TASK.metadata["solution"], no_reference).error  # a task it cannot check
    bad_reference = TASK.model_copy(update={"metadata": {"solution": "add them up\nAnswer: 23"}})
    assert judge(TASK.metadata["solution"], bad_reference).error


def test_every_shipped_reference_passes_and_the_registry_builds_it():
    verifier = make_verifier("step_check")
    tasks = make_tasks("test", 50)
    verdicts = [verifier.verify(t, [Candidate(task_id=t.id, sample_index=0, content=t.metadata["solution"])])[0]
                for t in tasks]
    assert all(v.passed for v in verdicts)
    with pytest.raises(ValueError, match="separator"):
        make_verifier("step_check", separator="")
