"""The interpreter zygote: python3 programs forked from it behave as freshly exec'd ones."""
from __future__ import annotations

import docker
import pytest

from sandbox import Limits, SandboxPool
from sandbox.supervisor import ZYGOTE_RUNS, zygote_can_run

pytestmark = pytest.mark.docker

SCRIPT = ("import sys\n"
          "print(__file__, sys.argv, sys.path[0], __name__, sorted(globals()), __spec__)\n"
          "print(type(__loader__).__name__)\n"
          "def f():\n    raise ValueError('boom')\n"
          "f()\n")
INTROSPECT = ("import os, sys\n"
              "print(sys.argv, repr(sys.path[0]), sorted(sys.modules), sorted(globals()))\n"
              "print(sys.flags, sys.stdout.encoding, sys.stdout.line_buffering, sys.stdin.isatty())\n"
              "print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd(), os.getsid(0) == os.getpid())\n"
              "print(open('/proc/self/oom_score_adj').read().strip(), sorted(os.environ.items()))\n")
EXIT_TIME = ("import atexit, threading, time\n"
             "atexit.register(lambda: print('atexit'))\n"
             "threading.Thread(target=lambda: (time.sleep(0.1), print('thread'))).start()\n"
             "class Last:\n    def __del__(self): print('finalised')\n"
             "keep = Last()\nprint('main')\n")
# (command, env, stdin): each must give the same exit code, stdout and stderr both ways
CASES = [
    (["python3", "-c", "print(6*7)"], {}, b""),
    (["python3", "-c", INTROSPECT, "a", "b"], {"FOO": "bar"}, b""),
    (["python3", "-c", "1/0"], {}, b""),
    (["python3", "-c", "1+"], {}, b""),
    (["python3", "-c", "import sys; sys.exit('bye')"], {}, b""),
    (["python3", "-c", "raise SystemExit(3)"], {}, b""),
    (["python3", "-c", "import sys; print(sys.stdin.read().upper())"], {}, b"hello\n"),
    (["python3", "-c", EXIT_TIME], {}, b""),
    (["python3", "script.py", "x"], {}, b""),
    (["python3", "missing.py"], {}, b""),
]
FILES = {"script.py": SCRIPT}
PARENT_IS_SUPERVISOR = "import os; print('-I' in open(f'/proc/{os.getppid()}/cmdline').read().split('\\0'))"


@pytest.fixture(scope="module")
def pools(sandbox_image):
    with SandboxPool(size=1, image=sandbox_image, limits=Limits(python_zygote=True)) as zygote, \
         SandboxPool(size=1, image=sandbox_image, limits=Limits(python_zygote=False)) as fresh:
        yield zygote, fresh


@pytest.mark.parametrize("cmd, env, stdin", CASES, ids=[str(i) for i in range(len(CASES))])
def test_same_result_as_a_fresh_interpreter(pools, cmd, env, stdin):
    results = [pool.run(cmd, files=FILES, env=env, stdin=stdin) for pool in pools]
    assert all(r.error is None for r in results), results
    zygote, fresh = [(r.exit_code, r.stdout, r.stderr) for r in results]
    assert zygote == fresh


def test_which_programs_it_runs():
    assert zygote_can_run(["python3", "-c", "pass"], {}, b"")
    assert zygote_can_run(["python3", "test_solution.py", "arg"], {"SEED": "1"}, b"x" * 65536)
    assert not zygote_can_run(["python3", "-c"], {}, b"")
    assert not zygote_can_run(["python3", "-u", "main.py"], {}, b"")
    assert not zygote_can_run(["python3", "-m", "pytest"], {}, b"")
    assert not zygote_can_run(["sh", "-c", "python3 x.py"], {}, b"")
    assert not zygote_can_run(["python3", "main.py"], {"PYTHONPATH": "/work/lib"}, b"")
    assert not zygote_can_run(["python3", "main.py"], {"LC_ALL": "C"}, b"")
    assert not zygote_can_run(["python3", "main.py"], {}, b"x" * 65537)


def test_forked_only_when_it_can_be(pools):
    zygote_pool, fresh_pool = pools
    assert zygote_pool.run(["python3", "-c", PARENT_IS_SUPERVISOR]).stdout == "False\n"
    assert fresh_pool.run(["python3", "-c", PARENT_IS_SUPERVISOR]).stdout == "True\n"
    # start-up environment given: a fresh interpreter must read it
    r = zygote_pool.run(["python3", "-c", PARENT_IS_SUPERVISOR + "; import sys; print(sys.path[1])"],
                        env={"PYTHONPATH": "/work/lib"})
    assert r.stdout == "True\n/work/lib\n"
    big = b"y" * 100_000  # more stdin than the zygote hands over
    r = zygote_pool.run(["python3", "-c", "import sys; print(len(sys.stdin.buffer.read()))"], stdin=big)
    assert r.stdout == "100000\n"


def test_the_zygote_outlives_executions_it_did_not_start(pools):
    zygote_pool = pools[0]
    find = ["python3", "-c", "import os; print(os.getppid())"]
    before = zygote_pool.run(find).stdout
    assert zygote_pool.run(["sh", "-c", "sleep 30 &"], timeout_s=2).error is None  # fresh path, killed
    assert zygote_pool.run(find).stdout == before


def test_the_program_cannot_touch_the_zygote(pools):
    code = ("import os, signal\n"
            "z = os.getppid()\n"
            "for sig in (signal.SIGKILL, signal.SIGSTOP):\n"
            "    try:\n        os.kill(z, sig)\n        print('signalled')\n"
            "    except PermissionError:\n        print('refused')\n"
            "try:\n    open(f'/proc/{z}/mem', 'rb')\n    print('opened')\n"
            "except PermissionError:\n    print('refused')\n"
            "import builtins\nbuiltins.left_behind = 1\n")
    zygote_pool = pools[0]
    r = zygote_pool.run(["python3", "-c", code])
    assert r.stdout.split() == ["refused"] * 3, r
    r = zygote_pool.run(["python3", "-c", "import builtins; print(hasattr(builtins, 'left_behind'))"])
    assert r.stdout == "False\n"


def test_hash_seeds_change_as_zygotes_are_replaced(pools):
    seeds = {pools[0].run(["python3", "-c", "print(hash('ttc'))"]).stdout
             for _ in range(ZYGOTE_RUNS + 2)}
    assert len(seeds) >= 2


def test_a_killed_zygote_is_replaced(pools):
    zygote_pool = pools[0]
    find = "import os; print(os.getppid())"
    zygote_pid = int(zygote_pool.run(["python3", "-c", find]).stdout)
    container = docker.from_env().containers.get(next(iter(zygote_pool._live)))
    assert container.exec_run(["python3", "-c", f"import os; os.kill({zygote_pid}, 9)"], user="0").exit_code == 0
    r = zygote_pool.run(["python3", "-c", "print(6*7)"])
    assert (r.exit_code, r.stdout, r.error) == (0, "42\n", None), r
    assert int(zygote_pool.run(["python3", "-c", find]).stdout) != zygote_pid
