"""The Agent protocol and the helpers every strategy shares.

An agent turns one Task into trajectories using a `generate` callable (prompts, params ->
completions per prompt), and each trajectory into the Candidate a verifier judges. It knows
nothing of Ray: the runner passes a `generate` backed by generator actors, a test passes a
plain generator's method.
"""
from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from pipeline.judging.answers import extract_answer
from pipeline.core.types import Candidate, Completion, ExecutionResult, SamplingParams, Task, Trajectory, Verdict

# generate(prompts, params, logits_processors=None) -> for each prompt, params.n completions.
# Logits processors travel to the generator actor (they must pickle) and run inside its decode loop.
Generate = Callable[..., list[list[Completion]]]


@dataclass
class Tools:
    """What a strategy may call besides text generation; the runner backs each with actors.

    call_generator: a backend method by name on a generator actor (e.g. a diffusion model's
      `sample`), for strategies whose generator is not a text model.
    execute: run a command with files in a sandbox -> ExecutionResult (multi-turn agents).
    verify: the run's verifier, for strategies that search with the verifier in the loop.
    """
    call_generator: Callable[..., Any] | None = None
    execute: Callable[..., ExecutionResult] | None = None
    verify: Callable[[Task, list[Candidate]], list[Verdict]] | None = None


class Agent(Protocol):
    name: str

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        """`params.n` trajectories for `task`, numbered from `start_index`."""
        ...

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate: ...


_AST_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """ast.parse, one thread at a time: CPython 3.11 keeps the AST conversion's recursion depth
    per interpreter, so concurrent parses (agents run in the runner's chunk threads) fail with
    "AST constructor recursion depth mismatch" (gh-106905)."""
    with _AST_LOCK:
        return ast.parse(source)


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


def program_from_chat(task: Task, completion: str) -> str:
    """Code tasks answered in a chat code block. A whole function goes after the prompt (its
    docstring-only stub is valid Python, and the later `def` replaces it, while the prompt's
    imports and helpers stay); a bare body is treated as in raw completion."""
    code = completion.split("```", 1)[0]
    if task.entry_point and re.search(rf"^def {re.escape(task.entry_point)}\s*\(", code, re.MULTILINE):
        return task.metadata.get("program_prefix", task.prompt) + "\n" + code
    return program_from(task, code)


def candidate_content(task: Task, completion: str, chat: bool = False) -> str:
    if task.kind == "code":
        return program_from_chat(task, completion) if chat else program_from(task, completion)
    return extract_answer(completion) or ""


def task_prompt(task: Task, chat: bool = False) -> str | list[dict[str, str]]:
    """The raw prompt, or for chat models the task's chat messages (one user turn by default)."""
    if not chat:
        return task.prompt
    return task.metadata.get("chat") or [{"role": "user", "content": task.prompt}]


def task_params(task: Task, params: SamplingParams, chat: bool = False) -> SamplingParams:
    """The run's sampling params plus the task's own stop sequences (its chat ones in chat)."""
    own = task.metadata["chat_stop"] if chat and "chat_stop" in task.metadata else task.metadata.get("stop", [])
    stop = list(dict.fromkeys([*params.stop, *own]))
    return params.model_copy(update={"stop": stop})
