"""Hostile programs: each is contained, and the same pool (one container) still works after.

Every test runs under both runtimes (runc, gvisor) and both ways of starting python3 (forked from
the zygote, exec'd fresh). Under gVisor a memory bomb ends the whole sandbox: the pool reports it
as the program's result and starts a new one, which the checks after it then use.
"""
from __future__ import annotations

import ast
import os
import time

import pytest

from sandbox import Limits, SandboxPool
from tests.sandbox.conftest import kill_container, pool_containers

pytestmark = pytest.mark.docker

LIMITS = Limits(timeout_s=5, memory_mb=256, pids=64, tmpfs_mb=32, output_bytes=1_000_000)
# Other processes this program can see: init, the root supervisor and its root interpreter zygote
# are expected (under gVisor the supervisor is pid 1); nothing of the sandbox uid may be left
# from an earlier execution.
OTHERS = ("import os\n"
          "me = os.getpid()\n"
          "procs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, me)]\n"
          "owners = [os.stat('/proc/' + p).st_uid for p in procs]\n"
          "print(set(owners) <= {0}, len(owners) <= 2)\n")
# The scratch folders, and what is in them (gVisor has no POSIX message queues: no /dev/mqueue)
SCRATCH = ("import os\n"
           "print({d: os.listdir(d) for d in ('/work', '/tmp', '/dev/shm', '/dev/mqueue') if os.path.isdir(d)})")
SCRATCH_DIRS = {"runc": {"/work", "/tmp", "/dev/shm", "/dev/mqueue"}, "gvisor": {"/work", "/tmp", "/dev/shm"}}


@pytest.fixture(scope="module", params=[True, False], ids=["zygote", "fresh-exec"])
def hostile_pool(sandbox_image, sandbox_runtime, request):
    # size 1: every hostile program and every check after it share one container; python3
    # programs are forked from the interpreter zygote, or exec'd fresh by the supervisor
    limits = LIMITS.model_copy(update={"python_zygote": request.param})
    pool = SandboxPool(size=1, image=sandbox_image, limits=limits, runtime=sandbox_runtime)
    yield pool
    pool.close()
    assert pool_containers([pool.pool_id]) == []


def py(pool, code, **kwargs):
    return pool.run(["python3", "-c", code], **kwargs)


def assert_pool_healthy(pool):
    r = py(pool, "print(6*7)")
    assert (r.exit_code, r.stdout, r.error) == (0, "42\n", None), r
    r = pool.run(["sh", "-c", "echo $((6*7))"])  # never forked from the zygote
    assert (r.exit_code, r.stdout, r.error) == (0, "42\n", None), r
    r = py(pool, OTHERS)
    assert r.stdout == "True True\n", f"leftover processes: {r.stdout}{r.stderr}"
    r = py(pool, SCRATCH)
    assert ast.literal_eval(r.stdout) == {d: [] for d in SCRATCH_DIRS[pool.runtime]}, r.stdout + r.stderr


def test_program_is_unprivileged(hostile_pool):
    probe = ("import ctypes, os\n"
             "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
             "no_new_privs = ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)\n"  # PR_GET_NO_NEW_PRIVS
             "print(os.getuid(), os.getgid(), os.getgroups(), int(status['CapEff'], 16),"
             " int(status['CapBnd'], 16) & ~0x1e0, no_new_privs)\n")
    r = py(hostile_pool, probe)
    # uid/gid 10001, no groups, no effective caps, bounding set only SETGID/SETUID/KILL, no_new_privs
    assert r.stdout.split() == ["10001", "10001", "[]", "0", "0", "1"], r.stdout + r.stderr
    assert_pool_healthy(hostile_pool)


def test_the_kernel_is_gvisors_only_under_gvisor(hostile_pool):
    r = py(hostile_pool, "import os\nprint(os.uname().release)\nprint(open('/proc/version').read().strip())")
    release, version = r.stdout.splitlines()
    host = (os.uname().release, open("/proc/version").read().strip())
    if hostile_pool.runtime == "gvisor":
        assert release != host[0] and version != host[1], r.stdout
    else:
        assert (release, version) == host


def test_no_network(hostile_pool):
    code = ("import socket\n"
            "print(len(socket.if_nameindex()))\n"
            "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('CONNECTED')\n"
            "except OSError as exc:\n    print('blocked', exc.errno)\n")
    r = py(hostile_pool, code)
    assert r.stdout.splitlines()[0] == "1"  # loopback only
    assert "blocked" in r.stdout and "CONNECTED" not in r.stdout
    assert_pool_healthy(hostile_pool)


def test_fork_bomb(hostile_pool):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = py(hostile_pool, code, timeout_s=2)
    assert r.error is None and r.exit_code == -9, r
    # runc: the pids limit stops it and it runs into its timeout. gVisor: the process limit stops
    # it too, but each process costs its kernel about 5 MB, so the memory limit may end it first
    assert r.timed_out or (hostile_pool.runtime == "gvisor" and r.oom), r
    assert_pool_healthy(hostile_pool)


def test_thread_bomb(hostile_pool):
    code = ("import threading, time\nn = 0\ntry:\n"
            "    while n < 10000:\n        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "        n += 1\nexcept RuntimeError:\n    pass\nprint(n)\n")
    r = py(hostile_pool, code, timeout_s=5)
    assert r.error is None and not r.timed_out and int(r.stdout) <= LIMITS.pids, r
    assert_pool_healthy(hostile_pool)


def test_memory_bomb(hostile_pool):
    r = py(hostile_pool, "x = bytearray(2 << 30)\nprint('survived')", timeout_s=10)
    assert r.oom and "survived" not in r.stdout and not r.timed_out
    r = py(hostile_pool, "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))", timeout_s=10)
    assert r.oom and r.exit_code == -9
    assert_pool_healthy(hostile_pool)


def test_filling_the_tmpfs(hostile_pool):
    code = ("import os\n"
            "for d in ('/work', '/tmp'):\n"
            "    try:\n"
            "        with open(d + '/fill', 'wb') as f:\n"
            "            while True:\n                f.write(b'x' * (1 << 20))\n"
            "    except OSError as exc:\n        print(d, exc.strerror)\n")
    r = py(hostile_pool, code)
    assert r.stdout.splitlines() == ["/work No space left on device", "/tmp No space left on device"]
    r = py(hostile_pool, "import os\nst = os.statvfs('/work')\nprint(st.f_bfree == st.f_blocks)")
    assert r.stdout == "True\n"
    assert_pool_healthy(hostile_pool)


def test_infinite_loop_times_out(hostile_pool):
    started = time.monotonic()
    r = py(hostile_pool, "while True:\n    pass", timeout_s=1)
    assert r.timed_out and r.exit_code == -9
    assert 1.0 <= r.duration_s < 2.0 and time.monotonic() - started < 3.0
    assert_pool_healthy(hostile_pool)


def test_huge_output_is_capped_fast(hostile_pool):
    started = time.monotonic()
    code = "import sys\nfor _ in range(100):\n    sys.stdout.buffer.write(b'x' * 1_000_000)\n"
    r = py(hostile_pool, code, timeout_s=30)
    assert r.truncated and r.exit_code == 0 and len(r.stdout) == LIMITS.output_bytes
    assert time.monotonic() - started < 10
    r = hostile_pool.run(["sh", "-c", "yes"], timeout_s=1)  # endless output: stopped by the timeout
    assert r.timed_out and r.truncated and len(r.stdout) == LIMITS.output_bytes
    assert_pool_healthy(hostile_pool)


def test_cannot_write_outside_the_workspace(hostile_pool):
    code = ("import os\n"
            "for path in ('/etc/passwd', '/usr/bin/evil', '/evil', '/proc/sys/kernel/hostname', '/root/x'):\n"
            "    try:\n        open(path, 'a').write('x')\n        print('WROTE', path)\n"
            "    except OSError as exc:\n        print('denied', path)\n")
    r = py(hostile_pool, code)
    assert "WROTE" not in r.stdout and r.stdout.count("denied") == 5, r.stdout + r.stderr
    assert_pool_healthy(hostile_pool)


def test_cannot_read_another_executions_files(hostile_pool):
    plant = ("import os, subprocess\n"
             "for d in ('/work', '/tmp', '/dev/shm'):\n"
             "    open(d + '/secret', 'w').write('s3cret')\n"
             "os.makedirs('/work/locked/deep')\nos.chmod('/work/locked', 0)\n"
             "import multiprocessing.shared_memory as sm\n"
             "sm.SharedMemory(name='leak', create=True, size=4096)\n"
             "import ctypes\nlibc = ctypes.CDLL(None)\n"  # SysV objects outlive their creator unless removed
             "ids = [libc.shmget(0, 4096, 0o1600), libc.shmget(0x7474, 4096, 0o1600), libc.semget(0, 1, 0o1600),"
             " libc.msgget(0, 0o1600)]\n"
             "assert min(ids) >= 0\nprint(ids)\n")
    r = py(hostile_pool, plant, files={"planted.txt": b"mine"})
    assert r.exit_code == 0, r.stderr
    shm, keyed_shm, sem, msg = ast.literal_eval(r.stdout)
    look = ("import ctypes, glob\nlibc = ctypes.CDLL(None)\nbuf = ctypes.create_string_buffer(512)\n"
            "print(sorted(glob.glob('/work/*') + glob.glob('/tmp/*') + glob.glob('/dev/shm/*')))\n"
            f"print([libc.shmctl({shm}, 2, buf), libc.shmctl({keyed_shm}, 2, buf), libc.shmget(0x7474, 0, 0),"
            f" libc.semctl({sem}, 0, 2, buf), libc.msgctl({msg}, 2, buf)])\n")  # 2: IPC_STAT
    r = py(hostile_pool, look)
    assert r.stdout == "[]\n[-1, -1, -1, -1, -1]\n", r.stdout + r.stderr  # no files, no SysV objects
    assert_pool_healthy(hostile_pool)


def test_setsid_escapee_is_killed(hostile_pool):
    escape = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"  # a daemon: new session, parent gone, stdout still held
              "        while True:\n"
              "            open('/tmp/alive', 'a').write('.')\n            time.sleep(0.05)\n"
              "    os._exit(0)\n"
              "time.sleep(0.2)\nprint('parent done')\n")
    started = time.monotonic()
    r = py(hostile_pool, escape)
    assert r.stdout == "parent done\n" and not r.timed_out
    assert time.monotonic() - started < 2  # did not wait for the daemon's stdout to close
    time.sleep(0.3)
    r = py(hostile_pool, "import os\nprint(os.path.exists('/tmp/alive'))")
    assert r.stdout == "False\n"
    assert_pool_healthy(hostile_pool)


def test_escapee_after_timeout_is_killed(hostile_pool):
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(60)\n"
    r = py(hostile_pool, code, timeout_s=0.5)
    assert r.timed_out
    assert_pool_healthy(hostile_pool)


def test_container_dead_while_idle_is_replaced_transparently(hostile_pool):
    killed = kill_container(hostile_pool)
    r = py(hostile_pool, "print(1)")
    assert (r.stdout, r.error) == ("1\n", None)
    assert killed not in pool_containers([hostile_pool.pool_id])
    assert_pool_healthy(hostile_pool)


def test_container_dying_mid_run_is_an_error_and_replaced(hostile_pool):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        running = ex.submit(py, hostile_pool, "import time; time.sleep(30)")
        time.sleep(0.5)
        killed = kill_container(hostile_pool)
        r = running.result(timeout=20)
    assert r.error and "supervisor" in r.error and r.exit_code is None and not r.ok
    assert_pool_healthy(hostile_pool)
    assert killed not in pool_containers([hostile_pool.pool_id])
