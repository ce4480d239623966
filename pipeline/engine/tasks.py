"""Task sources: a registry from a name to the import path of a loader returning `list[Task]`.

User task files are JSONL, one Task per line; a malformed line fails naming the file, the
line number, the field and what is allowed.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from pydantic import ValidationError

from pipeline.core.config import ConfigError, TasksConfig, format_validation_error
from pipeline.core.registry import lookup
from pipeline.core.types import Task

def parse_task_line(line: str, where: str) -> Task:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a task must be a JSON object, got {type(data).__name__}")
    try:
        return Task.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{where}: invalid task: {format_validation_error(err)}") from None


def read_task_file(path: str | Path) -> list[Task]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"task file {str(path)!r} does not exist")
    tasks, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        task = parse_task_line(line, f"{path}:{number}")
        if task.id in seen:
            raise ConfigError(f"{path}:{number}: duplicate task id {task.id!r}")
        seen.add(task.id)
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"task file {str(path)!r} holds no tasks")
    return tasks


def load_jsonl(cfg: TasksConfig) -> list[Task]:
    return read_task_file(cfg.path or "")


# name -> "module:loader"; a loader takes the TasksConfig. Imported only when a config names it,
# so the engine depends on no benchmark module.
TASK_SOURCES: dict[str, str] = {
    "jsonl": "pipeline.engine.tasks:load_jsonl",
    **{name: f"benchmarks.tasks.sources:{name}" for name in (
        "synthetic_code", "arith_word", "humaneval", "mmath", "reasoning_gym", "mgd", "digits", "repo_tasks")},
}
TAKES_ARGUMENT = ("mmath", "reasoning_gym")  # `mmath:aime2024`, `reasoning_gym:gsm_symbolic`


def load_tasks(cfg: TasksConfig) -> list[Task]:
    base, colon, _ = cfg.source.partition(":")
    if colon and base not in TAKES_ARGUMENT:
        raise ConfigError(f"task source {cfg.source!r}: only {', '.join(TAKES_ARGUMENT)} take a ':argument'")
    module_name, attr = lookup(TASK_SOURCES, base, "task source").split(":")
    tasks = getattr(importlib.import_module(module_name), attr)(cfg)
    return tasks[: cfg.limit] if cfg.limit else tasks
