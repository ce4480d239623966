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

A request may name a peer: a second program, run at the same time as another unprivileged uid
(PEER_UID) in its own directory (PEER_DIR, which the first program's uid cannot list), the two
joined by a socketpair whose end each finds in $SANDBOX_PEER_FD; they share no other descriptor. The
peer's stdout and stderr come back as a third blob. The execution ends when the first program
exits, and the peer is killed with everything else. A code verifier runs its harness as the first
program and the candidate as the peer, so the candidate can reach neither the tests nor the
harness's output.

`python3 -c CODE` and `python3 SCRIPT` programs (when the request allows it) are not exec'd but
forked from a pre-started interpreter (zygote.py, passed as our second argument), which saves
the interpreter's start-up; everything after the fork (uid, limits, kill, wipe) is the same.
"""
import ctypes
import errno
import json
import marshal
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

WORK = "/work"
SCRATCH_DIRS = (WORK, "/tmp", "/dev/shm", "/dev/mqueue")
PEER_DIR = "/tmp/ttc-peer"
PEER_FD_ENV = "SANDBOX_PEER_FD"
OOM_CONTROL = "/sys/fs/cgroup/memory/memory.oom_control"
OOM_EVENTS_V2 = "/sys/fs/cgroup/memory.events"
CHUNK = 1 << 16
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORK, "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
LIBC = ctypes.CDLL(None, use_errno=True)
IPC_RMID, IPC_PRIVATE = 0, 0
SYSV_TABLES = "/proc/sysvipc"
# Without /proc/sysvipc (gVisor) the ids handed out since the last wipe are tried one by one; a
# program that used more than this many is not worth the scan: its container is replaced instead.
MAX_SYSV_SCAN = 1 << 16
LAST_SYSV_PROBE = {}  # kind -> the id of the last probe object (see new_sysv_ids)
# The read end of a SIGCHLD wake-up pipe where the kernel has no pidfd_open (gVisor); see main().
SIGCHLD_FD = None


class PoolGone(Exception):
    """Our stdin closed: the pool that owns this container is gone."""


# ---------------------------------------------------------------- framing

def read_exact(n, fd=0, gone=PoolGone):
    """`n` bytes from `fd` (the pool's stream by default); `gone` is raised at EOF."""
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise gone()
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

def safe_path(rel, root=WORK):
    path = os.path.normpath(os.path.join(root, rel))
    if not path.startswith(root + "/"):
        raise ValueError(f"file path {rel!r} leaves the workspace")
    return path


def write_files(files, uid, root=WORK):
    with AsSandboxUser(uid):
        if root == WORK:
            os.chmod(WORK, 0o700)  # Docker mounts the tmpfs 0755 whatever its mode option says
        else:
            os.mkdir(root, 0o711)  # we (root without DAC_OVERRIDE) must enter it to start the peer
        for rel, data in files:
            path = safe_path(rel, root)
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


def wipe_scratch(uid, peer_uid=None):
    ipc_ids = new_sysv_ids()
    if peer_uid is not None:
        wipe_owned_by(peer_uid, ipc_ids)
    with AsSandboxUser(uid):
        os.chmod(WORK, 0o700)
        for top in SCRATCH_DIRS:
            if os.path.isdir(top):
                wipe_tree(top)
        remove_sysv_ipc(uid, ipc_ids)


def wipe_owned_by(uid, ipc_ids=None):
    """What `uid` left in the shared scratch dirs (sticky: only the owner may delete), as `uid`."""
    with AsSandboxUser(uid):
        for top in SCRATCH_DIRS[1:]:
            if not os.path.isdir(top):
                continue
            for entry in os.scandir(top):
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    wipe_tree(entry.path, remove_top=True)
                else:
                    os.unlink(entry.path)
        remove_sysv_ipc(uid, ipc_ids)


def sysv_removers():
    return {"shm": lambda i: LIBC.shmctl(i, IPC_RMID, None), "sem": lambda i: LIBC.semctl(i, 0, IPC_RMID),
            "msg": lambda i: LIBC.msgctl(i, IPC_RMID, None)}


def remove_sysv_ipc(uid, ipc_ids=None):
    """Shared memory, semaphores and message queues outlive processes; drop the sandbox uid's
    (as that uid: only an object's owner may remove it). `ipc_ids`: {kind: ids} to try where
    /proc/sysvipc does not list them (see new_sysv_ids)."""
    removers = sysv_removers()
    for kind, remove in removers.items():
        ids = ipc_ids[kind] if ipc_ids is not None else sysv_ids(f"{SYSV_TABLES}/{kind}", uid)
        for ipc_id in ids:
            remove(ipc_id)  # another uid's object, or none at that id: refused, harmlessly


def new_sysv_ids():
    """None where /proc/sysvipc lists the objects. Else (gVisor) {kind: every id handed out since
    the last call}: ids are given in increasing order, so a probe object made now (and removed at
    once) marks the end of the range the last execution could have used."""
    if os.path.isdir(SYSV_TABLES):
        return None
    makers = {"shm": lambda: LIBC.shmget(IPC_PRIVATE, 1, 0o600), "sem": lambda: LIBC.semget(IPC_PRIVATE, 1, 0o600),
              "msg": lambda: LIBC.msgget(IPC_PRIVATE, 0o600)}
    removers, ranges = sysv_removers(), {}
    for kind, make in makers.items():
        probe = make()
        if probe < 0:
            raise OSError(ctypes.get_errno(), f"cannot make a SysV {kind} probe")
        removers[kind](probe)
        first = LAST_SYSV_PROBE.get(kind, -1) + 1
        LAST_SYSV_PROBE[kind] = probe
        if not 0 <= probe - first <= MAX_SYSV_SCAN:
            raise OSError(errno.E2BIG, f"the program used more than {MAX_SYSV_SCAN} SysV {kind} ids")
        ranges[kind] = range(first, probe)
    return ranges


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


def kill_everything(deadline_s=3.0, spare=()):
    """SIGKILL every process but init, us and `spare`; returns (none left, {reaped pid: status})."""
    end, reaped = time.monotonic() + deadline_s, {}
    while True:
        kill_all_but(spare)
        reaped.update(reap_children())
        # zombies too: orphans are reaped by init, and the next run must not even see them
        if not [pid for pid in live_pids(include_zombies=True) if pid not in spare]:
            return True, reaped
        if time.monotonic() > end:
            return False, reaped
        time.sleep(0.001)


def kill_all_but(spare):
    """kill(-1) when nothing is spared (atomic against fork bombs); else pid by pid, and the
    caller's loop catches what was forked in between."""
    targets = [-1] if not spare else [pid for pid in live_pids() if pid not in spare]
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def spawn(cmd, env, uid, pass_fds=(), cwd=None):
    """Start `cmd` as `uid` (no groups, own session); (Popen, stdin_w, stdout_r, stderr_r).

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
                                env=env, user=uid, group=uid, extra_groups=[], cwd=cwd,
                                start_new_session=True, close_fds=True, pass_fds=pass_fds,
                                restore_signals=True)
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


class FreshProcess:
    """The program exec'd in a child of ours, with its own pipes."""

    def __init__(self, cmd, env, uid, stdin_data, pass_fds=(), cwd=None):
        self.proc, self.stdin_fd, out_fd, err_fd = spawn(cmd, env, uid, pass_fds, cwd)
        self.stdin_data, self.output_fds = stdin_data, (out_fd, err_fd)
        self.exit_fd = os.pidfd_open(self.proc.pid) if SIGCHLD_FD is None else SIGCHLD_FD

    def exited(self):
        """Whether the program has exited (not reaped: status() does that). A pidfd is readable
        only then; the SIGCHLD pipe wakes for any child of ours."""
        if SIGCHLD_FD is None:
            return True
        while read_some(SIGCHLD_FD):
            pass
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def status(self, reaped):
        pid = self.proc.pid
        status = reaped[pid] if pid in reaped else wait_status(pid)
        self.proc.returncode = status  # reaped by us; keeps subprocess from waiting on the pid again
        return status

    def drain(self, outs):
        drain_to_eof(zip(self.output_fds, outs), time.monotonic() + 1.0)

    def close(self):
        if self.exit_fd != SIGCHLD_FD:
            os.close(self.exit_fd)


class ZygoteProcess:
    """The program forked from the pre-started interpreter; outputs on the zygote's pipes."""

    stdin_fd, stdin_data = None, b""  # the zygote hands stdin to the child itself

    def __init__(self, zygote, cmd, env, stdin_data, uid=None, cwd=None, pass_fd=None):
        self.zygote = zygote
        zygote.start_program(cmd, env, stdin_data, uid, cwd, pass_fd)
        self.exit_fd = zygote.reply_r
        self.output_fds = (zygote.out_r, zygote.err_r)

    def exited(self):
        return True  # its exit fd is the zygote's reply pipe, written when the child ended

    def status(self, reaped):
        try:
            return self.zygote.read_reply()
        except OSError:
            return None  # the zygote died with the program: no status to report

    def drain(self, outs):
        for fd, cap in zip(self.output_fds, outs):
            drain_until_empty(fd, cap)

    def close(self):
        pass


def pump(process, outs, deadline, more_outputs=None):
    """Feed stdin, collect outputs (the program's, and `more_outputs`: {fd: Capture}) until the
    program exits or the deadline; True if timed out."""
    poller = select.poll()
    fds = {**dict(zip(process.output_fds, outs)), **(more_outputs or {})}
    for fd in (*fds, process.exit_fd):
        poller.register(fd, select.POLLIN)
    poller.register(0, select.POLLIN)  # only EOF/HUP expected here: the pool went away
    stdin_fd, pending = process.stdin_fd, memoryview(process.stdin_data)
    if stdin_fd is not None:
        os.set_blocking(stdin_fd, False)
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
                return True
            for fd, event in poller.poll(left * 1000):
                if fd == process.exit_fd:
                    if process.exited():
                        return False
                    continue
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
                data = read_some(fd) if event & (select.POLLIN | select.POLLHUP) else b""
                if data:
                    fds[fd].add(data)
                elif data is not None:
                    poller.unregister(fd)
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)


def write_some(fd, data):
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0
    except BrokenPipeError:
        return len(data)


def read_some(fd):
    """Bytes, b"" at EOF, or None if nothing is there after all (non-blocking zygote pipes)."""
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return None


def drain_to_eof(outs, until):
    """Read what is left in our own pipes once every writer is dead (or `until` passes)."""
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


def drain_until_empty(fd, cap):
    """The zygote keeps the write ends open, so no EOF comes: once every program process is
    dead, an empty pipe is the end of the output."""
    while True:
        data = read_some(fd)
        if not data:
            return
        cap.add(data)


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
    """(the program's files, the peer's files, stdin) from the request's payload."""
    files, offset = [], 0
    for path, size in req["files"]:
        files.append((path, payload[offset:offset + size]))
        offset += size
    peer_files = []
    for path, size in (req.get("peer") or {}).get("files", []):
        peer_files.append((path, payload[offset:offset + size]))
        offset += size
    return files, peer_files, payload[offset:]


def launch(req, env, uid, stdin_data, zygote):
    """Fork from the zygote when the command is one it can run; else exec a fresh process."""
    if zygote is not None and zygote_can_run(req["cmd"], req.get("env", {}), stdin_data):
        try:
            return ZygoteProcess(zygote.ready(), req["cmd"], env, stdin_data)
        except OSError:
            zygote.stop()  # broken: the next run starts a new one; this one runs fresh
    return FreshProcess(req["cmd"], env, uid, stdin_data)


def execute(req, payload, uid, zygote=None):
    files, peer_files, stdin_data = split_payload(req, payload)
    write_files(files, uid)
    if req.get("peer"):
        write_files(peer_files, uid + 1, PEER_DIR)
    env = {**BASE_ENV, **req.get("env", {})}
    outs = [Capture(req["output_bytes"]), Capture(req["output_bytes"]), Capture(req["output_bytes"])]
    oom_before = oom_kills()
    start = time.monotonic()
    try:
        process, peer = launch_pair(req, env, uid, stdin_data, zygote) if req.get("peer") else \
            (launch(req, env, uid, stdin_data, zygote), None)
    except OSError as exc:  # not found / not executable: the program's failure, as a shell reports it
        outs[1].add(f"sandbox: cannot execute {req['cmd'][0]!r}: {exc.strerror}\n".encode())
        return result(127 << 8, False, outs, False, time.monotonic() - start, True)
    peer_outputs = {fd: outs[2] for fd in peer.output_fds} if peer else {}
    try:
        timed_out = pump(process, outs[:2], start + req["timeout_s"], peer_outputs)
        # a live zygote survives every execution, also those it did not start
        clean, reaped = kill_everything(spare=zygote.pids() if zygote is not None else ())
        status = process.status(reaped)
        duration = time.monotonic() - start
        process.drain(outs[:2])
        peer_status = peer.status(reaped) if peer else None
        if peer:
            peer.drain([outs[2], outs[2]])
    except PoolGone:
        kill_everything()
        raise
    finally:
        process.close()
        if peer:
            peer.close()
    header, *blobs = result(status, timed_out, outs, oom_kills() > oom_before, duration, clean)
    if peer_status is not None:
        header["peer_exit_code"] = os.waitstatus_to_exitcode(peer_status)
    return (header, *blobs)


def launch_pair(req, env, uid, stdin_data, zygote=None):
    """The program and its peer (uid + 1, in PEER_DIR), joined by a socketpair and nothing else.
    The peer forks from the zygote when it can (it gets its end of the socket as fd 3)."""
    main_end, peer_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        peer = launch_peer(req["peer"]["cmd"], uid + 1, peer_end.fileno(), zygote)
        try:
            env = {**env, PEER_FD_ENV: str(main_end.fileno())}
            process = FreshProcess(req["cmd"], env, uid, stdin_data, (main_end.fileno(),))
        except OSError:
            kill_everything(spare=zygote.pids() if zygote is not None else ())
            peer.close()
            raise
    finally:
        main_end.close()
        peer_end.close()
    return process, peer


def launch_peer(cmd, peer_uid, fd, zygote):
    if zygote is not None and zygote_can_run(cmd, {}, b""):
        try:
            env = {**BASE_ENV, "HOME": PEER_DIR, PEER_FD_ENV: str(ZYGOTE_PASSED_FD)}
            return ZygoteProcess(zygote.ready(), cmd, env, b"", peer_uid, PEER_DIR, fd)
        except OSError:
            zygote.stop()  # broken: the next run starts a new one; this peer runs fresh
    peer = FreshProcess(cmd, {**BASE_ENV, "HOME": PEER_DIR, PEER_FD_ENV: str(fd)}, peer_uid, b"", (fd,), PEER_DIR)
    os.close(peer.stdin_fd)
    return peer



def wait_status(pid):
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def result(status, timed_out, outs, oom, duration, clean):
    exit_code = None
    if status is not None:
        exit_code = os.waitstatus_to_exitcode(status)
    out, err, peer_out = (*outs, Capture(0))[:3]
    header = {"exit_code": exit_code, "timed_out": timed_out, "oom": oom and not timed_out,
              "truncated": out.truncated or err.truncated, "duration_s": duration,
              "poisoned": not clean}
    return header, out.bytes(), err.bytes(), peer_out.bytes()


# ---------------------------------------------------------------- the zygote

ZYGOTE_COMMANDS = ("python3", "/usr/bin/python3")
STARTUP_ENV = ("PATH", "HOME", "LANG", "LANGUAGE")  # read while the interpreter starts
ZYGOTE_STDIN_MAX = 1 << 16  # one pipe buffer: the zygote's child writes it before it runs
ZYGOTE_RUNS = 64  # then a new zygote, so that hash seeds do not stay the same for long
ZYGOTE_PASSED_FD = 3  # where a zygote child finds a descriptor passed with its request


def zygote_can_run(cmd, extra_env, stdin_data):
    """`python3 -c CODE ...` or `python3 SCRIPT ...`, no interpreter options, and nothing in the
    environment that a fresh interpreter would have read differently at start-up."""
    if len(cmd) < 2 or cmd[0] not in ZYGOTE_COMMANDS or len(stdin_data) > ZYGOTE_STDIN_MAX:
        return False
    if cmd[1] == "-c" and len(cmd) < 3 or cmd[1].startswith("-") and cmd[1] != "-c":
        return False
    return not any(key in STARTUP_ENV or key.startswith(("PYTHON", "LC_")) for key in extra_env)


class ZygoteGone(OSError):
    """The zygote's reply pipe closed: it exited."""


class Zygote:
    """The pre-started interpreter (sandbox/zygote.py), a child of ours running as root."""

    def __init__(self, source, uid):
        self.source, self.uid, self.proc, self.runs = source, uid, None, 0

    def ready(self):
        if not self.pids() or self.runs >= ZYGOTE_RUNS:
            self.stop()
            self.start()
        self.runs += 1
        return self

    def pids(self):
        return (self.proc.pid,) if self.proc is not None and self.proc.poll() is None else ()

    def start(self):
        (req_r, self.req_w), (self.reply_r, reply_w) = os.pipe(), os.pipe()
        (self.out_r, out_w), (self.err_r, err_w) = os.pipe(), os.pipe()
        self.fd_sender, fd_receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)  # SCM_RIGHTS
        try:
            self.proc = subprocess.Popen(
                ["python3", "-c", self.source, str(out_w), str(err_w), str(fd_receiver.fileno())],
                stdin=req_r, stdout=reply_w, env=BASE_ENV, pass_fds=(out_w, err_w, fd_receiver.fileno()),
                close_fds=True)
        finally:
            for fd in (req_r, reply_w, out_w, err_w):
                os.close(fd)
            fd_receiver.close()
        for fd in (self.out_r, self.err_r):
            os.set_blocking(fd, False)
        self.runs = 0

    def start_program(self, cmd, env, stdin_data, uid=None, cwd=None, pass_fd=None):
        """`uid` (default: the sandbox uid) and `cwd` for the child; `pass_fd` becomes its fd 3."""
        request = (list(cmd), env, bytes(stdin_data), uid or self.uid, cwd, pass_fd is not None)
        data = marshal.dumps(request)
        default = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a dead zygote: EPIPE, not our death
        try:
            write_all(self.req_w, len(data).to_bytes(4, "big") + data)
            if pass_fd is not None:
                socket.send_fds(self.fd_sender, [b"f"], [pass_fd])
        finally:
            signal.signal(signal.SIGPIPE, default)
        return self.read_reply()  # the child's pid: it exists now

    def read_reply(self):
        length = int.from_bytes(read_exact(4, self.reply_r, ZygoteGone), "big")
        return marshal.loads(read_exact(length, self.reply_r, ZygoteGone))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.req_w, self.reply_r, self.out_r, self.err_r):
            os.close(fd)
        self.fd_sender.close()
        self.proc = None


# ---------------------------------------------------------------- the request loop

def handle(req, uid, zygote):
    payload = read_exact(req["payload"])
    if req["op"] == "ping":
        return {"pong": True}, b"", b"", b""
    try:
        header, out, err, peer_out = execute(req, payload, uid, zygote if req.get("zygote") else None)
    except (OSError, ValueError) as exc:
        kill_everything()
        if zygote is not None:
            zygote.stop()  # killed above with everything else
        header, out, err, peer_out = {"error": f"{type(exc).__name__}: {exc}", "poisoned": False}, b"", b"", b""
    try:
        wipe_scratch(uid, uid + 1 if req.get("peer") else None)
    except OSError as exc:
        header["poisoned"] = True
        header["error"] = f"workspace could not be wiped: {exc}"
    header["stdout_len"], header["stderr_len"], header["peer_output_len"] = len(out), len(err), len(peer_out)
    return header, out, err, peer_out


def sigchld_wakeup_fd():
    """None where pidfd_open works; else (gVisor has none) the read end of a pipe that gets a
    byte at every SIGCHLD, set up before any child exists so that no exit goes unnoticed."""
    global SIGCHLD_FD
    try:
        os.close(os.pidfd_open(os.getpid()))
        return None
    except OSError as exc:
        if exc.errno != errno.ENOSYS:
            raise
    read_end, write_end = os.pipe()
    for fd in (read_end, write_end):
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wake-up fd is written
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    SIGCHLD_FD = read_end
    return read_end


def main():
    uid = int(sys.argv[1]) if len(sys.argv) > 1 else 10001
    zygote = Zygote(sys.argv[2], uid) if len(sys.argv) > 2 else None
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sigchld_wakeup_fd()
    try:
        while True:
            req = read_request()
            send(*handle(req, uid, zygote))
    except PoolGone:
        kill_everything(1.0)
        return


if __name__ == "__main__":
    main()
