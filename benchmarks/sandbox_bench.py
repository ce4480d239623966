"""Sandbox latency and throughput: ttc's pool vs `docker run --rm` vs warm `docker exec`.

ttc's pool is measured three times: as configured by default (runc, python3 programs forked from
the interpreter zygote), with `python_zygote=False` (the supervisor execs a fresh python3), and
under gVisor (`runtime="gvisor"`, zygote), the last two in alternating rounds so that load from
neighbours weighs on both alike; the gVisor rows carry `vs_runc`, their rate over the default's.

All three run the same program in equally hardened containers (read-only root, tmpfs, no
network, no capabilities for the program, no-new-privileges, pids/memory/CPU limits, init),
at 1 and 4 concurrent callers, and print one JSON line per (mode, callers) with latency
p50/p95, executions/s and the CPU each execution costs (container + Docker daemons + us):

    python benchmarks/sandbox_bench.py [--n 80] [--n-run 16] [--image ttc-sandbox:base]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from pipeline.core.types import Limits
from sandbox.limits import SANDBOX_UID, host_config_kwargs

PROGRAM = ["python3", "-c", "print(6*7)"]
EXPECTED = "42\n"
DOCKER_DAEMONS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")
CONTAINERS_CPUACCT = "/sys/fs/cgroup/cpuacct/docker/cpuacct.usage"  # cgroup v1, all containers
GVISOR_CPUACCT = "/sys/fs/cgroup/cpuacct/ttc-gvisor/*/cpuacct.usage"  # cgroup v1, each gVisor sandbox


def cpu_snapshot() -> dict:
    """CPU seconds used so far by us, each Docker daemon process and all containers."""
    snap = {"self": sum(r.ru_utime + r.ru_stime for r in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))}
    if os.path.exists(CONTAINERS_CPUACCT):
        snap["containers"] = int(open(CONTAINERS_CPUACCT).read()) / 1e9
    for path in glob.glob(GVISOR_CPUACCT):
        snap[path] = int(open(path).read()) / 1e9
    for path in glob.glob("/proc/[0-9]*/comm"):
        snap[path] = daemon_cpu(path)
    return snap


def cpu_used(before: dict, after: dict) -> float:
    """On a shared machine the wall-clock rate depends on the neighbours; CPU per execution does
    not. Daemons that exited in between (per-container shims) are missed: a lower bound."""
    return sum(value - before.get(key, 0.0) for key, value in after.items())


def daemon_cpu(comm_path: str) -> float:
    try:
        if open(comm_path).read().strip() not in DOCKER_DAEMONS:
            return 0.0
        fields = open(comm_path[:-4] + "stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def hardened_host_config(api, limits: Limits) -> dict:
    kwargs = host_config_kwargs(limits)
    kwargs.update(auto_remove=False, cap_add=None)  # the baselines need no supervisor caps
    return api.create_host_config(**kwargs)


def docker_run_once(api, image: str, limits: Limits) -> str:
    """What `docker run --rm` does: create, start, wait, read logs, remove."""
    cid = api.create_container(image, command=PROGRAM, user=str(SANDBOX_UID), working_dir="/work",
                               network_disabled=True, host_config=hardened_host_config(api, limits))["Id"]
    try:
        api.start(cid)
        api.wait(cid)
        return api.logs(cid, stdout=True, stderr=False).decode()
    finally:
        api.remove_container(cid, force=True)


class WarmExec:
    """Plain warm containers (`sleep infinity`) and one `docker exec` per execution."""

    def __init__(self, api, image: str, limits: Limits, size: int):
        self.api = api
        self.ids = [api.create_container(
            image, command=["sleep", "infinity"], user=str(SANDBOX_UID), working_dir="/work",
            network_disabled=True, host_config=hardened_host_config(api, limits))["Id"] for _ in range(size)]
        for cid in self.ids:
            api.start(cid)
        self.free = list(self.ids)

    def run(self) -> str:
        cid = self.free.pop()  # list.pop/append are atomic: one caller per container at a time
        try:
            exec_id = self.api.exec_create(cid, PROGRAM, stdout=True, stderr=False)["Id"]
            return self.api.exec_start(exec_id).decode()
        finally:
            self.free.append(cid)

    def close(self) -> None:
        for cid in self.ids:
            self.api.remove_container(cid, force=True)


def timed_runs(run_one, n: int, callers: int) -> dict:
    """Raw numbers of `n` executions from `callers` threads (after one warm-up)."""
    latencies = []

    def timed(_):
        start = time.perf_counter()
        out = run_one()
        latencies.append(time.perf_counter() - start)
        return out == EXPECTED

    run_one()  # warm-up, not counted
    start, cpu_before = time.perf_counter(), cpu_snapshot()
    with ThreadPoolExecutor(max_workers=callers) as ex:
        wrong = sum(not ok for ok in ex.map(timed, range(n)))
    return {"latencies": latencies, "elapsed": time.perf_counter() - start, "wrong": wrong,
            "cpu": cpu_used(cpu_before, cpu_snapshot())}


def summary(raw: list[dict], callers: int) -> dict:
    latencies = [x for part in raw for x in part["latencies"]]
    n, elapsed = len(latencies), sum(part["elapsed"] for part in raw)
    cpu_ms = sum(part["cpu"] for part in raw) / n * 1e3
    q = statistics.quantiles(latencies, n=20)
    return {"callers": callers, "n": n, "p50_ms": round(statistics.median(latencies) * 1e3, 1),
            "p95_ms": round(q[18] * 1e3, 1), "exec_per_s": round(n / elapsed, 1),
            "wrong": sum(part["wrong"] for part in raw), "cpu_ms_per_exec": round(cpu_ms, 1),
            # the rate this machine would reach if the executions had every core to themselves
            "cpu_bound_exec_per_s": round(os.cpu_count() * 1e3 / cpu_ms, 1),
            "load_avg_1m": os.getloadavg()[0]}


def measure(run_one, n: int, callers: int) -> dict:
    return summary([timed_runs(run_one, n, callers)], callers)


def measure_interleaved(runs: dict, n: int, callers: int, rounds: int = 4) -> dict[str, dict]:
    """{mode: row} for several pools measured in alternating rounds, so that a neighbour's load
    on a shared machine weighs on each of them alike."""
    raw = {mode: [] for mode in runs}
    for _ in range(rounds):
        for mode, run_one in runs.items():
            raw[mode].append(timed_runs(run_one, max(n // rounds, 2), callers))
    return {mode: summary(parts, callers) for mode, parts in raw.items()}


def compare_runtimes(image: str, limits: Limits, n: int, callers: list[int]) -> None:
    """The default pool (runc, zygote) and the gVisor pool, interleaved; gVisor's rows carry
    `vs_runc`, its rate over runc's."""
    from sandbox import SandboxPool

    with SandboxPool(size=max(callers), image=image, limits=limits) as runc, \
            SandboxPool(size=max(callers), image=image, limits=limits, runtime="gvisor") as gvisor:
        for c in callers:
            rows = measure_interleaved({"ttc_pool": lambda: runc.run(PROGRAM).stdout,
                                        "ttc_pool_gvisor": lambda: gvisor.run(PROGRAM).stdout}, n, c)
            rows["ttc_pool_gvisor"]["vs_runc"] = round(
                rows["ttc_pool_gvisor"]["exec_per_s"] / rows["ttc_pool"]["exec_per_s"], 2)
            for mode, row in rows.items():
                emit(mode, row)


def main() -> None:
    import docker

    from sandbox import SandboxPool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80, help="executions per pool/exec measurement")
    parser.add_argument("--n-run", type=int, default=16, help="executions per `docker run` measurement")
    parser.add_argument("--image", default="ttc-sandbox:base")
    parser.add_argument("--callers", default="1,4")
    args = parser.parse_args()
    limits, api = Limits(), docker.from_env(max_pool_size=16).api
    callers = [int(c) for c in args.callers.split(",")]
    compare_runtimes(args.image, limits, args.n, callers)
    fresh_limits = limits.model_copy(update={"python_zygote": False})
    with SandboxPool(size=max(callers), image=args.image, limits=fresh_limits) as pool:
        for c in callers:
            emit("ttc_pool_fresh_exec", measure(lambda: pool.run(PROGRAM).stdout, args.n, c))
    warm = WarmExec(api, args.image, limits, size=max(callers))
    try:
        for c in callers:
            emit("docker_exec", measure(warm.run, args.n, c))
    finally:
        warm.close()
    for c in callers:
        emit("docker_run_rm", measure(lambda: docker_run_once(api, args.image, limits), args.n_run, c))


def emit(mode: str, row: dict) -> None:
    print(json.dumps({"bench": "sandbox", "mode": mode, "program": " ".join(PROGRAM), **row}), flush=True)


if __name__ == "__main__":
    main()
