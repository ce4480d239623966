"""What each verifier (and strategy) needs of a task, checked before a run: None when the task
has it, else one line naming the task and the missing field."""
import json

import pytest

from agents.requirements import check_task as strategy_check
from pipeline.core.types import Task
from pipeline.judging.task_requirements import REQUIREMENTS, check_task
from pipeline.judging.verifiers import VERIFIERS

CODE = Task(id="add", prompt="def add(a, b):\n", entry_point="add", tests="assert add(1, 2) == 3\n",
            metadata={"visible_tests": "assert add(0, 0) == 0\n"})
MATH = Task(id="six", kind="math", prompt="What is 2 * 3?", answer="6")
REPO = Task(id="repo-1", kind="repo", prompt="fix it", files={"pkg/a.py": "x = 1\n"},
            tests=json.dumps({"files": {}, "fail_to_pass": [], "pass_to_pass": []}))


def test_every_listed_verifier_is_registered():
    assert set(REQUIREMENTS) <= set(VERIFIERS)


@pytest.mark.parametrize("verifier, task", [("unit_tests", CODE), ("visible_tests", CODE), ("exact_answer", MATH),
                                            ("identifier_match", MATH), ("digit_classifier", MATH),
                                            ("repo_tests", REPO), ("reward_model", MATH), ("llm_judge", CODE)])
def test_a_task_with_what_its_verifier_needs_passes(verifier, task):
    assert check_task(verifier, task) is None


@pytest.mark.parametrize("verifier, task, fragment", [
    ("unit_tests", CODE.model_copy(update={"tests": None}), "'add' has no tests"),
    ("unit_tests", CODE.model_copy(update={"entry_point": None, "metadata": {"test_format": "humaneval"}}),
     "no entry_point"),
    ("visible_tests", CODE.model_copy(update={"metadata": {}}), "metadata['visible_tests']"),
    ("exact_answer", MATH.model_copy(update={"answer": None}), "'six' has no answer"),
    ("identifier_match", MATH.model_copy(update={"answer": "  "}), "has no answer"),
    ("digit_classifier", MATH.model_copy(update={"answer": "six"}), "digit class"),
    ("repo_tests", REPO.model_copy(update={"tests": "not json"}), "not the JSON"),
    ("repo_tests", REPO.model_copy(update={"tests": json.dumps({"files": {}})}), "lacks"),
    ("repo_tests", REPO.model_copy(update={"files": {}}), "has no files"),
])
def test_a_task_lacking_what_its_verifier_needs_is_named(verifier, task, fragment):
    reason = check_task(verifier, task)
    assert reason is not None and fragment in reason and "\n" not in reason


def test_codemonkeys_needs_a_repository_task():
    assert strategy_check("codemonkeys", REPO) is None
    assert "needs kind 'repo'" in strategy_check("codemonkeys", CODE)
    assert strategy_check("repeated_sampling", CODE) is None
