"""Orchestrator shards: the buffered store hands each record over once, budgets split to their
totals, and on a three-node `ray.cluster_utils.Cluster` a sharded run places one shard per
node, writes every sample exactly once, samples what the driver alone would, and resumes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.core.config import build_config, load_config
from pipeline.engine.shards import BufferedStore, shard_config, split
from pipeline.engine.store import RunStore
from tests.interfaces.conftest import DEMO, ROOT, small_run


def test_the_buffered_store_hands_each_record_over_once(tmp_path):
    store = BufferedStore("/nowhere", {"samples": [{"key": "t/0", "task_id": "t"}]})
    assert store.has("samples", "t/0") and not store.append("samples", "t/0", {"task_id": "t"})  # seeded
    assert store.append("samples", "t/1", {"task_id": "t"}) and not store.append("samples", "t/1", {})
    taken = store.take()
    assert list(taken) == ["samples"] and [key for key, _ in taken["samples"]] == ["t/1"]
    assert store.take() == {}  # taken once
    written = RunStore(tmp_path)
    assert written.append_lines("samples", taken["samples"] * 2) == 1  # a line twice is written once
    assert written.append_lines("samples", taken["samples"]) == 0
    assert written.read("samples") == [{"key": "t/1", "task_id": "t"}]
    assert [r["key"] for r in store.read("samples")] == ["t/0", "t/1"]  # the engine still sees both


def test_tasks_split_round_robin_and_budgets_split_to_their_totals():
    assert split(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]
    config = build_config({"budget": {"max_samples_total": 10, "max_tokens_total": 7}})
    parts = [shard_config(config, part, 3).budget for part in range(3)]
    assert [b.max_samples_total for b in parts] == [4, 3, 3]
    assert sum(b.max_tokens_total for b in parts) == 7
    assert shard_config(build_config({}), 0, 3).budget == build_config({}).budget  # no budget, nothing to split


def sample_lines(run_dir: Path) -> list[dict]:
    """samples.jsonl as written, every line (the store's reader would hide a duplicate)."""
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line]


def contents(run_dir: Path) -> dict[str, str]:
    return {s["key"]: s["content"] for s in sample_lines(run_dir)}


def chunk_keys(run_dir: Path) -> set[str]:
    path = run_dir / "chunks.jsonl"
    return {json.loads(line)["key"] for line in path.read_text().splitlines() if line} if path.exists() else set()


def kill_half_way(run_dir: Path, chunk_size: int) -> set[str]:
    """Leave run_dir as a run killed half-way leaves it: the first half of the samples, no
    chunk records, selections or summary. Returns the chunks a resume must redo."""
    lines = (run_dir / "samples.jsonl").read_text().splitlines(keepends=True)
    kept, lost = lines[:len(lines) // 2], [json.loads(line) for line in lines[len(lines) // 2:]]
    (run_dir / "samples.jsonl").write_text("".join(kept))
    for name in ("chunks.jsonl", "selections.jsonl", "tasks.jsonl", "summary.json"):
        (run_dir / name).unlink(missing_ok=True)
    return {f"{s['task_id']}/{s['sample_index'] // chunk_size * chunk_size}" for s in lost}


@pytest.mark.docker
def test_sharded_runs_spread_write_once_match_the_driver_and_resume(ray_cluster, sandbox_image, tmp_path):
    from pipeline.engine.runner import run

    model = str(ROOT / "models" / "tiny-coder")
    settings = {"tasks.limit": 6, "sampling.n": 8, "runner.chunk_size": 4}
    sharded_config = load_config(DEMO, small_run(model, tmp_path / "sharded", name="sharded", **settings))
    assert sharded_config.runner.shards is None  # the default: one shard per alive node
    sharded = run(sharded_config, ray_address=ray_cluster.address)
    plain = run(load_config(DEMO, small_run(model, tmp_path / "plain", name="plain", **settings,
                                            **{"runner.shards": 0})), ray_address=ray_cluster.address)

    time = sharded.summary["time"]
    assert time["shards"] == 3 and time["shard_nodes"] == 3  # one per node of the cluster
    assert plain.summary["time"]["shards"] == 0
    sharded_dir, plain_dir = Path(sharded.run_dir), Path(plain.run_dir)
    keys = [s["key"] for s in sample_lines(sharded_dir)]
    assert len(keys) == len(set(keys)) == 6 * 8  # every sample, each written once
    assert contents(sharded_dir) == contents(plain_dir)  # seeds follow the task, not the shard
    assert sharded.summary["pass_at_k"] == plain.summary["pass_at_k"]
    assert sharded.summary["selectors"] == plain.summary["selectors"]
    assert sharded.summary["errors"] == 0

    redo = kill_half_way(sharded_dir, chunk_size=4)
    resumed = run(sharded_config, resume_dir=str(sharded_dir), ray_address=ray_cluster.address)
    keys = [s["key"] for s in sample_lines(sharded_dir)]
    assert len(keys) == len(set(keys)) == 6 * 8
    assert contents(sharded_dir) == contents(plain_dir)
    assert chunk_keys(sharded_dir) == redo  # only the chunks with a lost sample ran again
    assert resumed.summary["selectors"] == plain.summary["selectors"]
