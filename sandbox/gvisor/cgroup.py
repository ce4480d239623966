"""The host cgroup of one gVisor sandbox, made by us before runsc starts and removed after it.

runsc joins a cgroup that already exists and then neither changes nor removes it, so its
counters outlive the sandbox: when a memory or process bomb has ended the whole sandbox we can
still read which limit it hit. cgroup v1 (one hierarchy per controller) and v2 (unified) both.
"""
from __future__ import annotations

import errno
import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "ttc-gvisor"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
CPU_PERIOD_US = 100_000


def unified() -> bool:
    return (ROOT / "cgroup.controllers").is_file()


class SandboxCgroup:
    """`/ttc-gvisor/<name>` in every hierarchy we limit; `path` is what the OCI spec names."""

    def __init__(self, name: str):
        self.path = f"/{PARENT}/{name}"
        self.dirs = [ROOT / self.path[1:]] if unified() else \
            [ROOT / ctl / self.path[1:] for ctl in V1_CONTROLLERS if (ROOT / ctl).is_dir()]

    def create(self, memory_bytes: int, pids: int, cpus: float) -> "SandboxCgroup":
        try:
            self._make(memory_bytes, pids, int(cpus * CPU_PERIOD_US))
        except BaseException:
            self.remove()
            raise
        return self

    def _make(self, memory: int, pids: int, quota: int) -> None:
        if unified():
            enable_controllers(ROOT / PARENT)
            limits = {"memory.max": memory, "memory.swap.max": 0, "pids.max": pids,
                      "cpu.max": f"{quota} {CPU_PERIOD_US}"}
        else:
            limits = {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory, "pids.max": pids,
                      "cpu.cfs_period_us": CPU_PERIOD_US, "cpu.cfs_quota_us": quota}
        for folder in self.dirs:
            folder.mkdir(parents=True, exist_ok=True)
        for key, value in limits.items():
            self._write(key, value)

    def _file(self, key: str) -> Path | None:
        """Where `key` lives (v1: in its controller's hierarchy); None if this host lacks it."""
        for folder in self.dirs:
            if (folder / key).exists():
                return folder / key
        return None

    def _write(self, key: str, value) -> None:
        path = self._file(key)
        if path is None and key.startswith(("memory.memsw", "memory.swap")):
            return  # no swap accounting on this host: there is no swap to limit
        if path is None:
            raise OSError(errno.ENOENT, f"cgroup file {key} missing under {self.path}")
        path.write_text(str(value))

    def counter(self, key: str, field: str) -> int:
        """A `field value` line of a flat-keyed file (memory.events, pids.events, memory.oom_control)."""
        path = self._file(key)
        try:
            lines = path.read_text().splitlines() if path else []
        except OSError:
            return 0
        values = dict(line.split(maxsplit=1) for line in lines if " " in line)
        return int(values.get(field, 0))

    def oom_kills(self) -> int:
        return self.counter("memory.events" if unified() else "memory.oom_control", "oom_kill")

    def pids_refused(self) -> int:
        return self.counter("pids.events", "max")

    def remove(self, timeout_s: float = 5.0) -> None:
        """rmdir each folder; a cgroup is busy until its last task has gone, so retry a little."""
        end = time.monotonic() + timeout_s
        for folder in self.dirs:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > end:
                        raise
                    time.sleep(0.02)


def enable_controllers(parent: Path) -> None:
    """v2: a child gets memory, pids and cpu files only if its parent delegates them."""
    parent.mkdir(exist_ok=True)
    wanted = [c for c in ("memory", "pids", "cpu") if c not in (parent / "cgroup.subtree_control").read_text().split()]
    if wanted:
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))


def writable() -> str | None:
    """Why we cannot make sandbox cgroups here, or None."""
    folders = [ROOT] if unified() else [ROOT / c for c in ("memory", "pids")]
    for folder in folders:
        if not folder.is_dir():
            return f"no cgroup hierarchy at {folder}"
        if not os.access(folder, os.W_OK):
            return f"cannot write {folder} (run as root)"
    return None
