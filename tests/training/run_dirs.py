"""A run directory as `ttc run` writes it (config.yaml + samples.jsonl), made from the task
set's reference solutions (passed) and a wrong answer (failed), for training tests."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from benchmarks.tasks.arith_word import make_tasks, reference_completion


def sample_line(task_id: str, index: int, text: str, passed: bool) -> str:
    completion = {"text": text, "token_ids": [], "finish_reason": "eos"}
    return json.dumps({"key": f"{task_id}/{index}", "task_id": task_id, "sample_index": index, "passed": passed,
                       "trajectory": {"task_id": task_id, "sample_index": index, "completion": completion}})


def write_run_dir(folder: Path, split: str = "train", tasks: int = 8) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    section = {"source": "arith_word", "split": split, "limit": tasks, "seed": 0}
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": "data", "tasks": section}))
    lines = []
    for task in make_tasks(split, tasks, seed=0):
        lines.append(sample_line(task.id, 0, reference_completion(task), True))
        lines.append(sample_line(task.id, 1, f"1 + 1 = 2\nAnswer: {int(task.answer) + 1}", False))
    (folder / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return folder
