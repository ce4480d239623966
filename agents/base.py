"""The Agent protocol and the helpers every strategy shares.

An agent turns one Task into trajectories using a `generate` callable (prompts, params ->
completions per prompt), and each trajectory into the Candidate a verifier judges. It knows
nothing of Ray: the runner passes a `generate` backed by generator actors, a test passes a
plain generator's method.
"""
from __future__ import annotations

from typing import Callable, Protocol

from pipeline.answers import extract_answer
from pipeline.types import Candidate, Completion, SamplingParams, Task, Trajectory

Generate = Callable[[list[str], SamplingParams], list[list[Completion]]]


class Agent(Protocol):
    name: str

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0) -> list[Trajectory]:
        """`params.n` trajectories for `task`, numbered from `start_index`."""
        ...

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate: ...


def function_body(completion: str) -> str:
    """The completion up to the first non-indented, non-empty line: where a function ends."""
    kept = []
    for line in completion.splitlines(keepends=True):
        if kept and line.strip() and not line[0].isspace():
            break
        kept.append(line)
    return "".join(kept)


def program_from(task: Task, completion: str) -> str:
    """Code tasks: the prompt (ending with the `def` line) + the function body written after it."""
    prefix = task.metadata.get("program_prefix", task.prompt)
    return prefix + function_body(completion)


def candidate_content(task: Task, completion: str) -> str:
    if task.kind == "code":
        return program_from(task, completion)
    return extract_answer(completion) or ""


def task_params(task: Task, params: SamplingParams) -> SamplingParams:
    """The run's sampling params plus the task's own stop sequences."""
    stop = list(dict.fromkeys([*params.stop, *task.metadata.get("stop", [])]))
    return params.model_copy(update={"stop": stop})
