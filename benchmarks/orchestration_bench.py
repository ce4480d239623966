"""Ray Data vs Ray Core actors for sandbox executions: the measurement behind "Ray Core actors,
not Ray Data" (docs/ARCHITECTURE.md).

The same `n` trivial executions (`python3 -c 'print(6*7)'`) go through `actors` execution
actors, each holding a one-container `sandbox.SandboxPool`:

- ray_data:   `ray.data.range(n).map_batches(Executor, batch_size=1, compute=ActorPoolStrategy(
              size=actors))` (Ray 2.60's form of `concurrency=actors`), the actor pool started
              by the pipeline itself (start-up inside the timing);
- ray_actors: `actors` warm `sandbox.pool.SandboxActor`s and `ray.util.ActorPool.map_unordered`.

Both are timed with their start-up (`wall_s`, `per_s`) and without it: `startup_s` runs until
the last actor is ready, `per_s_warm` counts the executions finished after that over the time
after that (Ray Data's first actors start working while the last one starts).

Each method runs in a process of its own, on a fresh local Ray with `--num-cpus` logical CPUs,
and prints one JSON line. With `--num-cpus 2` Ray Data's pipeline waits forever: its actors ask
for one CPU each by default (`--actor-cpus 0` lets it finish); `--timeout` bounds the wait and
the line then says `"completed": false`.

    python -m benchmarks.orchestration_bench [--n 200] [--actors 4] [--num-cpus 8] [--timeout 300]
                                             [--actor-cpus C] [--methods ray_data,ray_actors]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import ray

from sandbox.pool import DEFAULT_IMAGE, SandboxPool

PROGRAM = ["python3", "-c", "print(6*7)"]
EXPECTED = "42\n"
CHILD_GRACE_S = 120.0  # Ray start-up and shut-down around a method's own --timeout
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}  # as ttc's own local Ray


class Executor:
    """A Ray Data actor: one warm container, each row one execution; rows carry the time the
    actor became ready, so the driver can tell start-up from work."""

    def __init__(self, image: str):
        self.pool = SandboxPool(size=1, image=image)
        self.ready_at = time.time()

    def __call__(self, batch: dict) -> dict:
        outputs, done_at = [], []
        for _ in batch["id"]:
            outputs.append(self.pool.run(PROGRAM).stdout)
            done_at.append(time.time())
        return {"stdout": outputs, "ready_at": [self.ready_at] * len(outputs), "done_at": done_at}


def run_ray_data(n: int, actors: int, image: str, actor_cpus: float | None = None) -> dict:
    started, started_at = time.perf_counter(), time.time()
    cpus = {} if actor_cpus is None else {"num_cpus": actor_cpus}  # None: Ray Data's default, 1 each
    ds = ray.data.range(n).map_batches(Executor, fn_constructor_kwargs={"image": image}, batch_size=1,
                                       compute=ray.data.ActorPoolStrategy(size=actors), **cpus)
    rows = list(ds.iter_rows())
    wall = time.perf_counter() - started
    check([row["stdout"] for row in rows], n)
    # start-up: until the last actor was ready (as for ray_actors); the first ones worked meanwhile
    warm_at = max(row["ready_at"] for row in rows)
    return {"wall_s": wall, "startup_s": warm_at - started_at, "wall_warm_s": wall - (warm_at - started_at),
            "warm_executions": sum(row["done_at"] > warm_at for row in rows)}


def run_ray_actors(n: int, actors: int, image: str, actor_cpus: float | None = None) -> dict:
    from ray.util import ActorPool

    from sandbox.pool import SandboxActor

    started = time.perf_counter()
    options = {} if actor_cpus is None else {"num_cpus": actor_cpus}  # None: ttc's own, 0 each
    handles = [SandboxActor.options(**options).remote(size=1, image=image) for _ in range(actors)]
    ray.get([h.pool_id.remote() for h in handles])  # warm: every container is up
    warm = time.perf_counter()
    pool = ActorPool(handles)
    outputs = [r.stdout for r in pool.map_unordered(lambda a, _i: a.run.remote(PROGRAM), range(n))]
    done = time.perf_counter()
    check(outputs, n)
    ray.get([h.close.remote() for h in handles])
    return {"wall_s": done - started, "startup_s": warm - started, "wall_warm_s": done - warm,
            "warm_executions": n}


def check(outputs: list[str], n: int) -> None:
    wrong = [o for o in outputs if o != EXPECTED]
    if len(outputs) != n or wrong:
        raise RuntimeError(f"{len(outputs)}/{n} executions, {len(wrong)} wrong, e.g. {wrong[:1]}")


METHODS = {"ray_data": run_ray_data, "ray_actors": run_ray_actors}


def with_deadline(fn, timeout_s: float) -> dict | None:
    """fn() in a thread; None when it has not finished after `timeout_s` (e.g. deadlocked)."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        return None
    if "error" in result:
        raise result["error"]
    return result["value"]


def measure(method: str, args: argparse.Namespace) -> dict:
    """One method on a fresh local Ray, so neither inherits the other's warm workers."""
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    line = {"method": method, "n": args.n, "actors": args.actors, "actor_cpus": args.actor_cpus,
            "num_cpus": args.num_cpus, "cores": os.cpu_count(), "load_1min": os.getloadavg()[0],
            "date": date.today().isoformat()}  # the load: this machine is shared
    try:
        work = lambda: METHODS[method](args.n, args.actors, args.image, args.actor_cpus)  # noqa: E731
        timing = with_deadline(work, args.timeout)
        if timing is None:  # stuck: what the cluster had left to give, for the record
            return {**line, "completed": False, "timeout_s": args.timeout,
                    "available_cpus": ray.available_resources().get("CPU", 0.0)}
    finally:
        ray.shutdown()
    rates = {"per_s": args.n / timing["wall_s"], "per_s_warm": timing["warm_executions"] / timing["wall_warm_s"]}
    return {**line, "completed": True, **{k: round(v, 3) if isinstance(v, float) else v
                                          for k, v in {**timing, **rates}.items()}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="executions per method")
    parser.add_argument("--actors", type=int, default=4, help="execution actors (one container each)")
    parser.add_argument("--num-cpus", type=int, default=8, help="logical CPUs of the local Ray")
    parser.add_argument("--actor-cpus", type=float, default=None,
                        help="CPUs each execution actor asks for (default: Ray Data's 1, SandboxActor's 0)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a method counts as stuck")
    parser.add_argument("--methods", default="ray_data,ray_actors", help=f"comma-separated, of {sorted(METHODS)}")
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--one", choices=sorted(METHODS), help=argparse.SUPPRESS)  # a child's method
    return parser.parse_args()


def measure_in_child(method: str, args: argparse.Namespace) -> str:
    """`measure` in a fresh process: a stuck Ray Data thread cannot touch the next method's Ray."""
    cmd = [sys.executable, "-m", "benchmarks.orchestration_bench", *sys.argv[1:], "--one", method]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = child.communicate(timeout=args.timeout + CHILD_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return json.dumps({"method": method, "completed": False, "timeout_s": args.timeout, "killed": True})
    if child.returncode != 0:
        raise RuntimeError(f"{method} failed (exit code {child.returncode}); its stderr is above")
    return out.strip()


def main() -> None:
    args = parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args)), flush=True)
        os._exit(0)  # Ray is shut down; a stuck Ray Data thread must not keep the process alive
    for method in args.methods.split(","):
        print(measure_in_child(method, args), flush=True)


if __name__ == "__main__":
    main()
