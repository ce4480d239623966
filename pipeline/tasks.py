"""Task sources: a registry from a name to a loader returning `list[Task]`.

User task files are JSONL, one Task per line; a malformed line fails naming the file, the
line number, the field and what is allowed.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from pipeline.config import ConfigError, TasksConfig, format_validation_error
from pipeline.registry import lookup
from pipeline.types import Task

TaskLoader = Callable[[TasksConfig], list[Task]]


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


def _jsonl(cfg: TasksConfig) -> list[Task]:
    return read_task_file(cfg.path or "")


def _from_module(module: str) -> TaskLoader:
    def load(cfg: TasksConfig) -> list[Task]:
        return importlib.import_module(module).make_tasks(cfg.split, n=cfg.limit, seed=cfg.seed)

    return load


def _humaneval(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.humaneval import load_humaneval

    return load_humaneval(limit=cfg.limit)


def _mmath(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.mmath import load_mmath

    return load_mmath(subset=cfg.source.partition(":")[2] or None, limit=cfg.limit)


def _reasoning_gym(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.reasoning_gym_tasks import load_reasoning_gym

    name = cfg.source.partition(":")[2]
    if not name:
        raise ConfigError("task source 'reasoning_gym' needs a dataset name: reasoning_gym:<name>, "
                          "e.g. reasoning_gym:gsm_symbolic")
    return load_reasoning_gym(name, seed=cfg.seed, limit=cfg.limit)


def _mgd(cfg: TasksConfig) -> list[Task]:
    from benchmarks.mgd.tasks import make_tasks  # held-out projects' sdists, fetched once

    return make_tasks(limit=cfg.limit, seed=cfg.seed)


def _digits(cfg: TasksConfig) -> list[Task]:
    """Image tasks "digit-0".."digit-9": draw the class; the answer is the class."""
    return [Task(id=f"digit-{d}", kind="image", prompt=str(d), answer=str(d), metadata={"label": d})
            for d in range(10)]


TASK_SOURCES: dict[str, TaskLoader] = {
    "jsonl": _jsonl,
    "synthetic_code": _from_module("benchmarks.tasks.synthetic_code"),
    "arith_word": _from_module("benchmarks.tasks.arith_word"),
    "humaneval": _humaneval,
    "mmath": _mmath,
    "reasoning_gym": _reasoning_gym,
    "mgd": _mgd,
    "digits": _digits,
    "repo_tasks": _from_module("benchmarks.repo_tasks.loader"),  # built once into ~/.cache/ttc/repo_tasks
}
TAKES_ARGUMENT = ("mmath", "reasoning_gym")  # `mmath:aime2024`, `reasoning_gym:gsm_symbolic`


def load_tasks(cfg: TasksConfig) -> list[Task]:
    base, colon, _ = cfg.source.partition(":")
    if colon and base not in TAKES_ARGUMENT:
        raise ConfigError(f"task source {cfg.source!r}: only {', '.join(TAKES_ARGUMENT)} take a ':argument'")
    tasks = lookup(TASK_SOURCES, base, "task source")(cfg)
    return tasks[: cfg.limit] if cfg.limit else tasks
