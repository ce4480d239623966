"""The coverage curve stays honest: what trains is never what is evaluated, by problem identity."""
from __future__ import annotations

import pytest

from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.config import ConfigError, TasksConfig
from pipeline.training.config import build_train_config
from pipeline.training.data import overlapping, train_tasks_of, verified_examples
from tests.training.run_dirs import write_run_dir


def test_train_and_test_splits_share_no_problem():
    train = train_tasks_of(TasksConfig(source="arith_word", split="train", limit=2000), "rl.tasks")
    assert overlapping(train, make_tasks("test")) == []
    code = train_tasks_of(TasksConfig(source="synthetic_code", split="train", limit=300), "rl.tasks")
    assert code and all(t.metadata["split"] == "train" for t in code)


def test_overlap_is_found_by_identity_not_id():
    test = make_tasks("test", 5)
    retold = [t.model_copy(update={"id": "math-train-renamed", "prompt": t.prompt.replace("has", "owns")})
              for t in test[:1]]
    assert overlapping(retold, test) == [f"problem_id:{test[0].metadata['problem_id']}"]


def test_a_test_split_run_is_refused_as_training_data(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", split="test")
    with pytest.raises(ConfigError, match="train split"):
        verified_examples(run_dir)
    with pytest.raises(ValueError, match="train split"):
        build_train_config({"method": "rl_verifier", "rl": {"tasks": {"source": "arith_word", "split": "test"}}})


def test_only_passing_samples_of_train_tasks_are_data(tmp_path):
    examples = verified_examples(write_run_dir(tmp_path / "run", tasks=6))
    assert len(examples) == 6 and all(e.task_id.startswith("math-train-") for e in examples)
    assert all("Answer:" in e.completion and not e.completion.startswith("1 + 1") for e in examples)


def test_shipped_train_configs_validate():
    from pathlib import Path

    from pipeline.training.config import load_train_config

    paths = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))
    assert paths
    for path in paths:
        load_train_config(path, ["data.run_dir=runs/x"])
