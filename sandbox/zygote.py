"""Pre-started interpreter: runs one `python3 -c CODE` or `python3 SCRIPT` program per request.

Starting python3 costs about 13 ms of CPU on a small machine, most of the price of a sandboxed
execution. The supervisor starts this file once (`python3 -c <this source> OUT_FD ERR_FD FD_SOCKET`,
as root, with the programs' base environment) and, per request, we fork: the child drops to the
request's uid exactly as a fresh program would be started (own session, no groups,
oom_score_adj 1000, stdio on the execution's pipes) and runs the code as `__main__` in an
interpreter whose state is that of a fresh `python3` (this file imports nothing a fresh
interpreter has not imported, and the child forgets what it did import). It then exits through
the normal interpreter shutdown, so atexit handlers, thread joins and buffered output behave as
usual. We stay root, so the program can neither signal nor trace us.

Differences from a fresh `python3`: the string hash seed is shared by the programs one
zygote starts (the supervisor restarts it every few dozen runs), `os.getppid()` is ours, and a
user site-packages directory shipped inside the workspace (/work/.local/...) is not added to
sys.path (we started before the files arrived).

    request (fd 0): u32 length | marshal((cmd, env, stdin bytes, uid, cwd or None, passes an fd))
    passed fd (the socket in our fourth argument, SCM_RIGHTS): the child's fd 3, when the request says so
    replies (fd 1): u32 length | marshal(child pid), then u32 length | marshal(wait status)
"""
import sys

BASELINE_MODULES = frozenset(sys.modules)

import gc  # noqa: E402  (after the baseline on purpose: the child forgets it)
import marshal  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402  (receives passed descriptors; forgotten by the child too)


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            os._exit(0)  # the supervisor went away
        data += chunk
    return data


def send(value):
    data = marshal.dumps(value)
    os.write(1, len(data).to_bytes(4, "big") + data)


def serve(out_fd, err_fd, fd_channel):
    """Fork a child per request; only the child returns (with its command line)."""
    gc.freeze()  # keep the collector from touching (and copying) our pages in every child
    while True:
        cmd, env, stdin_data, uid, cwd, passes_fd = marshal.loads(read_exact(int.from_bytes(read_exact(4), "big")))
        passed = receive_fd(fd_channel) if passes_fd else None
        pid = os.fork()
        if pid == 0:
            fd_channel.detach()  # closed below with every other descriptor; its object must not close it again
            become_program(uid, out_fd, err_fd, env, stdin_data, cwd, passed)
            return cmd
        if passed is not None:
            os.close(passed)
        send(pid)
        send(os.waitpid(pid, 0)[1])


def receive_fd(fd_channel):
    _, fds, _, _ = socket.recv_fds(fd_channel, 1, 1)
    return fds[0]


def become_program(uid, out_fd, err_fd, env, stdin_data, cwd=None, passed=None):
    if cwd is not None:
        os.chdir(cwd)  # as root, before the uid drop: the peer's directory is 0711 for us
    os.setsid()
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # the OOM killer's first choice, as the supervisor starts programs
    stdin_r, stdin_w = os.pipe()
    os.write(stdin_w, stdin_data)  # the supervisor sends at most one pipe buffer (64 KiB)
    os.close(stdin_w)
    for fd, target in ((stdin_r, 0), (out_fd, 1), (err_fd, 2)) + (((passed, 3),) if passed is not None else ()):
        os.dup2(fd, target)
    os.closerange(3 if passed is None else 4, 1 << 16)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.environ.clear()
    os.environ.update(env)
    for name in set(sys.modules) - BASELINE_MODULES:
        del sys.modules[name]
    gc.unfreeze()


def run_as_main(cmd):
    """What `python3 -c CODE ARGS` / `python3 SCRIPT ARGS` do once the interpreter is up."""
    main = type(sys)("__main__")
    main.__builtins__, main.__annotations__ = sys.modules["builtins"], {}
    sys.modules["__main__"] = main
    sys.orig_argv = list(cmd)
    if cmd[1] == "-c":
        sys.argv = ["-c", *cmd[3:]]
        main.__loader__ = sys.modules["_frozen_importlib"].BuiltinImporter
        source, filename = cmd[2], "<string>"
    else:
        filename = os.path.abspath(cmd[1])
        sys.argv = list(cmd[1:])
        sys.path[0] = os.path.dirname(os.path.realpath(cmd[1]))
        main.__file__, main.__cached__ = filename, None
        main.__loader__ = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", filename)
        try:
            with open(cmd[1], "rb") as f:
                source = f.read()
        except OSError as exc:
            sys.stderr.write(f"{cmd[0]}: can't open file {filename!r}: [Errno {exc.errno}] {exc.strerror}\n")
            raise SystemExit(2) from None
    exec(compile(source, filename, "exec"), main.__dict__)


def report_uncaught(exc):
    """Print as the interpreter does for an uncaught exception, without our own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # it prints exc.__traceback__


def main():
    out_fd, err_fd, channel_fd = (int(arg) for arg in sys.argv[1:4])
    cmd = serve(out_fd, err_fd, socket.socket(fileno=channel_fd))
    try:
        run_as_main(cmd)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001  (an uncaught exception of the program)
        report_uncaught(exc)
        raise SystemExit(1) from None


main()
