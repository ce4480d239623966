"""Remove sandbox containers whose owning pool process is gone (crash, kill -9, lost node).

Containers carry labels: ttc.sandbox=1, ttc.pool (id), ttc.owner_pid, ttc.host. A container
is an orphan when it was made on this host and its owner pid no longer runs. Normally none
exist: the supervisor exits when its owner's stream closes and Docker auto-removes it. A gVisor
sandbox of a killed owner stops the same way, but its bundle folder and cgroup stay until this
runs (every gVisor pool runs it as it starts).
"""
from __future__ import annotations

import os
import socket

LABEL = "ttc.sandbox"


def gc(all_pools: bool = False) -> list[str]:
    """Remove orphaned ttc sandbox containers (every one with `all_pools`); returns their ids."""
    import docker

    api = docker.from_env().api
    removed = []
    for info in api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        if all_pools or is_orphan(info.get("Labels") or {}):
            try:
                api.remove_container(info["Id"], force=True)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                if "already in progress" not in str(exc):
                    raise
            removed.append(info["Id"])
    return removed + gc_gvisor(all_pools)


def gc_gvisor(all_pools: bool = False) -> list[str]:
    """Remove what is left of orphaned gVisor sandboxes (every one with `all_pools`)."""
    from sandbox.gvisor import list_sandboxes, remove_sandbox

    orphans = [sid for sid, labels in list_sandboxes().items() if all_pools or is_orphan(labels)]
    for sid in orphans:
        remove_sandbox(sid)
    return orphans


def is_orphan(labels: dict[str, str]) -> bool:
    if labels.get("ttc.host") != socket.gethostname():
        return False  # another machine's pool: we cannot tell whether it lives
    try:
        pid = int(labels.get("ttc.owner_pid", ""))
    except ValueError:
        return True
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
