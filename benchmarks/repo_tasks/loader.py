"""Repository tasks as ttc Tasks: read from the instance cache, built once if it is missing.

    make_tasks("test")              # held-out projects' tasks
    load_instances(seed=0)          # records with the gold patch (tests, reports, training)

Building needs Docker and the sandbox image and takes minutes (see build.py); reading is instant.
"""
from __future__ import annotations

import json

from benchmarks.repo_tasks.projects import SPLITS
from pipeline.core.types import Task


def load_instances(seed: int = 0) -> list[dict]:
    """Instance records {"task": Task, "gold_patch", "module", "line"} of build seed `seed`."""
    from benchmarks.repo_tasks.build import build, cache_path

    path = cache_path(seed)
    if path.is_file():
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        records = build(seed)
    return [{**r, "task": Task.model_validate(r["task"])} for r in records]


def make_tasks(split: str, n: int | None = None, seed: int = 0) -> list[Task]:
    """The tasks of one split, projects interleaved (so the first n cover several projects)."""
    if split not in SPLITS:
        raise ValueError(f"repo_tasks split must be one of {SPLITS}, got {split!r}")
    tasks = [r["task"] for r in load_instances(seed) if r["task"].metadata["split"] == split]
    tasks.sort(key=lambda t: (int(t.id.rsplit("-", 1)[1]), t.metadata["project"]))
    return tasks[:n] if n else tasks
