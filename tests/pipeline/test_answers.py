import pytest

from pipeline.answers import answers_match, extract_answer, last_boxed, normalise_answer


@pytest.mark.parametrize("a, b", [
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("1,000", "1000"),
    ("1000.0", "1000"),
    ("3.0", "3"),
    ("\\dfrac{3}{4}", "0.75"),
    ("$\\tfrac{3}{4}$", "3/4"),
    ("\\frac12", ".5"),
    ("42.", "42"),
    ("x = 5", "5"),
    ("-\\frac{1}{2}", "-0.5"),
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}"),
    ("\\text{Monday}", "monday"),
    ("90^\\circ", "90"),
])
def test_equal_answers_normalise_alike(a, b):
    assert answers_match(a, b), (normalise_answer(a), normalise_answer(b))


@pytest.mark.parametrize("a, b", [
    ("-2", "2"),
    ("1/3", "0.333"),
    ("1,000", "1.000"),   # a thousands separator, not a decimal comma
    ("0.1", "0.10001"),
    ("(1,2)", "(2,1)"),
    ("\\frac{1}{2}", "\\frac{2}{1}"),
    ("x+1", "x-1"),
])
def test_different_answers_stay_different(a, b):
    assert not answers_match(a, b)


def test_numbers_get_one_canonical_form():
    assert normalise_answer("2/4") == "1/2"
    assert normalise_answer("1e3") == "1000"
    assert normalise_answer("12,345,678") == "12345678"


def test_missing_answers_never_match():
    assert not answers_match(None, "1")
    assert not answers_match("1", None)


def test_last_boxed_handles_nested_braces_and_takes_the_last():
    assert last_boxed("first \\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}}.") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("unclosed \\boxed{1") is None
    assert last_boxed("no box") is None


@pytest.mark.parametrize("text, answer", [
    ("so we get \\boxed{7} apples", "7"),
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
    ("Therefore, the answer is 1,000.", "1,000"),
    ("3 apples and 4 pears", "4"),
    ("nothing numeric here", None),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer
