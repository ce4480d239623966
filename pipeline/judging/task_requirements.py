"""What each verifier needs of a task, checked before any work starts.

`ttc run` checks every task of a task file against its verifier (and oracle) before Ray starts,
so a task lacking tests fails in a second naming the task, instead of as an error verdict on
every one of its samples. The SDK and the HTTP endpoint can call the same `check_task`.

The checks are the verifiers' own validators (they raise ValueError saying what is missing),
so the verdict and the early check can never disagree about a task.
"""
from __future__ import annotations

import json
from typing import Callable

from pipeline.core.types import Task
from pipeline.judging.image_verifiers import task_label
from pipeline.judging.repo_verifier import hidden_tests
from pipeline.judging.unit_tests import test_spec

Requirement = Callable[[Task], object]  # raises ValueError naming what the task lacks


def _answer_for(verifier: str) -> Requirement:
    def needs_answer(task: Task) -> None:
        if task.answer is None or not task.answer.strip():
            raise ValueError(f"task {task.id!r} has no answer; the {verifier} verifier needs Task.answer")
    return needs_answer


def _repository(task: Task) -> None:
    try:
        hidden_tests(task)  # Task.tests: JSON with files, fail_to_pass, pass_to_pass
    except json.JSONDecodeError as exc:
        raise ValueError(f"task {task.id!r}: Task.tests is not the JSON the repo_tests verifier reads "
                         f"({exc.msg}); it holds files, fail_to_pass and pass_to_pass") from None
    if not task.files:
        raise ValueError(f"task {task.id!r} has no files; the repo_tests verifier needs the repository in Task.files")


# verifier name -> what it needs; verifiers not listed (reward_model, llm_judge, ones registered
# at run time) judge any task with a prompt
REQUIREMENTS: dict[str, Requirement] = {
    "unit_tests": test_spec,  # Task.tests, and entry_point for test_format humaneval
    "visible_tests": lambda task: test_spec(task, visible_only=True),  # metadata["visible_tests"]
    "exact_answer": _answer_for("exact_answer"),
    "identifier_match": _answer_for("identifier_match"),
    "digit_classifier": task_label,  # answer (or metadata label) '0'..'9'
    "digit_classifier_heldout": task_label,
    "repo_tests": _repository,
}


def check_task(verifier: str, task: Task) -> str | None:
    """Why `verifier` cannot judge `task` (one line), or None when it can."""
    requirement = REQUIREMENTS.get(verifier)
    if requirement is None:
        return None
    try:
        requirement(task)
    except ValueError as exc:
        return str(exc).splitlines()[0]
    return None
