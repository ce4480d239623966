"""The pool's public API on real containers: results, files, isolation defaults, lifecycle."""
from __future__ import annotations

import pytest

from sandbox import Limits, SandboxImageMissing, SandboxPool
from tests.sandbox.conftest import pool_containers

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def sandbox_pool(sandbox_image):
    pool = SandboxPool(size=2, image=sandbox_image, limits=Limits(timeout_s=10, memory_mb=256))
    yield pool
    pool.close()
    assert pool_containers([pool.pool_id]) == []


def test_runs_python_and_reports_exit_code(sandbox_pool):
    r = sandbox_pool.run(["python3", "-c", "print(6*7)"])
    assert (r.exit_code, r.stdout, r.ok) == (0, "42\n", True)
    r = sandbox_pool.run(["python3", "-c", "import sys; print('bad', file=sys.stderr); sys.exit(3)"])
    assert (r.exit_code, r.stderr, r.ok) == (3, "bad\n", False)


def test_files_bytes_or_str_and_stdin(sandbox_pool):
    files = {"main.py": "import sys\nprint(open('data/x.txt').read() + sys.stdin.read())",
             "data/x.txt": b"from a file, "}
    r = sandbox_pool.run(["python3", "main.py"], files=files, stdin=b"from stdin")
    assert r.stdout == "from a file, from stdin\n"


def test_pytest_runs_against_workspace_files(sandbox_pool):
    files = {"sol.py": "def add(a, b):\n    return a + b\n",
             "tests/test_sol.py": "from sol import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"}
    r = sandbox_pool.run(["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], files=files)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout


def test_missing_command_is_the_programs_failure(sandbox_pool):
    r = sandbox_pool.run(["no-such-program"])
    assert r.exit_code == 127 and r.error is None and "no-such-program" in r.stderr


def test_killed_by_signal_is_negative_exit_code(sandbox_pool):
    r = sandbox_pool.run(["python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert r.exit_code == -15


@pytest.mark.parametrize("path", ["/abs.py", "../up.py", "a/../../b.py", ""])
def test_file_paths_must_stay_in_workspace(sandbox_pool, path):
    with pytest.raises(ValueError, match="inside the workspace"):
        sandbox_pool.run(["true"], files={path: b""})


def test_image_is_current_and_python_starts_without_site_hooks(sandbox_image, sandbox_pool):
    from sandbox.image.build import image_is_current

    assert image_is_current(sandbox_image)  # an image from an older recipe would be rebuilt
    r = sandbox_pool.run(["python3", "-c", "import sys; print('sitecustomize' in sys.modules)"])
    assert r.stdout == "False\n"


def test_missing_image_error_says_what_to_run(sandbox_image):
    with pytest.raises(SandboxImageMissing, match="ttc sandbox build-image"):
        SandboxPool(size=1, image="ttc-sandbox:does-not-exist")


def test_close_removes_every_container(sandbox_image):
    pool = SandboxPool(size=2, image=sandbox_image)
    assert len(pool_containers([pool.pool_id])) == 2
    pool.close()
    assert pool_containers([pool.pool_id]) == []
    assert pool.run(["true"]).error == "no sandbox container available: SandboxPool is closed"


def test_containers_are_hardened_and_labelled(sandbox_pool):
    import os
    import socket

    import docker

    info = docker.from_env().api.inspect_container(pool_containers([sandbox_pool.pool_id])[0])
    hc = info["HostConfig"]
    assert hc["ReadonlyRootfs"] and hc["AutoRemove"] and hc["Init"]
    assert hc["NetworkMode"] == "none" and hc["CapDrop"] == ["ALL"]
    assert {cap.removeprefix("CAP_") for cap in hc["CapAdd"]} == {"SETUID", "SETGID", "KILL"}
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert (hc["Memory"], hc["MemorySwap"]) == (256 << 20, 256 << 20)
    assert (hc["PidsLimit"], hc["NanoCpus"]) == (128, 10**9)
    assert sorted(hc["Tmpfs"]) == ["/tmp", "/work"] and "size=64m" in hc["Tmpfs"]["/work"]
    labels = info["Config"]["Labels"]
    assert labels["ttc.owner_pid"] == str(os.getpid()) and labels["ttc.host"] == socket.gethostname()
