"""The pipeline's throughput with generation made free, against the raw sandbox pool.

The real pipeline (`pipeline.engine.runner.run`: Ray actors, the Docker sandbox, the unit-test
verifier with its harness and candidate processes, the run store, selection and canaries) runs
synthetic_code test tasks whose completions come from a loopback OpenAI-compatible server that
this script starts and stops itself. The server answers at once with a distinct program per
sample: the task's reference solution with a dead assignment naming the sample, every fourth
one replaced by a wrong constant return (three behaviours), so every candidate is judged and
`majority_vote` has groups to count.

In the same process the raw pool then judges the same distinct programs: `UnitTestVerifier`
over a `SandboxPool` of the same size, chunk by chunk with as many chunks in flight as the run
had (`max_in_flight // chunk_size`), each with the verifier's default parallelism. One JSON
line per selector:

- `end_to_end_per_s`: distinct sample programs judged / the run's whole wall (actor and
  container start-up, canaries, selection and the summary included); `steady_per_s` over the
  span from the first chunk submitted to the last chunk stored;
- `raw_pool_per_s` the same programs through the bare pool (warm, start-up excluded), and
  `raw_pool_host_cpu_s` the CPU its threads spent in this process;
  `ratio` and `ratio_steady` the two quotients;
- `time`: summary.json's time split (with the containers' busy fraction and driver CPU);
- `driver_cpu_s`, `driver_cpu_share`: this process's CPU over the run's wall (the model
  server's thread is in it too; it answers a request per chunk);
- `cpu`: CPU seconds by process during the run, sampled from /proc by a watcher process:
  this driver's Ray (actors by name, its daemons), Docker's daemons, the machine's busy CPU
  seconds and all containers' CPU (cgroup v1); the last three include other users' work on a
  shared machine.

    python -m benchmarks.pipeline_bench [--tasks 24] [--n 128] [--selectors first_passing,majority_vote]
                                        [--pool-size 2] [--chunk-size 16] [--max-in-flight 192] [--shards 0]
                                        [--out benchmarks/results/pipeline_bench.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

from benchmarks.free_model import start_model_server
from benchmarks.sandbox_bench import CONTAINERS_CPUACCT, DOCKER_DAEMONS
from benchmarks.tasks.synthetic_code import reference_completion
from pipeline.core.config import RunConfig, build_config
from pipeline.core.types import Candidate, Limits, Task
from pipeline.judging.unit_tests import UnitTestVerifier

LIMITS = {"timeout_s": 5, "memory_mb": 256, "pids": 64}  # configs/demo.yaml's
VOTES = {"majority_vote", "weighted_vote"}
WATCH_INTERVAL_S = 0.5


# --- the free model ---------------------------------------------------------------------------

def sample_program(task: Task, seed: int, index: int) -> str:
    """The completion for sample `index` of a request seeded `seed`: the reference body with a
    dead assignment that makes its text distinct, or (every fourth) a wrong constant."""
    tag = f"    _sample = {seed * 1000 + index}\n"
    if index % 4 == 3:
        return tag + f"    return {(seed + index) % 3}\n"
    return tag + reference_completion(task)


# --- CPU by process, from a watcher process (so its reads are not the driver's CPU) -------------

def process_cpu(driver: int) -> dict[tuple[int, str], tuple[str, float]]:
    """(pid, start time) -> (category, CPU seconds) of the processes worth naming: Docker's
    daemons (shared by everyone here), and the driver's own Ray (its descendants: other users'
    Ray clusters on this machine run processes of the same names)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = open(f"/proc/{entry.name}/stat").read()
        except OSError:
            continue
        comm, fields = raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()
        stats[int(entry.name)] = (comm, int(fields[1]), fields[19], (int(fields[11]) + int(fields[12])) / tick)
    found = {}
    for pid, (comm, _, started, seconds) in stats.items():
        if pid in (driver, os.getpid()):  # the driver measures itself; the watcher is not the pipeline
            continue
        category = cpu_category(comm, descends_from(pid, driver, stats))
        if category:
            found[(pid, started)] = (category, seconds)
    return found


def descends_from(pid: int, ancestor: int, stats: dict) -> bool:
    while pid > 1 and pid in stats:
        if pid == ancestor:
            return True
        pid = stats[pid][1]
    return False


def cpu_category(comm: str, ours: bool) -> str | None:
    if comm in DOCKER_DAEMONS or comm.startswith("containerd-shim"):
        return "docker_daemons_all"
    if not ours:
        return None
    if comm.startswith("ray::"):
        return comm  # the actor's class, cut to 15 characters by the kernel
    if comm in ("raylet", "gcs_server") or comm.startswith(("ray_", "dashboard", "python")):
        return "ray_daemons"
    return None


def machine_cpu() -> dict[str, float]:
    """Busy CPU seconds of the whole machine and of all its containers so far."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    snap = {"machine_busy_s": (sum(fields) - fields[3] - fields[4]) / tick}  # minus idle, iowait
    if os.path.exists(CONTAINERS_CPUACCT):
        snap["all_containers_s"] = int(open(CONTAINERS_CPUACCT).read()) / 1e9
    return snap


def watch_cpu() -> None:
    """Sample until stdin closes, then print CPU seconds per category used meanwhile (processes
    seen at the start count from there; one that lived under an interval is missed)."""
    driver = os.getppid()
    start, machine = process_cpu(driver), machine_cpu()
    latest = dict(start)
    while not select.select([sys.stdin], [], [], WATCH_INTERVAL_S)[0]:
        latest.update(process_cpu(driver))
    latest.update(process_cpu(driver))
    totals: dict[str, float] = {}
    for key, (category, seconds) in latest.items():
        totals[category] = totals.get(category, 0.0) + seconds - start.get(key, (category, 0.0))[1]
    now = machine_cpu()
    totals.update({k: now[k] - machine[k] for k in now})
    print(json.dumps({k: round(v, 2) for k, v in sorted(totals.items())}), flush=True)


class CpuWatcher:
    def __enter__(self) -> "CpuWatcher":
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.pipeline_bench", "--watch-cpu"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.totals: dict = {}
        return self

    def __exit__(self, *exc) -> None:
        out, _ = self.process.communicate(timeout=60)  # closing stdin ends the watch
        self.totals = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


# --- the pipeline run -------------------------------------------------------------------------

def pipeline_config(args, selector: str, base_url: str, out_dir: str) -> RunConfig:
    return build_config({
        "name": f"pipeline-bench-{selector}",
        "tasks": {"source": "synthetic_code", "split": "test", "limit": args.tasks},
        "model": {"backend": "openai_compat", "path": "free-model", "base_url": base_url},
        "sampling": {"n": args.n, "temperature": 0.8, "max_new_tokens": 96},
        "verifier": "unit_tests", "selectors": [selector],
        "selector_options": {"majority_vote": {"only_passed": False}} if selector == "majority_vote" else {},
        "sandbox": {"pool_size": args.pool_size, "limits": LIMITS},
        "runner": {"chunk_size": args.chunk_size, "max_in_flight": args.max_in_flight, "output_dir": out_dir,
                   "shards": args.shards},
    }, source="pipeline_bench")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def chunk_span(chunks: list[dict]) -> tuple[float, float]:
    """Wall-clock time the first chunk was submitted and the last one stored."""
    submitted = [c["done_at"] - c["wall_s"] - c["queue_s"] for c in chunks]
    return min(submitted), max(c["done_at"] for c in chunks)


def run_pipeline(config: RunConfig) -> dict:
    from pipeline.engine.runner import run

    with CpuWatcher() as watcher:
        t0, cpu0 = time.time(), time.process_time()
        result = run(config)
        wall_s, driver_cpu_s = time.time() - t0, time.process_time() - cpu0
    run_dir = Path(result.run_dir)
    first, last = chunk_span(read_jsonl(run_dir / "chunks.jsonl"))
    return {"run_dir": run_dir, "summary": result.summary, "wall_s": wall_s, "startup_s": first - t0,
            "work_s": last - first, "tail_s": t0 + wall_s - last, "driver_cpu_s": driver_cpu_s,
            "cpu": watcher.totals}


# --- the raw pool on the same programs --------------------------------------------------------

def candidate_chunks(run_dir: Path, tasks: list[Task], chunk_size: int) -> list[tuple[Task, list[Candidate]]]:
    """The run's distinct sample programs, per task in chunks as the run made them."""
    samples = sorted(read_jsonl(run_dir / "samples.jsonl"), key=lambda s: (s["task_id"], s["sample_index"]))
    by_task = {t.id: t for t in tasks}
    seen, chunks = set(), {}
    for s in samples:
        if (s["task_id"], s["candidate_key"]) in seen:
            continue
        seen.add((s["task_id"], s["candidate_key"]))
        chunk = chunks.setdefault((s["task_id"], s["sample_index"] // chunk_size), [])
        chunk.append(Candidate(task_id=s["task_id"], sample_index=s["sample_index"], content=s["content"],
                               key=s["candidate_key"]))
    return [(by_task[task_id], cands) for (task_id, _), cands in sorted(chunks.items())]


def run_raw_pool(args, chunks: list[tuple[Task, list[Candidate]]], fingerprint: bool) -> dict:
    from sandbox.pool import DEFAULT_IMAGE, SandboxPool

    slots = max(1, args.max_in_flight // args.chunk_size)  # chunks in flight, as the engine schedules them
    with SandboxPool(size=args.pool_size, image=DEFAULT_IMAGE, limits=Limits(**LIMITS)) as pool:
        verifier = UnitTestVerifier(pool.run, fingerprint=fingerprint)
        started, cpu_started = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=slots) as ex:
            verdicts = [v for vs in ex.map(lambda tc: verifier.verify(*tc), chunks) for v in vs]
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    return {"wall_s": wall_s, "cpu_s": cpu_s, "executions": len(verdicts), "passed": sum(v.passed for v in verdicts),
            "error_verdicts": sum(1 for v in verdicts if v.error),
            "parallel": verifier.parallel, "slots": slots}


# --- one selector -----------------------------------------------------------------------------

def measure(args, selector: str, tasks: list[Task], base_url: str, out_dir: str) -> dict:
    load_before = os.getloadavg()[0]
    piped = run_pipeline(pipeline_config(args, selector, base_url, out_dir))
    verdicts = read_jsonl(piped["run_dir"] / "verdicts.jsonl")
    raw = run_raw_pool(args, candidate_chunks(piped["run_dir"], tasks, args.chunk_size), selector in VOTES)
    executions = len(verdicts)
    summary = piped["summary"]
    e2e, steady, raw_rate = executions / piped["wall_s"], executions / piped["work_s"], raw["executions"] / raw["wall_s"]
    return {
        "selector": selector, "tasks": len(tasks), "n": args.n, "samples": summary["samples"],
        "executions": executions, "raw_executions": raw["executions"],
        "canary_executions": sum(r["judged"] for r in summary["canaries"].values()),
        "passed_pipeline": sum(1 for v in verdicts if v["passed"]), "passed_raw": raw["passed"],
        "pool_size": args.pool_size, "chunk_size": args.chunk_size, "max_in_flight": args.max_in_flight,
        "chunks_in_flight": raw["slots"], "verifier_parallel": raw["parallel"],
        "run_wall_s": round(piped["wall_s"], 2), "startup_s": round(piped["startup_s"], 2),
        "work_s": round(piped["work_s"], 2), "tail_s": round(piped["tail_s"], 2),
        "raw_pool_wall_s": round(raw["wall_s"], 2),
        "end_to_end_per_s": round(e2e, 2), "steady_per_s": round(steady, 2), "raw_pool_per_s": round(raw_rate, 2),
        "ratio": round(e2e / raw_rate, 3), "ratio_steady": round(steady / raw_rate, 3),
        "time": {k: round(v, 4) if isinstance(v, float) else v for k, v in summary["time"].items()},
        "driver_cpu_s": round(piped["driver_cpu_s"], 2),
        "driver_cpu_share": round(piped["driver_cpu_s"] / piped["wall_s"], 3),
        "raw_pool_host_cpu_s": round(raw["cpu_s"], 2),  # the pool's and verifier's threads, in this process
        "cpu": piped["cpu"], "errors": summary["errors"],
        "error_verdicts_pipeline": summary["verifier_errors"], "error_verdicts_raw": raw["error_verdicts"],
        "cores": os.cpu_count(), "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2), "date": date.today().isoformat(),
    }


def emit(record: dict, out: str | None) -> None:
    """One JSON line on stdout, and appended to `out` when given."""
    line = json.dumps(record)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--selectors", default="first_passing,majority_vote")
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--max-in-flight", type=int, default=192)
    parser.add_argument("--shards", type=int, default=0, help="runner.shards (0: the driver drives the run)")
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")
    parser.add_argument("--watch-cpu", action="store_true", help=argparse.SUPPRESS)  # the watcher process
    args = parser.parse_args()
    if args.watch_cpu:
        return watch_cpu()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "120")  # a loaded 2-core machine starts Ray slowly
    from pipeline.engine.runner import init_ray
    from pipeline.engine.tasks import load_tasks

    init_ray(None)  # Ray up before the runs, as under `ttc serve` or a cluster: not in their wall
    tasks = load_tasks(pipeline_config(args, "first_passing", "http://unused/v1", ".").tasks)
    server = start_model_server(tasks, sample_program)
    try:
        with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as out_dir:
            for selector in args.selectors.split(","):
                emit(measure(args, selector, tasks, f"http://127.0.0.1:{server.server_port}/v1", out_dir), args.out)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
