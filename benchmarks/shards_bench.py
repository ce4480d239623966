"""Samples/s against orchestrator shards, with generation made free, and what each costs.

The real pipeline (`pipeline.engine.runner.run`) runs arith_word text tasks judged by
`exact_answer` (no sandbox: the orchestration is all that is left) with completions from a
loopback OpenAI-compatible server in a process of its own (benchmarks/free_model.py), so the
driver's CPU is the driver's. Three of four samples are the task's worked solution, the
fourth a wrong answer. One JSON line per `runner.shards` value (0: the driver drives every task
itself):

- `samples_per_s` over the run's wall; `steady_per_s` from the first chunk submitted to the
  last one stored;
- `driver_cpu_s` (this process, start-up and summary included) and `shard_cpu_s` (each shard
  actor's process), also per thousand samples, and `driver_collect_ms_per_1k`: the driver's CPU
  while the shards ran (writing what they send) per thousand samples: the costs a capacity plan
  scales by;
- `cpu`: CPU seconds by process during the run (generator actors, shards, Ray's daemons),
  sampled from /proc by a watcher process (benchmarks/pipeline_bench.py's).

On a 2-core machine every process shares the same two cores, so more shards cannot run faster
here; the per-shard CPU cost is the number that carries over to a cluster.

    python -m benchmarks.shards_bench [--tasks 64] [--n 256] [--shards 0,1,2,4] [--generators 2]
                                      [--out benchmarks/results/shards_bench.jsonl]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.free_model import start_in_process
from benchmarks.pipeline_bench import CpuWatcher, chunk_span, emit, read_jsonl
from pipeline.core.config import RunConfig, build_config
from pipeline.core.types import Task


def worked_answer(task: Task, seed: int, index: int) -> str:
    """The task's own solution, or (every fourth sample) a wrong final answer."""
    if (seed + index) % 4 == 3:
        return f"{task.metadata['solution'].rsplit('Answer:', 1)[0]}Answer: {int(task.answer) + 1}"
    return task.metadata["solution"]


def bench_config(args, shards: int, base_url: str, out_dir: str) -> RunConfig:
    return build_config({
        "name": f"shards-bench-{shards}",
        "tasks": {"source": "arith_word", "split": "test", "limit": args.tasks},
        "model": {"backend": "openai_compat", "path": "free-model", "base_url": base_url,
                  "max_batch_size": args.chunk_size},
        "sampling": {"n": args.n, "temperature": 0.8, "max_new_tokens": 64},
        "verifier": "exact_answer", "selectors": ["majority_vote", "first_passing"],
        "selector_options": {"majority_vote": {"only_passed": False}},
        "runner": {"shards": shards, "generator_actors": args.generators, "chunk_size": args.chunk_size,
                   "max_in_flight": args.max_in_flight, "output_dir": out_dir},
    }, source="shards_bench")


def measure(args, shards: int, base_url: str, out_dir: str) -> dict:
    from pipeline.engine.runner import run

    load_before = os.getloadavg()[0]
    with CpuWatcher() as watcher:
        t0, cpu0 = time.time(), time.process_time()
        result = run(bench_config(args, shards, base_url, out_dir))
        wall_s, driver_cpu_s = time.time() - t0, time.process_time() - cpu0
    first, last = chunk_span(read_jsonl(Path(result.run_dir) / "chunks.jsonl"))
    summary, per_k = result.summary, 1000 / max(1, result.summary["samples"])
    shard_cpu = summary["time"].get("shard_cpu_s", [])
    return {
        "shards": shards, "shard_nodes": summary["time"].get("shard_nodes", 0), "generator_actors": args.generators,
        "tasks": args.tasks, "n": args.n, "samples": summary["samples"], "errors": summary["errors"],
        "wall_s": round(wall_s, 2), "work_s": round(last - first, 2),
        "samples_per_s": round(summary["samples"] / wall_s, 1),
        "steady_per_s": round(summary["samples"] / (last - first), 1),
        "driver_cpu_s": round(driver_cpu_s, 2), "driver_cpu_ms_per_1k": round(driver_cpu_s * per_k * 1000, 1),
        "shard_cpu_s": shard_cpu, "shard_cpu_ms_per_1k": round(sum(shard_cpu) * per_k * 1000, 1),
        # the driver's CPU while shards ran: what it costs per sample to write what they send
        "driver_collect_ms_per_1k": (round(summary["time"]["driver_collect_cpu_s"] * per_k * 1000, 1)
                                     if shards else None),
        "accuracy": {name: r.get("accuracy") for name, r in summary["selectors"].items()},
        "cpu": watcher.totals, "cores": os.cpu_count(), "load_1min_before": round(load_before, 2),
        "date": date.today().isoformat(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--shards", default="0,1,2,4")
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=32)
    parser.add_argument("--max-in-flight", type=int, default=512)
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")  # a loaded 2-core machine starts Ray slowly
    from pipeline.engine.runner import init_ray
    from pipeline.engine.tasks import load_tasks

    tasks = load_tasks(bench_config(args, 0, "http://unused/v1", ".").tasks)
    server, port = start_in_process(tasks, worked_answer)  # forks: before Ray starts
    try:
        init_ray(None)  # Ray up before the runs, as on a cluster: not in their wall
        with tempfile.TemporaryDirectory(prefix="shards-bench-") as out_dir:
            for shards in (int(s) for s in args.shards.split(",")):
                emit(measure(args, shards, f"http://127.0.0.1:{port}/v1", out_dir), args.out)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
