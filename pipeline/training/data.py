"""Training data from a run directory, and the split guard that keeps the coverage curve honest.

A run directory holds `config.yaml` (its tasks section names the task set and split) and
`samples.jsonl` (each sample's completion and verdict `passed`). The trainer learns only from
train-split tasks, and refuses any whose problem identity is in the test split: the identity is
the task set's own (arith_word's problem id, synthetic_code's program behaviour), not the task
id, so a test problem retold with other names still counts as a test problem.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.config import ConfigError, TasksConfig, read_yaml
from pipeline.core.types import Task
from pipeline.engine.tasks import load_tasks

IDENTITY_KEYS = ("problem_id", "program_id")


@dataclass(frozen=True)
class Example:
    """One verified trajectory: the prompt and the completion text the verifier passed."""

    task_id: str
    prompt: str
    completion: str


def problem_identity(task: Task) -> str:
    """The task set's identity of the problem (what its train/test split is made on); a hash of
    the prompt for task sets that declare none."""
    for key in IDENTITY_KEYS:
        if key in task.metadata:
            return f"{key}:{task.metadata[key]}"
    return "prompt:" + hashlib.sha256(task.prompt.encode()).hexdigest()[:16]


def overlapping(train: list[Task], evaluated: list[Task]) -> list[str]:
    """Problem identities present in both lists, sorted."""
    return sorted({problem_identity(t) for t in train} & {problem_identity(t) for t in evaluated})


def check_disjoint(train: list[Task], evaluated: list[Task]) -> None:
    shared = overlapping(train, evaluated)
    if shared:
        raise ConfigError(f"{len(shared)} training problem(s) are also evaluated (by problem identity), "
                          f"e.g. {shared[:3]}; train on the train split only")


def test_split_of(tasks: TasksConfig) -> list[Task]:
    """Every task of the same task set's test split (its default size)."""
    return load_tasks(tasks.model_copy(update={"split": "test", "limit": None}))


def run_tasks(run_dir: Path) -> TasksConfig:
    config = read_yaml(run_dir / "config.yaml")
    try:
        return TasksConfig.model_validate(config.get("tasks", {}))
    except ValueError as exc:
        raise ConfigError(f"{run_dir}/config.yaml: invalid tasks section: {exc}") from None


def train_tasks_of(tasks: TasksConfig, where: str) -> list[Task]:
    """The tasks, after checking they are train split and share no problem with the test split."""
    if tasks.split != "train":
        raise ConfigError(f"{where}: tasks.split is {tasks.split!r}; training data must come from the train split")
    loaded = load_tasks(tasks)
    check_disjoint(loaded, test_split_of(tasks))
    return loaded


def verified_examples(run_dir: str | Path, max_examples: int | None = None) -> list[Example]:
    """The passing samples of a run over train-split tasks, ordered by (task, sample index): the
    engine appends samples as chunks finish, in an order that varies between runs of one seed."""
    run_dir = Path(run_dir)
    samples = run_dir / "samples.jsonl"
    if not samples.is_file():
        raise ConfigError(f"data.run_dir {str(run_dir)!r} has no samples.jsonl (is it a `ttc run` directory?)")
    tasks = {t.id: t for t in train_tasks_of(run_tasks(run_dir), f"data.run_dir {str(run_dir)!r}")}
    passing = [s for s in map(json.loads, samples.read_text().splitlines())
               if s.get("passed") is True and s["task_id"] in tasks]
    examples = [Example(s["task_id"], tasks[s["task_id"]].prompt, s["trajectory"]["completion"]["text"])
                for s in sorted(passing, key=lambda s: (s["task_id"], s["sample_index"]))]
    if not examples:
        raise ConfigError(f"data.run_dir {str(run_dir)!r} holds no passing samples of its tasks to learn from")
    return examples[:max_examples] if max_examples else examples
