"""What a strategy needs before it starts: the sandbox, and tasks of a shape it can work on.

Checked by `ttc run` before Ray starts (pipeline/interfaces/preflight.py), so a mismatch fails
in a second instead of as an error on every chunk. A strategy not listed needs neither.
"""
from __future__ import annotations

from typing import Callable

from pipeline.core.types import Task

# strategies that run programs themselves (tools.execute), whatever the verifier
SANDBOX_STRATEGIES = frozenset({"codemonkeys"})


def _repo_task(task: Task) -> str | None:
    if task.kind != "repo" or not task.files:
        return (f"task {task.id!r} is not a repository task (kind {task.kind!r}, {len(task.files)} files); "
                f"the codemonkeys strategy needs kind 'repo' and the repository in Task.files")
    return None


TASK_REQUIREMENTS: dict[str, Callable[[Task], str | None]] = {"codemonkeys": _repo_task}


# strategies that search with the run's verifier in the loop, and the verifiers that can serve
# (prm_search needs a score per step; checked again by the agent itself from a probe verdict)
VERIFIER_REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "prm_search": (("prm",), "set verifier: prm (verifier_options.model_path: models/tiny-math-prm) "
                             "and oracle: exact_answer"),
}


def verifier_problem(strategy: str, verifier: str) -> str | None:
    """Why `strategy` cannot search with `verifier` (one line with the fix), or None."""
    if strategy not in VERIFIER_REQUIREMENTS:
        return None
    takes, fix = VERIFIER_REQUIREMENTS[strategy]
    if verifier in takes:
        return None
    return f"strategy {strategy!r} needs a verifier that scores each step ({', '.join(takes)}), not {verifier!r}: {fix}"


def check_task(strategy: str, task: Task) -> str | None:
    """Why `strategy` cannot work on `task` (one line), or None when it can."""
    requirement = TASK_REQUIREMENTS.get(strategy)
    return requirement(task) if requirement else None
