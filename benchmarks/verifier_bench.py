"""What the isolated unit-test verifier costs against the marker-based design it replaced: the same
programs, the same warm sandbox pool, one run, both ways.

Programs: every HumanEval problem's canonical solution (164, `check(candidate)` format) and the
held-out synthetic tasks' reference solutions (`from solution import f` scripts).

    python -m benchmarks.verifier_bench [--parallel 4]     # JSON lines, one per (verifier, task set)
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.verifier_hacks import MarkerVerifier
from pipeline.core.types import Candidate, Limits, Task


def task_sets() -> dict[str, list[tuple[Task, str]]]:
    from benchmarks.tasks.humaneval import load_humaneval
    from benchmarks.tasks.synthetic_code import make_tasks

    humaneval = [(t, t.prompt + t.metadata["canonical_solution"]) for t in load_humaneval()]
    synthetic = [(t, t.metadata["solution"]) for t in make_tasks("test")]
    return {"humaneval": humaneval, "synthetic": synthetic}


def timed(judge, pairs, parallel: int) -> dict:
    """judge(task, program) -> passed, over all pairs `parallel` at a time."""
    def one(pair):
        started = time.monotonic()
        passed = judge(*pair)
        return passed, time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(one, pairs))
    wall = time.monotonic() - started
    latencies = sorted(latency for _, latency in results)
    return {"programs": len(pairs), "passed": sum(p for p, _ in results), "wall_s": round(wall, 2),
            "per_s": round(len(pairs) / wall, 1), "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=4, help="concurrent verifications (callers)")
    parser.add_argument("--pool", type=int, default=2, help="warm containers")
    args = parser.parse_args()
    from pipeline.judging.unit_tests import UnitTestVerifier
    from sandbox import SandboxPool

    with SandboxPool(size=args.pool, limits=Limits(timeout_s=10)) as pool:
        ours = UnitTestVerifier(pool.run, timeout_s=10, parallel=1)
        previous = MarkerVerifier(pool.run, timeout_s=10)
        judges = {"ttc unit_tests (harness + peer)":
                  lambda t, p: ours.verify(t, [Candidate(task_id=t.id, sample_index=0, content=p)])[0].passed,
                  previous.name: lambda t, p: previous.judge(t, Candidate(task_id=t.id, sample_index=0, content=p))}
        for name, pairs in task_sets().items():
            for verifier, judge in judges.items():
                row = {"tasks": name, "verifier": verifier, "parallel": args.parallel, "containers": args.pool,
                       **timed(judge, pairs, args.parallel)}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
