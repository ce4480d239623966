"""Monitor-guided decoding (monitors4codegen): static analysis constrains identifiers while the model decodes.

At a dereference (`obj.`) or inside `from module import ...`, a monitor asks Jedi, over the
task's repository and the file's text so far, which names are valid there; a logits processor
(agents/mgd/processor.py) masks every token that cannot continue one of them, across
multi-token identifiers (agents/mgd/trie.py). It runs inside the `hf` generator's decode loop,
so it works with n-sampling: each of the n rows is constrained on its own text.

Task fields it reads (metadata):
  repo_root   folder of the repository the file belongs to (what Jedi analyses), or
  repo_files  {relative path: text}, written to a cache folder where the generator runs;
              without either, the task's own `files` are the repository (how an HTTP
              request sends it: `ttc serve` refuses server paths);
  file_path   the file's path inside the repository (relative imports resolve from it);
  file_prefix the file's whole text before the completion point; the prompt may be its tail
              (a small model's context window), the monitor always sees all of it.
Candidate: for text tasks the identifier written at the completion point (what
`identifier_match` judges); for code tasks the prompt + completion program as usual.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Literal

from agents.base import Generate, Tools, candidate_content, task_params
from agents.mgd.processor import MonitorProcessor
from agents.options import PROCESSOR_BACKENDS, TEXT_BACKENDS, StrategyOptions, option
from pipeline.core.types import Candidate, SamplingParams, Task, Trajectory

_LEADING_IDENTIFIER = re.compile(r"[^\W\d]\w*")


def leading_identifier(text: str) -> str:
    match = _LEADING_IDENTIFIER.match(text)
    return match.group() if match else ""


def absolute_model_path(name_or_path: str) -> str:
    """An absolute folder, so the processor finds it from the generator actor's working directory."""
    from pipeline.core.model_zoo import resolve_model_path

    path = Path(resolve_model_path(name_or_path))  # names and repository paths, from any directory
    return str(path.resolve()) if path.exists() else str(path)


class MonitorGuidedOptions(StrategyOptions):
    task_kinds = ("code", "text")
    backends = PROCESSOR_BACKENDS  # the monitor is a logits processor in the decode loop

    tokenizer_path: str | None = option(None, "the generator model's folder (default: the run's model)",
                                        server_path=True)
    monitor: bool = option(True, "False decodes without constraint (the baseline)")
    triggers: list[Literal["dereference", "from_import"]] = option(
        ["dereference", "from_import"], "where the monitor constrains identifiers", min_length=1)

    def needed_backends(self) -> tuple[str, ...]:
        return self.backends if self.monitor else TEXT_BACKENDS

    def task_problem(self, task: Task) -> str | None:
        return repository_problem(task) if self.monitor else None


def repository_problem(task: Task) -> str | None:
    """Why the monitor has nothing to analyse for `task`, or None."""
    meta = task.metadata
    if not (meta.get("repo_root") or meta.get("repo_files") or task.files):
        return ("monitor_guided needs the repository: task.files ({path: text}), metadata['repo_files'] "
                "or metadata['repo_root'] (a folder)")
    if not (meta.get("file_prefix") or task.prompt).endswith(task.prompt):
        return "monitor_guided needs metadata['file_prefix'] to end with the prompt"
    return None


class MonitorGuided:
    name = "monitor_guided"
    Options = MonitorGuidedOptions

    def __init__(self, tokenizer_path: str | None = None, monitor: bool = True,
                 triggers: list[str] | tuple[str, ...] = ("dereference", "from_import"),
                 model_path: str | None = None):
        """tokenizer_path: the generator model's folder (the processor needs its tokenizer);
        by default the run's model (`model_path`, filled in by the runner), else tiny-py.
        monitor: False decodes without constraint (the baseline, same prompts and seeds)."""
        self.tokenizer_path = absolute_model_path(tokenizer_path or model_path or "models/tiny-py")
        self.monitor, self.triggers = monitor, tuple(triggers)

    def processor(self, task: Task) -> MonitorProcessor:
        if problem := repository_problem(task):
            raise ValueError(f"task {task.id!r}: {problem}")
        meta = task.metadata
        repo_files = meta.get("repo_files") or (None if meta.get("repo_root") else task.files)
        return MonitorProcessor(self.tokenizer_path, task.prompt, meta.get("file_prefix") or task.prompt,
                                meta.get("repo_root"), meta.get("file_path"), self.triggers, repo_files=repo_files)

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        started = time.perf_counter()
        processors = [self.processor(task)] if self.monitor else None
        completions = generate([task.prompt], task_params(task, params), logits_processors=processors)[0]
        seconds = (time.perf_counter() - started) / max(len(completions), 1)
        return [Trajectory(task_id=task.id, sample_index=start_index + i, completion=c, seed=params.seed,
                           generation_s=seconds, steps=[{"monitor": self.monitor}])
                for i, c in enumerate(completions)]

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        text = trajectory.completion.text
        content = leading_identifier(text) if task.kind == "text" else candidate_content(task, text)
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index, content=content)
