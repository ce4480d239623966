"""Synthetic task families: seeded, disjoint train/test splits, tests that pass and fail for real."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.tasks import arith_word, synthetic_code


def run_tests(program: str, tests: str, tmp_path: Path, timeout_s: float = 30) -> int:
    """Exit code of `python test_solution.py` beside `solution.py`, as the verifier runs it (-1: timed out)."""
    (tmp_path / "solution.py").write_text(program)
    (tmp_path / "test_solution.py").write_text(tests)
    try:
        done = subprocess.run([sys.executable, "test_solution.py"], cwd=tmp_path, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return -1
    return done.returncode


@pytest.fixture(scope="module")
def code_test() -> list:
    return synthetic_code.make_tasks("test", 200)


@pytest.fixture(scope="module")
def code_train() -> list:
    return [t for seed in range(2) for t in synthetic_code.make_tasks("train", 1000, seed=seed)]


def test_code_tasks_are_seeded_and_distinct(code_test):
    again = synthetic_code.make_tasks("test", 200)
    assert [t.model_dump() for t in again] == [t.model_dump() for t in code_test]
    assert len({t.id for t in code_test}) == 200
    other_seed = synthetic_code.make_tasks("test", 200, seed=1)
    assert [t.prompt for t in other_seed] != [t.prompt for t in code_test]


def test_code_splits_are_disjoint_on_program_behaviour(code_train, code_test):
    # identity recomputed from the reference source itself, not trusted from metadata
    train_sources = {t.metadata["solution"] for t in code_train}
    train_ids = {synthetic_code.program_id(s) for s in train_sources}
    assert not train_ids & {synthetic_code.program_id(t.metadata["solution"]) for t in code_test}
    test_sources = {t.metadata["solution"] for t in code_test}
    assert not train_sources & test_sources
    assert all(synthetic_code.split_of(source) == "test" for source in test_sources)
    assert all(synthetic_code.split_of(source) == "train" for source in train_sources)


def test_code_prompt_shape(code_test):
    for task in code_test:
        assert task.kind == "code" and task.entry_point == "f"
        assert re.fullmatch(r"def f\((xs|s|n)\):", task.prompt.rstrip("\n").rsplit("\n", 1)[-1])
        assert "    from solution import f\n" in task.tests
        assert task.prompt.count("\n# f(") == 3


def test_reference_solutions_pass_and_wrong_programs_fail(code_test, tmp_path):
    tasks = code_test[:30]
    for index, task in enumerate(tasks):
        program = synthetic_code.candidate_program(task, synthetic_code.reference_completion(task))
        assert program == task.metadata["solution"]
        assert run_tests(program, task.tests, tmp_path) == 0, task.id
        if index % 3:
            continue  # a third of them also get a wrong program: another same-family task's solution
        other = next(t for t in tasks[index + 1:] + tasks[:index] if t.metadata["family"] == task.metadata["family"])
        wrong = synthetic_code.candidate_program(task, synthetic_code.reference_completion(other))
        assert run_tests(wrong, task.tests, tmp_path) != 0, (task.id, other.id)
    for bad_body in ["    return (\n", "    import sys\n    sys.exit(0)\n", "    while True:\n        pass\n"]:
        broken = synthetic_code.candidate_program(tasks[0], bad_body)
        assert run_tests(broken, tasks[0].tests, tmp_path, timeout_s=3) != 0, bad_body


def test_candidate_program_cuts_at_stops_and_dedent(code_test):
    task = code_test[0]
    body = synthetic_code.reference_completion(task)
    for tail in ["\ndef g(x):\n    return x\n", "\n# f([1]) == 2\n", "\nprint(f(3))\n", "\nx = 1\n", "\n\n\n"]:
        assert synthetic_code.candidate_program(task, body + tail) == task.metadata["solution"]


def test_unknown_split_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'dev'.*train"):
        synthetic_code.make_tasks("dev", 1)
    with pytest.raises(ValueError, match="'dev'.*train"):
        arith_word.make_tasks("dev", 1)


@pytest.fixture(scope="module")
def math_test() -> list:
    return arith_word.make_tasks("test", 200)


def test_math_splits_are_disjoint_on_problem_identity(math_test):
    train = arith_word.make_tasks("train", 3000)
    # identity = the solution's arithmetic (names and wording excluded), recomputed here
    train_chains = {t.metadata["solution"] for t in train}
    test_chains = {t.metadata["solution"] for t in math_test}
    assert not train_chains & test_chains
    assert not {t.metadata["problem_id"] for t in train} & {t.metadata["problem_id"] for t in math_test}


def test_math_solutions_are_correct_arithmetic(math_test):
    for task in math_test:
        lines = task.metadata["solution"].split("\n")
        for line in lines[:-1]:
            left, right = line.split(" = ")
            assert eval(left.replace("/", "//")) == int(right), (task.id, line)  # our own generated text
        assert arith_word.extract_answer(task.metadata["solution"]) == task.answer
        assert task.prompt.startswith("Question: ") and task.prompt.endswith("\nSolution:\n")


def test_extract_answer():
    assert arith_word.extract_answer("3 + 4 = 7\nAnswer: 07") == "7"
    assert arith_word.extract_answer("Answer:-3 and Answer: 5") == "-3"
    assert arith_word.extract_answer("3 + 4 = 7") is None
