"""gVisor (`sandbox.runtime: gvisor`): each warm sandbox runs under runsc, so a candidate's
syscalls reach gVisor's kernel (a Go program on the host), not the host kernel.

ttc drives `runsc run` itself on an OCI bundle whose root is the sandbox image exported once
(`docker export` of a created container, cached by image digest), rather than asking Docker for
`runtime="runsc"`. This is the simpler route of the two:
- it needs nothing of the Docker daemon but the image: no daemon.json entry and no daemon reload
  on engines that other people's containers run on (a Docker route cannot be set up there);
- the cgroup is ours: Docker reports `OOMKilled: false` for a runsc container whose sandbox the
  OOM killer ended (measured), and removes the container's cgroup with it, so under Docker a
  memory bomb would be reported as an infrastructure error, not as the program's `oom`;
- the supervisor, the zygote and their protocol are the runc pool's, unchanged; only the stream
  (pipes instead of Docker's attach) and the spec (spec.py instead of Docker's host config) differ.
It needs root (cgroups) and runsc on PATH (Debian: `apt-get install -y runsc`).
"""
from __future__ import annotations

import os
import subprocess

from sandbox.gvisor.cgroup import writable
from sandbox.gvisor.container import GvisorContainer, kill, list_sandboxes, remove_sandbox, runsc_binary

INSTALL_FIX = "install gVisor (as root: bash scripts/dev.sh setup, or apt-get install -y runsc)"

__all__ = ["GvisorContainer", "GvisorUnavailable", "kill", "list_sandboxes", "remove_sandbox", "unavailable_reason"]


class GvisorUnavailable(RuntimeError):
    """sandbox.runtime is gvisor but this host cannot run gVisor sandboxes; says how to fix it."""


def unavailable_reason() -> str | None:
    """Why gVisor cannot run here (one line with its fix), or None. Cheap: no sandbox is started."""
    binary = runsc_binary()
    if binary is None:
        return f"runsc is not installed: {INSTALL_FIX}, or set sandbox.runtime: runc"
    if os.geteuid() != 0:
        return "gVisor sandboxes need root (ttc sets their cgroup limits): run as root, or set sandbox.runtime: runc"
    problem = writable()
    if problem:
        return f"gVisor sandboxes need writable cgroups: {problem}; or set sandbox.runtime: runc"
    try:
        subprocess.run([binary, "--version"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} does not run ({exc}): {INSTALL_FIX}"
    return None


def require_gvisor() -> None:
    reason = unavailable_reason()
    if reason:
        raise GvisorUnavailable(reason)


def runsc_version() -> str:
    out = subprocess.run([runsc_binary() or "runsc", "--version"], capture_output=True, text=True, timeout=10)
    return out.stdout.splitlines()[0].removeprefix("runsc version ").strip() if out.stdout else "?"
