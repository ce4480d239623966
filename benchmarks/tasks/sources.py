"""The task sources ttc ships, each a loader from a `TasksConfig` to `list[Task]`.

`pipeline.engine.tasks.TASK_SOURCES` names these by import path, so the engine never imports a
benchmark module: a source is loaded only when a config asks for it.
"""
from __future__ import annotations

from pipeline.core.config import ConfigError, TasksConfig
from pipeline.core.types import Task


def synthetic_code(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.synthetic_code import make_tasks

    return make_tasks(cfg.split, n=cfg.limit, seed=cfg.seed)


def arith_word(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.arith_word import make_tasks

    return make_tasks(cfg.split, n=cfg.limit, seed=cfg.seed)


def repo_tasks(cfg: TasksConfig) -> list[Task]:
    from benchmarks.repo_tasks.loader import make_tasks  # built once into ~/.cache/ttc/repo_tasks

    return make_tasks(cfg.split, n=cfg.limit, seed=cfg.seed)


def humaneval(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.humaneval import load_humaneval

    return load_humaneval(limit=cfg.limit)


def mmath(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.mmath import load_mmath

    return load_mmath(subset=cfg.source.partition(":")[2] or None, limit=cfg.limit)


def reasoning_gym(cfg: TasksConfig) -> list[Task]:
    from benchmarks.tasks.reasoning_gym_tasks import load_reasoning_gym

    name = cfg.source.partition(":")[2]
    if not name:
        raise ConfigError("task source 'reasoning_gym' needs a dataset name: reasoning_gym:<name>, "
                          "e.g. reasoning_gym:gsm_symbolic")
    return load_reasoning_gym(name, seed=cfg.seed, limit=cfg.limit)


def mgd(cfg: TasksConfig) -> list[Task]:
    from benchmarks.mgd.tasks import make_tasks  # held-out projects' sdists, fetched once

    return make_tasks(limit=cfg.limit, seed=cfg.seed)


def digits(cfg: TasksConfig) -> list[Task]:
    """Image tasks "digit-0".."digit-9": draw the class; the answer is the class."""
    return [Task(id=f"digit-{d}", kind="image", prompt=str(d), answer=str(d), metadata={"label": d})
            for d in range(10)]
