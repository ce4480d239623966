"""Limits -> the OCI runtime spec (config.json) of one gVisor sandbox: the isolation the runc
pool gets from Docker's host config (sandbox/limits.py), written out for runsc.

Same as runc: read-only root, size-capped tmpfs /work (0700, the sandbox uid's), /tmp and
/dev/shm, no network (runsc --network=none: loopback only), the supervisor as uid 0 with
SETUID, SETGID and KILL only, no-new-privileges, and memory, pids and CPU limits on the host
cgroup. Different: gVisor has no POSIX message queues (no /dev/mqueue), the supervisor is the
sandbox's pid 1 (no docker-init), and the process limit is enforced twice, see `host_pids`.
"""
from __future__ import annotations

from pipeline.core.types import Limits
from sandbox.limits import SANDBOX_UID, SUPERVISOR_CAPS, WORKSPACE

HOSTNAME = "ttc-sandbox"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/bin"
# The host threads and stub processes of gVisor's own kernel count in the host pids cgroup:
# about 25 for an idle sandbox and 5-7 more per process inside it (ptrace platform, measured).
GVISOR_BASE_PIDS, GVISOR_PIDS_PER_TASK = 64, 8
# Root's own processes inside: supervisor, zygote and their short-lived helpers.
ROOT_TASKS = 16
# gVisor's kernel and file proxy live in the sandbox's memory cgroup too: about 20 MB idle, and
# about 5 MB more per process inside (measured; 0.5 MB under runc), which is not added here, so
# that a program gets no more memory than under runc: a fork bomb may end at the memory limit.
GVISOR_MEMORY_MB = 64


def host_pids(limits: Limits) -> int:
    """Host pids limit. Inside, RLIMIT_NPROC stops each sandbox uid (program, peer) at
    `limits.pids` tasks, as gVisor's kernel counts them, with EAGAIN and the sandbox alive, as
    the pids cgroup does under runc; the host limit leaves room for gVisor's threads at that
    count and still bounds what the sandbox can take from the host."""
    return GVISOR_BASE_PIDS + GVISOR_PIDS_PER_TASK * (2 * limits.pids + ROOT_TASKS)


def host_memory_bytes(limits: Limits) -> int:
    return (limits.memory_mb + GVISOR_MEMORY_MB) << 20


def oci_spec(rootfs: str, command: list[str], limits: Limits, cgroup_path: str, uid: int = SANDBOX_UID) -> dict:
    caps = [f"CAP_{cap}" for cap in SUPERVISOR_CAPS]
    return {
        "ociVersion": "1.0.0",
        "root": {"path": rootfs, "readonly": True},
        "hostname": HOSTNAME,
        "process": {
            "user": {"uid": 0, "gid": 0}, "args": command, "cwd": WORKSPACE, "env": [f"PATH={PATH}"],
            "terminal": False, "noNewPrivileges": True,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                             "inheritable": [], "ambient": []},
            "rlimits": [{"type": "RLIMIT_NPROC", "hard": limits.pids, "soft": limits.pids},
                        {"type": "RLIMIT_NOFILE", "hard": 1 << 16, "soft": 1 << 16}],
        },
        "mounts": mounts(limits, uid),
        "linux": {"cgroupsPath": cgroup_path,
                  "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount")]},
    }


def mounts(limits: Limits, uid: int) -> list[dict]:
    size = f"size={limits.tmpfs_mb}m"

    def tmpfs(where: str, *options: str) -> dict:
        return {"destination": where, "type": "tmpfs", "source": "tmpfs",
                "options": ["rw", "nosuid", "nodev", size, *options]}

    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        tmpfs("/tmp", "exec", "mode=1777"),
        tmpfs(WORKSPACE, "exec", "mode=0700", f"uid={uid}", f"gid={uid}"),
        tmpfs("/dev/shm", "noexec", "mode=1777"),
    ]
