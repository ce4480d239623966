"""Math answer checking (pipeline.judging.answers.judge_answer): the labelled set, the forms
ttc's old checker missed, extraction from whole completions, and time limits."""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.core.types import Candidate, Task
from pipeline.judging.answer_pool import CheckPool
from pipeline.judging.answers import answers_match, extract_answer, judge_answer, normalise_answer
from pipeline.judging.verifiers import ExactAnswerVerifier

CASES = [json.loads(line) for line in Path(__file__).with_name("math_answer_cases.jsonl").read_text().splitlines()]
HEAVY = ("(x+y+z)^{12}", "(z+y+x)^{12}+1")  # a real sympy expansion: about a second of simplify
# Correctness tests allow a slow shared machine; the time limit itself is tested on its own.
ROOMY_S = 60.0


def test_the_labelled_set_is_large_and_balanced():
    assert len(CASES) >= 400
    assert 0.35 < sum(c["should_match"] for c in CASES) / len(CASES) < 0.65
    assert {"mmath", "arith_word", "hand-written"} <= {c["source"] for c in CASES}
    assert any(c["source"].startswith("reasoning_gym:") for c in CASES)


def test_combined_checker_agrees_with_the_labels_and_never_passes_a_wrong_answer():
    with ThreadPoolExecutor(max_workers=4) as threads:  # callers check from threads: so does this test
        verdicts = list(threads.map(lambda c: judge_answer(c["prediction"], c["gold"], ROOMY_S), CASES))
    assert not [v.error for v in verdicts if v.error]
    false_positives = [c for c, v in zip(CASES, verdicts) if v.match and not c["should_match"]]
    disagreements = [c for c, v in zip(CASES, verdicts) if v.match != c["should_match"]]
    assert false_positives == []
    assert 1 - len(disagreements) / len(CASES) >= 0.97, disagreements


@pytest.mark.parametrize("candidate, reference", [
    pytest.param("b", "B", id="choice letter case"),
    pytest.param("(b)", "B", id="choice letter in parentheses"),
    pytest.param("1/2004!", "\\frac{1}{2004!}", id="factorial reciprocal"),
    pytest.param("5!", "120", id="factorial value"),
    pytest.param("(6,\\infty)\\cup(-\\infty,-1)", "(-\\infty,-1)\\cup(6,+\\infty)", id="union reordered"),
    pytest.param("\\{3, 1, 2\\}", "\\{1,2,3\\}", id="set reordered"),
    pytest.param("\\frac{\\sqrt2}2", "\\frac{\\sqrt{2}}{2}", id="frac sqrt shorthand"),
    pytest.param("1{,}000", "1000", id="braced thousands separator"),
    pytest.param("45°", "45", id="degree sign"),
    pytest.param("12 cm^2", "12", id="unit on one side"),
    pytest.param("12\\text{ cm}^2", "12 cm^2", id="same unit spelled twice"),
    pytest.param("50\\%", "50", id="percent as its number"),
    pytest.param("0.5", "50\\%", id="percent as a fraction"),
    pytest.param("We get\n\\[\\frac{3}{4}\\]", "\\frac{3}{4}", id="completion ending in display math"),
])
def test_forms_the_normaliser_alone_missed_now_match(candidate, reference):
    judgement = judge_answer(candidate, reference, ROOMY_S)
    assert judgement.match and judgement.error is None, judgement


@pytest.mark.parametrize("candidate, reference", [
    pytest.param("C", "B", id="wrong letter"),
    pytest.param("A, B, C, D, E", "B", id="every letter at once"),
    pytest.param("5", "5!", id="factorial vs its argument"),
    pytest.param("\\frac{1}{2005!}", "\\frac{1}{2004!}", id="neighbouring factorial"),
    pytest.param("\\{1,2\\}", "\\{1,2,3\\}", id="set missing an element"),
    pytest.param("2", "\\frac{1}{2}", id="1/2 vs 2"),
    pytest.param("0.333333", "\\frac{1}{3}", id="no rounding tolerance"),
    pytest.param("0", "\\lambda=2\\sqrt{2}, A(\\pm 1, 0)", id="a parse that loses the answer"),
    pytest.param("12 cm", "12 m", id="different units"),
    pytest.param("50", "0.5", id="plain numbers stay exact"),
    pytest.param("3 or more", "3", id="a qualifier is not a unit"),
    pytest.param("Firday", "Friday", id="anagram"),
    pytest.param("x^2", "X^2", id="variable case"),
    pytest.param("1, 234", "1234", id="a list is not a thousands separator"),
])
def test_near_misses_fail(candidate, reference):
    judgement = judge_answer(candidate, reference, ROOMY_S)
    assert not judgement.match and judgement.error is None, judgement


@pytest.mark.parametrize("text, answer", [
    ("So the answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("We divide 3 by 4 and get\n\\[\\frac{3}{4}\\]", "\\frac{3}{4}"),
    ("We get\n$$\\frac{3}{4}$$\nwhich is in lowest terms.", "\\frac{3}{4}"),
    ("Dividing, we get\n\\frac{3}{4}", "\\frac{3}{4}"),
    ("so we get \\frac{3}{4} in the end", "\\frac{3}{4}"),
    ("Dividing both sides, we find\nThus $x = \\frac{3}{4}$.", "x = \\frac{3}{4}"),
    ("The roots are \\[x = 1\\]\nso the set of roots is $\\{1\\}$.", "\\{1\\}"),
    ("Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("**Answer:** 42", "42"),
    ("3 apples and 4 pears", "4"),
])
def test_extract_answer_keeps_latex_whole(text, answer):
    assert extract_answer(text) == answer


def test_a_check_past_its_time_limit_is_an_error_never_a_pass():
    slow = judge_answer(*HEAVY, timeout_s=0.05)
    assert not slow.match and slow.method == "timeout" and "timed out" in slow.error
    assert judge_answer("\\frac12", "0.5", timeout_s=ROOMY_S).match  # the killed worker is replaced


def test_exact_answer_verifier_turns_a_timeout_into_an_error_verdict():
    task = Task(id="heavy", kind="math", prompt="Expand.", answer=HEAVY[1])
    [verdict] = ExactAnswerVerifier(timeout_s=0.05).verify(task, [Candidate(task_id="heavy", sample_index=0, content=HEAVY[0])])
    assert not verdict.passed and verdict.score == 0.0 and "timed out" in verdict.error


def test_hostile_numbers_are_refused_before_any_parser_evaluates_them():
    for hostile in ("9^{9^{9}}", "10^{99999}", "20000!", "(3^{10})!"):
        judgement = judge_answer(hostile, "1", timeout_s=ROOMY_S)
        assert not judgement.match and judgement.error is None, (hostile, judgement)


def test_a_worker_that_dies_gives_an_error_and_is_replaced():
    pool = CheckPool(size=1)
    try:
        assert pool.judge("0.5", "\\frac12", ROOMY_S).match
        [worker] = pool._all
        worker.process.kill()
        worker.process.wait()
        died = pool.judge("0.5", "\\frac12", ROOMY_S)
        assert not died.match and died.method == "checker failed" and died.error
        assert pool.judge("0.5", "\\frac12", ROOMY_S).match
    finally:
        pool.close()


def test_answers_match_and_normalise_answer_keep_their_contracts():
    assert answers_match("\\boxed{\\frac{1}{2}}", "0.5") and not answers_match(None, "1")
    assert normalise_answer("\\frac{\\sqrt2}2") == normalise_answer("\\frac{\\sqrt{2}}{2}")  # votes pool alike
    assert normalise_answer("5!") == "120" and normalise_answer("1, 234") != normalise_answer("1234")
