"""Docker sandbox: run untrusted programs in warm, hardened, reusable containers.

Protects against: network access (no network), writes outside the workspace (read-only root,
size-capped tmpfs /work and /tmp), privilege use (non-root uid, no capabilities,
no-new-privileges), fork and memory bombs (pids and memory limits; the program is the OOM
killer's first choice), runaway time and output (wall-clock timeout that kills every process of
the execution, escapees included; output capped while streamed), and one execution seeing or
touching another (each runs alone in its container; afterwards every process of it is killed and
/work, /tmp, /dev/shm, /dev/mqueue and SysV IPC are wiped).
Does not protect against: kernel exploits under runc (it shares the host kernel; a pool with
`runtime="gvisor"` runs each sandbox under gVisor's kernel instead, sandbox/gvisor/), bugs in
gVisor itself, CPU side channels, or a container engine that is itself compromised. Leaks:
containers are labelled and auto-removed when the owning process dies, and a gVisor sandbox
stops with it; `gc()` removes orphans and their leftovers.
"""
from pipeline.core.types import ExecutionResult, Limits
from sandbox.image.build import build_image, image_exists
from sandbox.pool import SandboxImageMissing, SandboxPool
from sandbox.reaper import gc

__all__ = ["ExecutionResult", "Limits", "SandboxImageMissing", "SandboxPool", "build_image", "gc",
           "image_exists"]
