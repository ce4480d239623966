"""Limits -> Docker host config: the isolation every sandbox container gets by default."""
from __future__ import annotations

from pipeline.core.types import Limits

SANDBOX_UID = 10001
WORKSPACE = "/work"
# The supervisor needs exactly these: drop to the sandbox uid (SETUID/SETGID) and
# SIGKILL every process of an execution afterwards (KILL). The program itself gets none.
SUPERVISOR_CAPS = ["SETUID", "SETGID", "KILL"]


def tmpfs_mounts(limits: Limits, uid: int = SANDBOX_UID) -> dict[str, str]:
    size = f"size={limits.tmpfs_mb}m"
    return {
        "/tmp": f"rw,exec,nosuid,nodev,{size},mode=1777",
        WORKSPACE: f"rw,exec,nosuid,nodev,{size},mode=0700,uid={uid},gid={uid}",
    }


def host_config_kwargs(limits: Limits, uid: int = SANDBOX_UID) -> dict:
    """Keyword arguments for `APIClient.create_host_config`."""
    memory = f"{limits.memory_mb}m"
    kwargs = dict(
        auto_remove=True,  # the container disappears as soon as its supervisor exits
        read_only=True,
        tmpfs=tmpfs_mounts(limits, uid),
        shm_size=f"{limits.tmpfs_mb}m",
        network_mode="bridge" if limits.network else "none",
        cap_drop=["ALL"],
        cap_add=SUPERVISOR_CAPS,
        security_opt=["no-new-privileges"],
        pids_limit=limits.pids,
        mem_limit=memory,
        memswap_limit=memory,  # no swap: a memory bomb hits the limit, not the disk
        nano_cpus=int(limits.cpus * 1e9),
        init=True,
        ipc_mode="private",
    )
    if limits.runtime:
        kwargs["runtime"] = limits.runtime
    return kwargs
