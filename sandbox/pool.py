"""SandboxPool: warm hardened containers, one execution at a time each, reused safely.

Every execution runs as an unprivileged uid in a clean /work (and /tmp); afterwards the
supervisor kills every process of it and wipes the scratch space, so nothing of one run is
visible to the next. A container whose supervisor died, hung or could not clean up is
destroyed and replaced. `SandboxActor` is the Ray actor wrapper (one per node with the
`sandbox` resource); Ray is imported only when it is asked for.

`runtime`: "runc" (Docker containers, sandbox/container.py) or "gvisor" (runsc sandboxes driven
by ttc, sandbox/gvisor/). Both give the same results under the same limits; under gVisor a
memory or process bomb ends the whole sandbox, which is then reported as the program's result
(killed, `oom` for memory) and replaced, as the runc pool replaces a container that died.
"""
from __future__ import annotations

import os
import queue
import socket
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pipeline.core.types import ExecutionResult, Limits, Peer
from sandbox.container import SupervisorGone, SupervisorLink, WarmContainer

Container = SupervisorLink  # WarmContainer (runc) or sandbox.gvisor.GvisorContainer

DEFAULT_IMAGE = "ttc-sandbox:base"
LABEL = "ttc.sandbox"
# Host-side slack over the program's own timeout: killing, wiping and sending the output back.
HOST_GRACE_S = 15.0
RUNTIMES = ("runc", "gvisor")


class SandboxImageMissing(RuntimeError):
    pass


class SandboxPool:
    """`size` warm containers; `run` is thread-safe and blocks while all are busy."""

    def __init__(self, size: int = 4, image: str = DEFAULT_IMAGE, limits: Limits | None = None,
                 runtime: str = "runc"):
        import docker

        if size < 1:
            raise ValueError(f"SandboxPool size must be >= 1, got {size}")
        self.size, self.image, self.limits, self.runtime = size, image, limits or Limits(), runtime
        self.pool_id = uuid.uuid4().hex[:12]
        self._api = docker.from_env(max_pool_size=size + 8).api
        require_image(self._api, image)
        self._new_container = container_factory(runtime, self._api, image, self.limits)
        self._idle: queue.Queue[Container] = queue.Queue()
        self._live: dict[str, Container] = {}
        self._missing, self._lock, self._closed = 0, threading.Lock(), False
        self._finalizer = weakref.finalize(self, remove_containers, self._api, self._live)
        self._fill(size)

    def labels(self) -> dict[str, str]:
        return {LABEL: "1", "ttc.pool": self.pool_id, "ttc.owner_pid": str(os.getpid()),
                "ttc.host": socket.gethostname()}

    # -------------------------------------------------------------- containers
    def _start_one(self) -> Container:
        box = self._new_container(self.labels())
        with self._lock:
            closed = self._closed
            if not closed:
                self._live[box.id] = box
        if closed:  # close() ran while this one started: it must not outlive the pool
            box.destroy()
            raise RuntimeError("SandboxPool is closed")
        return box

    def _fill(self, count: int) -> None:
        with ThreadPoolExecutor(max_workers=min(count, 8)) as ex:
            futures = [ex.submit(self._start_one) for _ in range(count)]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            self.close()
            raise RuntimeError(f"could not start sandbox containers from {self.image!r}: {errors[0]}")
        for f in futures:
            self._idle.put(f.result())

    def _acquire(self) -> Container:
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("SandboxPool is closed")
                replace = self._missing > 0 and self._idle.empty()
                self._missing -= int(replace)
            if replace:
                return self._replacement()
            try:
                box = self._idle.get(timeout=0.25)  # wake up to notice containers to replace
            except queue.Empty:
                continue
            if box.alive():
                return box
            self._release(box, healthy=False)  # died while idle: replace it, no execution lost

    def _replacement(self) -> Container:
        try:
            return self._start_one()
        except Exception:
            with self._lock:
                self._missing += 1
            raise

    def _release(self, box: Container, healthy: bool) -> None:
        if healthy and not self._closed:
            self._idle.put(box)
            return
        self._discard(box)
        with self._lock:
            self._missing += 1

    def _discard(self, box: Container) -> None:
        with self._lock:
            self._live.pop(box.id, None)
        box.destroy()

    # -------------------------------------------------------------- executions
    def run(self, cmd: list[str] | str, files: dict[str, bytes | str] | None = None,
            stdin: bytes | str = b"", timeout_s: float | None = None,
            env: dict[str, str] | None = None, peer: Peer | dict | None = None) -> ExecutionResult:
        """Run `cmd` in /work holding `files`; failures of the sandbox come back as `error`.
        `peer`: a second program run beside it as another uid, joined to it by a socket only
        (see sandbox/supervisor.py); its exit code and output come back as `peer_*`."""
        timeout = float(timeout_s or self.limits.timeout_s)
        header, payload = build_request(cmd, files or {}, stdin, timeout, self.limits, env or {},
                                        Peer.model_validate(peer) if isinstance(peer, dict) else peer)
        started = time.monotonic()
        try:
            box = self._acquire()
        except Exception as exc:  # no container could be started: an infrastructure failure
            return ExecutionResult(error=f"no sandbox container available: {exc}")
        try:
            reply, out, err, peer_out = box.request(header, payload, timeout + HOST_GRACE_S)
        except SupervisorGone as exc:
            result = sandbox_ended(box, exc, time.monotonic() - started)
            self._release(box, healthy=False)
            return result
        self._release(box, healthy=not reply.get("poisoned"))
        return to_result(reply, out, err, peer_out)

    def run_many(self, jobs: list[dict[str, Any]]) -> list[ExecutionResult]:
        """Run job dicts (keyword arguments of `run`) concurrently over the warm containers."""
        with ThreadPoolExecutor(max_workers=self.size) as ex:
            return list(ex.map(lambda job: self.run(**job), jobs))

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._finalizer()

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def require_image(api, image: str) -> None:
    import docker

    try:
        api.inspect_image(image)
    except docker.errors.ImageNotFound:
        raise SandboxImageMissing(
            f"sandbox image {image!r} is not present: run `ttc sandbox build-image` (offline "
            f"Debian bootstrap), or with registry access `docker build -t {image} sandbox/image`"
        ) from None


def container_factory(runtime: str, api, image: str, limits: Limits) -> Callable[[dict[str, str]], Container]:
    """What starts one warm container of `runtime` (checked here, so a pool that cannot work
    fails before its first container)."""
    if runtime == "runc":
        return lambda labels: WarmContainer(api, image, limits, labels)
    if runtime != "gvisor":
        raise ValueError(f"sandbox runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    from sandbox.gvisor import GvisorContainer, require_gvisor
    from sandbox.gvisor.rootfs import image_rootfs

    if limits.runtime or limits.network:
        raise ValueError("runtime='gvisor' takes no Limits.runtime (Docker's OCI runtime) and no network")
    from sandbox.reaper import gc_gvisor

    require_gvisor()
    gc_gvisor()  # what killed owners left on this host
    rootfs = image_rootfs(api, image)
    return lambda labels: GvisorContainer(rootfs, limits, labels)


def sandbox_ended(box: Container, exc: SupervisorGone, duration_s: float) -> ExecutionResult:
    """The supervisor went away during an execution. Under gVisor a memory or process bomb ends
    the whole sandbox: that is the program's result (killed, as the OOM killer kills it under
    runc), not an infrastructure error. Anything else (the container killed from outside, a
    crash) is an error."""
    hit = box.limit_hit()
    if hit is None:
        return ExecutionResult(error=str(exc), oom=box.oom_killed(), duration_s=duration_s)
    return ExecutionResult(exit_code=-9, oom=hit == "memory", duration_s=duration_s,
                           stderr=f"sandbox: killed at the {hit} limit (it ended the gVisor sandbox)\n")


def remove_containers(api, live: dict[str, Container]) -> None:
    boxes = list(live.values())
    live.clear()
    if boxes:
        with ThreadPoolExecutor(max_workers=min(len(boxes), 8)) as ex:
            list(ex.map(lambda box: box.destroy(), boxes))


def build_request(cmd, files, stdin, timeout, limits: Limits, env, peer: Peer | None = None) -> tuple[dict, bytes]:
    cmd = check_cmd(cmd)
    blobs = {check_path(path): as_bytes(data) for path, data in files.items()}
    header = {"op": "run", "cmd": cmd, "timeout_s": timeout, "env": env,
              "output_bytes": limits.output_bytes, "zygote": limits.python_zygote,
              "files": [[path, len(data)] for path, data in blobs.items()]}
    peer_blobs: dict[str, bytes] = {}
    if peer is not None:
        peer_blobs = {check_path(path): as_bytes(data) for path, data in peer.files.items()}
        header["peer"] = {"cmd": check_cmd(peer.cmd), "files": [[path, len(data)] for path, data in peer_blobs.items()]}
    return header, b"".join(blobs.values()) + b"".join(peer_blobs.values()) + as_bytes(stdin)


def check_cmd(cmd: list[str] | str) -> list[str]:
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    if not cmd or not all(isinstance(part, str) for part in cmd):
        raise ValueError(f"cmd must be a non-empty list of strings, got {cmd!r}")
    return list(cmd)


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts or path.endswith("/"):
        raise ValueError(f"file path {path!r} must be a relative file path inside the workspace")
    return path


def as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def to_result(reply: dict, out: bytes, err: bytes, peer_out: bytes = b"") -> ExecutionResult:
    return ExecutionResult(
        exit_code=reply.get("exit_code"), stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"), timed_out=reply.get("timed_out", False),
        truncated=reply.get("truncated", False), oom=reply.get("oom", False),
        duration_s=reply.get("duration_s", 0.0), error=reply.get("error"),
        peer_exit_code=reply.get("peer_exit_code"), peer_output=peer_out.decode("utf-8", "replace"))


# ------------------------------------------------------------------ Ray actor

class SandboxService:
    """What the Ray actor holds: one pool per node, executions spread over its containers."""

    def __init__(self, size: int = 4, image: str = DEFAULT_IMAGE, limits: Limits | dict | None = None,
                 runtime: str = "runc"):
        limits = Limits.model_validate(limits) if isinstance(limits, dict) else limits
        self.pool = SandboxPool(size=size, image=image, limits=limits, runtime=runtime)

    def run(self, cmd, files=None, stdin=b"", timeout_s=None, env=None, peer=None) -> ExecutionResult:
        return self.pool.run(cmd, files=files, stdin=stdin, timeout_s=timeout_s, env=env, peer=peer)

    def run_many(self, jobs: list[dict[str, Any]]) -> list[ExecutionResult]:
        return self.pool.run_many(jobs)

    def pool_id(self) -> str:
        return self.pool.pool_id

    def close(self) -> None:
        self.pool.close()


_actor_class = None


def __getattr__(name: str):
    """`SandboxActor` is built on first use so importing this module does not import Ray."""
    global _actor_class
    if name != "SandboxActor":
        raise AttributeError(name)
    if _actor_class is None:
        import ray

        # Threaded: concurrent `run` calls use different warm containers.
        _actor_class = ray.remote(num_cpus=0, max_concurrency=32)(SandboxService)
    return _actor_class
