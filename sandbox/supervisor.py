"""In-container supervisor: runs each program as an unprivileged uid, then erases every trace of it.

Runs as root inside a hardened container (capabilities: SETUID, SETGID, KILL only) with the
container's stdin/stdout attached to the pool. Standard library only: the pool passes this file's
source as `python3 -c`, so any image with python3 works. One request at a time:

    request:  u32 header length | JSON header | file bytes... | stdin bytes
    response: u32 header length | JSON header | stdout bytes | stderr bytes

Per execution: write the files as the sandbox uid, fork, drop to the sandbox uid (no groups, no
capabilities, own session, oom_score_adj 1000 so the OOM killer picks the program, not us), exec;
stream both outputs keeping the first `output_bytes`; at exit or timeout SIGKILL every process
but init and ourselves (setsid/daemonised escapees included), then wipe /work, /tmp, /dev/shm,
/dev/mqueue and SysV IPC objects. If the pool's stream closes (the pool died), exit at once: the
container then stops and Docker removes it.
"""
import ctypes
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

WORK = "/work"
SCRATCH_DIRS = (WORK, "/tmp", "/dev/shm", "/dev/mqueue")
OOM_CONTROL = "/sys/fs/cgroup/memory/memory.oom_control"
OOM_EVENTS_V2 = "/sys/fs/cgroup/memory.events"
CHUNK = 1 << 16
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORK, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
LIBC = ctypes.CDLL(None, use_errno=True)
IPC_RMID = 0


class PoolGone(Exception):
    """Our stdin closed: the pool that owns this container is gone."""


# ---------------------------------------------------------------- framing

def read_exact(n):
    chunks, left = [], n
    while left:
        chunk = os.read(0, min(left, 1 << 20))
        if not chunk:
            raise PoolGone()
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_request():
    (length,) = struct.unpack(">I", read_exact(4))
    return json.loads(read_exact(length))


def send(header, *blobs):
    raw = json.dumps(header).encode()
    write_all(1, struct.pack(">I", len(raw)) + raw + b"".join(blobs))


# ---------------------------------------------------------------- identity

class AsSandboxUser:
    """Temporarily act (on the file system) as the sandbox uid; saved uid 0 lets us come back."""

    def __init__(self, uid):
        self.uid = uid

    def __enter__(self):
        os.setegid(self.uid)
        os.seteuid(self.uid)

    def __exit__(self, *exc):
        os.seteuid(0)
        os.setegid(0)


# ---------------------------------------------------------------- files

def safe_path(rel):
    path = os.path.normpath(os.path.join(WORK, rel))
    if not path.startswith(WORK + "/"):
        raise ValueError(f"file path {rel!r} leaves the workspace")
    return path


def write_files(files, uid):
    with AsSandboxUser(uid):
        for rel, data in files:
            path = safe_path(rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)


def wipe_tree(top, remove_top=False):
    """Delete everything under `top`; dirs are made writable first (the program may chmod them)."""
    if remove_top:
        os.chmod(top, 0o700)
    for entry in os.scandir(top):
        if entry.is_dir(follow_symlinks=False):
            wipe_tree(entry.path, remove_top=True)
        else:
            os.unlink(entry.path)
    if remove_top:
        os.rmdir(top)


def wipe_scratch(uid):
    with AsSandboxUser(uid):
        os.chmod(WORK, 0o700)
        for top in SCRATCH_DIRS:
            if os.path.isdir(top):
                wipe_tree(top)
        remove_sysv_ipc(uid)


def remove_sysv_ipc(uid):
    """Shared memory, semaphores and message queues outlive processes; drop the sandbox uid's."""
    for ipc_id in sysv_ids("/proc/sysvipc/shm", uid):
        LIBC.shmctl(ipc_id, IPC_RMID, None)
    for ipc_id in sysv_ids("/proc/sysvipc/sem", uid):
        LIBC.semctl(ipc_id, 0, IPC_RMID)
    for ipc_id in sysv_ids("/proc/sysvipc/msg", uid):
        LIBC.msgctl(ipc_id, IPC_RMID, None)


def sysv_ids(table, uid):
    """Ids (second column: shmid/semid/msqid) of the objects owned by `uid`."""
    try:
        with open(table) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    header = lines[0].split() if lines else []
    if "uid" not in header:
        return []
    uid_col = header.index("uid")
    return [int(cols[1]) for cols in (line.split() for line in lines[1:])
            if len(cols) > uid_col and int(cols[uid_col]) == uid]


# ---------------------------------------------------------------- processes

def live_pids(include_zombies=False):
    me, pids = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            try:
                with open(f"/proc/{name}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if include_zombies or state not in ("Z", "X"):
                pids.append(int(name))
    return pids


def kill_everything(deadline_s=3.0):
    """SIGKILL every process but init and us; returns (none left alive, {reaped pid: status})."""
    end, reaped = time.monotonic() + deadline_s, {}
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reaped.update(reap_children())
        # zombies too: orphans are reaped by init, and the next run must not even see them
        if not live_pids(include_zombies=True):
            return True, reaped
        if time.monotonic() > end:
            return False, reaped
        time.sleep(0.001)


def reap_children():
    """Our own children only (orphans belong to init); {pid: wait status}."""
    reaped = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped[pid] = status


def spawn(cmd, env, uid):
    """Start `cmd` as the sandbox uid (no groups, own session); (Popen, stdin_w, stdout_r, stderr_r).

    subprocess drops the ids in C between fork and exec. The cwd is inherited: we live in /work
    (root without CAP_DAC_OVERRIDE may not enter the 0700 workspace; the program may).
    oom_score_adj is inherited and may return to 0 without privileges, so we raise ours just
    around the fork: the program starts as the OOM killer's first choice and we do not.
    """
    pipes = [os.pipe() for _ in range(3)]
    child_ends = [pipes[0][0], pipes[1][1], pipes[2][1]]
    set_oom_score_adj(1000)
    try:
        proc = subprocess.Popen(cmd, stdin=child_ends[0], stdout=child_ends[1], stderr=child_ends[2],
                                env=env, user=uid, group=uid, extra_groups=[],
                                start_new_session=True, close_fds=True, restore_signals=True)
    finally:
        set_oom_score_adj(0)
        for fd in child_ends:
            os.close(fd)
    return proc, pipes[0][1], pipes[1][0], pipes[2][0]


def set_oom_score_adj(value):
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))


# ---------------------------------------------------------------- one execution

class Capture:
    def __init__(self, cap):
        self.cap, self.parts, self.size, self.truncated = cap, [], 0, False

    def add(self, data):
        room = self.cap - self.size
        if len(data) > room:
            self.truncated = True
            data = data[:max(room, 0)]
        if data:
            self.parts.append(data)
            self.size += len(data)

    def bytes(self):
        return b"".join(self.parts)


def pump(pid, stdin_fd, stdin_data, outs, deadline):
    """Feed stdin, collect outputs until the child exits or the deadline; returns (status, timed_out)."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    fds = {fd: cap for fd, cap in outs}
    for fd in fds:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    poller.register(0, select.POLLIN)  # only EOF/HUP expected here: the pool went away
    os.set_blocking(stdin_fd, False)
    pending = memoryview(stdin_data)
    pending = pending[write_some(stdin_fd, pending):] if pending else pending
    if pending:
        poller.register(stdin_fd, select.POLLOUT)
    else:
        os.close(stdin_fd)
        stdin_fd = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, True
            for fd, event in poller.poll(left * 1000):
                if fd == pidfd:
                    return os.waitpid(pid, 0)[1], False
                if fd == 0:
                    if event & (select.POLLHUP | select.POLLERR):
                        raise PoolGone()
                    poller.unregister(0)  # early bytes of a next request: not ours to read now
                    continue
                if fd == stdin_fd:
                    pending = pending[write_some(fd, pending):]
                    if not pending or event & (select.POLLERR | select.POLLHUP):
                        poller.unregister(fd)
                        os.close(fd)
                        stdin_fd = None
                    continue
                data = os.read(fd, CHUNK) if event & (select.POLLIN | select.POLLHUP) else b""
                if data:
                    fds[fd].add(data)
                else:
                    poller.unregister(fd)
    finally:
        os.close(pidfd)
        if stdin_fd is not None:
            os.close(stdin_fd)


def write_some(fd, data):
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0
    except BrokenPipeError:
        return len(data)


def drain(outs, until):
    """Read what is left in the pipes once every writer is dead (or `until` passes)."""
    for fd, cap in outs:
        os.set_blocking(fd, False)
        while time.monotonic() < until:
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                select.select([fd], [], [], max(until - time.monotonic(), 0))
                continue
            if not data:
                break
            cap.add(data)
        os.close(fd)


def oom_kills():
    for path in (OOM_CONTROL, OOM_EVENTS_V2):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return 0


def split_payload(req, payload):
    files, offset = [], 0
    for path, size in req["files"]:
        files.append((path, payload[offset:offset + size]))
        offset += size
    return files, payload[offset:]


def execute(req, payload, uid):
    files, stdin_data = split_payload(req, payload)
    write_files(files, uid)
    env = {**BASE_ENV, **req.get("env", {})}
    outs = [Capture(req["output_bytes"]), Capture(req["output_bytes"])]
    oom_before = oom_kills()
    start = time.monotonic()
    try:
        proc, stdin_fd, out_fd, err_fd = spawn(req["cmd"], env, uid)
    except OSError as exc:  # not found / not executable: the program's failure, as a shell reports it
        outs[1].add(f"sandbox: cannot execute {req['cmd'][0]!r}: {exc.strerror}\n".encode())
        return result(127 << 8, False, outs, False, time.monotonic() - start, True)
    fds = [(out_fd, outs[0]), (err_fd, outs[1])]
    try:
        status, timed_out = pump(proc.pid, stdin_fd, stdin_data, fds, start + req["timeout_s"])
    except PoolGone:
        kill_everything()
        raise
    clean, reaped = kill_everything()
    if status is None:
        status = reaped[proc.pid] if proc.pid in reaped else wait_status(proc.pid)
    proc.returncode = status  # reaped by us; keeps subprocess from waiting on the pid again
    duration = time.monotonic() - start
    drain(fds, time.monotonic() + 1.0)
    return result(status, timed_out, outs, oom_kills() > oom_before, duration, clean)


def wait_status(pid):
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def result(status, timed_out, outs, oom, duration, clean):
    exit_code = None
    if status is not None:
        exit_code = os.waitstatus_to_exitcode(status)
    out, err = outs
    header = {"exit_code": exit_code, "timed_out": timed_out, "oom": oom and not timed_out,
              "truncated": out.truncated or err.truncated, "duration_s": duration,
              "poisoned": not clean}
    return header, out.bytes(), err.bytes()


def handle(req, uid):
    payload = read_exact(req["payload"])
    if req["op"] == "ping":
        return {"pong": True}, b"", b""
    try:
        header, out, err = execute(req, payload, uid)
    except (OSError, ValueError) as exc:
        kill_everything()
        header, out, err = {"error": f"{type(exc).__name__}: {exc}", "poisoned": False}, b"", b""
    try:
        wipe_scratch(uid)
    except OSError as exc:
        header["poisoned"] = True
        header["error"] = f"workspace could not be wiped: {exc}"
    header["stdout_len"], header["stderr_len"] = len(out), len(err)
    return header, out, err


def main():
    uid = int(sys.argv[1]) if len(sys.argv) > 1 else 10001
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        while True:
            req = read_request()
            header, out, err = handle(req, uid)
            send(header, out, err)
    except PoolGone:
        kill_everything(1.0)
        return


if __name__ == "__main__":
    main()
