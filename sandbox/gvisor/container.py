"""One warm gVisor sandbox: `runsc run` as our child, the supervisor as the sandbox's pid 1.

We speak the supervisor's protocol over runsc's stdin/stdout pipes (no Docker in the path, so
no stream multiplexing). When this process dies its end of stdin closes, the supervisor sees EOF
and exits, and `runsc run` tears the sandbox down; `reaper.gc` removes what a killed owner left
(the bundle folder and the cgroup). A memory or process bomb ends the whole sandbox, not only the
program: the cgroup's counters, which outlive it, say which limit did it (`limit_hit`).
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from pipeline.core.types import Limits
from sandbox.container import START_TIMEOUT_S, SUPERVISOR_SOURCE, ZYGOTE_SOURCE, SupervisorLink
from sandbox.gvisor.cgroup import SandboxCgroup
from sandbox.gvisor.spec import host_memory_bytes, host_pids, oci_spec
from sandbox.limits import SANDBOX_UID

STATE_ROOT = Path(os.environ.get("TTC_GVISOR_STATE_DIR", "/run/ttc-gvisor"))
BUNDLES = STATE_ROOT / "bundles"
LABELS_FILE = "labels.json"
STOP_WAIT_S = 3.0


def runsc_binary() -> str | None:
    return os.environ.get("TTC_RUNSC") or shutil.which("runsc")


def runsc(*args: str) -> list[str]:
    # --network=none: gVisor's own network stack with loopback only (as Docker's network "none")
    return [runsc_binary() or "runsc", "--root", str(STATE_ROOT), "--network=none", *args]


class GvisorContainer(SupervisorLink):
    def __init__(self, rootfs: Path, limits: Limits, labels: dict[str, str]):
        self.id = f"ttc-{uuid.uuid4().hex[:16]}"
        self.bundle, self.proc, self._out = BUNDLES / self.id, None, bytearray()
        self.cgroup = SandboxCgroup(self.id)
        try:
            self._start(rootfs, limits, labels)
            self.request({"op": "ping"}, b"", START_TIMEOUT_S)
            self.sandbox_pid = sandbox_pid(self.id)
        except BaseException:
            self.destroy()
            raise

    def _start(self, rootfs: Path, limits: Limits, labels: dict[str, str]) -> None:
        self.cgroup.create(host_memory_bytes(limits), host_pids(limits), limits.cpus)
        self.bundle.mkdir(parents=True)
        (self.bundle / LABELS_FILE).write_text(json.dumps(labels))
        command = ["python3", "-I", "-S", "-c", SUPERVISOR_SOURCE, str(SANDBOX_UID), ZYGOTE_SOURCE]
        spec = oci_spec(str(rootfs), command, limits, self.cgroup.path)
        (self.bundle / "config.json").write_text(json.dumps(spec))
        with open(self.bundle / "runsc.log", "wb") as log:
            self.proc = subprocess.Popen(runsc("run", "--bundle", str(self.bundle), self.id),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)  # a Ctrl-C of ours is not the sandbox's
        self.stdout_fd = self.proc.stdout.fileno()
        os.set_blocking(self.stdout_fd, False)

    @property
    def name(self) -> str:
        return f"gVisor sandbox {self.id}"

    # -------------------------------------------------------------- the stream
    def _send(self, data: bytes) -> None:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            _, writable, _ = select.select([], [fd], [], self._time_left())
            if writable:
                view = view[os.write(fd, view[:1 << 16]):]

    def _receive(self) -> bool:
        readable, _, _ = select.select([self.stdout_fd], [], [], self._time_left())
        if not readable:
            return True  # the deadline is checked on the next call
        chunk = os.read(self.stdout_fd, 1 << 20)
        self._out += chunk
        return bool(chunk)

    def alive(self) -> bool:
        """False once the sandbox has gone (killed while idle): gVisor's kernel or runsc exited, or
        stdout is at EOF. (`runsc run` holds the pipes too, so EOF comes only once it has exited.)"""
        if self.proc.poll() is not None or not host_process_runs(self.sandbox_pid):
            return False
        readable, _, _ = select.select([self.stdout_fd], [], [], 0)
        return not readable  # an idle supervisor writes nothing: readable means EOF

    def diagnostics(self) -> str:
        """The end of runsc's and the supervisor's stderr, on one line."""
        try:
            text = (self.bundle / "runsc.log").read_bytes()[-4096:].decode("utf-8", "replace")
        except OSError:
            text = ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-3:])[-1000:] or "no output"

    # -------------------------------------------------------------- limits and lifecycle
    def limit_hit(self) -> str | None:
        if self.cgroup.oom_kills():
            return "memory"
        if self.cgroup.pids_refused():
            return "processes"
        return None

    def oom_killed(self) -> bool:
        return self.cgroup.oom_kills() > 0

    def destroy(self) -> None:
        """EOF first (the supervisor kills its programs and exits); force only a sandbox that hangs."""
        exited = self.proc is not None and stop(self.proc)
        remove_sandbox(self.id, still_known=not exited)


def stop(proc: subprocess.Popen) -> bool:
    """Close the supervisor's stdin and wait; True if `runsc run` ended by itself (it then has
    removed the sandbox from its state), False if it had to be killed."""
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        proc.wait(STOP_WAIT_S)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def remove_sandbox(container_id: str, still_known: bool = True) -> None:
    """Whatever is left of a sandbox: runsc's state (killing it if it still runs), its cgroup and
    its bundle folder."""
    if still_known and runsc_binary():
        subprocess.run(runsc("delete", "--force", container_id), capture_output=True, timeout=30)
    SandboxCgroup(container_id).remove()
    shutil.rmtree(BUNDLES / container_id, ignore_errors=True)


def kill(container_id: str, wait_s: float = 10.0) -> None:
    """SIGKILL the sandbox's init (the supervisor) and wait until gVisor's kernel, the host process
    that holds the supervisor's pipes, has exited: as `docker kill` leaves a container."""
    pid = sandbox_pid(container_id)
    subprocess.run(runsc("kill", container_id, "KILL"), check=True, capture_output=True, timeout=30)
    end = time.monotonic() + wait_s
    while host_process_runs(pid) and time.monotonic() < end:
        time.sleep(0.05)


def sandbox_pid(container_id: str) -> int:
    """The host pid of the sandbox's gVisor kernel."""
    state = subprocess.run(runsc("state", container_id), capture_output=True, text=True, check=True, timeout=30)
    return json.loads(state.stdout)["pid"]


def host_process_runs(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def list_sandboxes() -> dict[str, dict[str, str]]:
    """{id: labels} of every gVisor sandbox on this host that ttc made and has not removed."""
    found = {}
    for labels_file in BUNDLES.glob(f"*/{LABELS_FILE}"):
        try:
            found[labels_file.parent.name] = json.loads(labels_file.read_text())
        except (OSError, ValueError):
            found[labels_file.parent.name] = {}
    return found
