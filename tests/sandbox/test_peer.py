"""The supervisor's peer mode: a second program beside the first, as another uid, joined by one
socket and nothing else."""
import pytest

from pipeline.core.types import Limits, Peer
from sandbox.limits import SANDBOX_UID

pytestmark = pytest.mark.docker

MAIN = """
import os, socket
s = socket.socket(fileno=int(os.environ["SANDBOX_PEER_FD"]))
s.sendall(b"ping")
print(s.recv(100).decode(), os.getuid())
"""
PEER_PROBE = """
import os, socket
s = socket.socket(fileno=int(os.environ["SANDBOX_PEER_FD"]))
seen = []
for path in ["/work", "/work/secret.txt", *[f"/proc/{p}/{part}" for p in os.listdir("/proc") if p.isdigit()
             and int(p) != os.getpid() for part in ("environ", "fd", "mem", "cwd")]]:
    try:
        os.listdir(path) if not path.endswith(("environ", "mem", ".txt")) else open(path, "rb").read(1)
        seen.append(path)
    except OSError:
        pass
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
s.recv(4)
s.sendall(f"uid={os.getuid()} cwd={os.getcwd()} files={sorted(os.listdir('.'))} seen={seen} fds={fds}".encode())
"""


@pytest.fixture(scope="module")
def pool(sandbox_image):
    from sandbox import SandboxPool

    with SandboxPool(size=1, image=sandbox_image, limits=Limits(timeout_s=10)) as pool:
        yield pool


def test_the_peer_runs_as_another_uid_and_reaches_nothing_of_the_first(pool):
    result = pool.run(["python3", "-c", MAIN], {"secret.txt": "s3cret"},
                      peer=Peer(cmd=["python3", "probe.py"], files={"probe.py": PEER_PROBE}))
    assert result.ok, result
    answer, main_uid = result.stdout.strip().rsplit(" ", 1)
    assert int(main_uid) == SANDBOX_UID
    assert f"uid={SANDBOX_UID + 1} cwd=/tmp/ttc-peer files=['probe.py']" in answer
    assert "seen=[]" in answer  # neither /work nor another process's environ, fds, memory or cwd
    fds = eval(answer.split("fds=")[1])  # noqa: S307 (our own probe's list of ints)
    assert len(fds) == 5  # stdin, stdout, stderr, the socket, and listdir's own descriptor


def test_the_peer_is_killed_with_the_execution_and_its_files_wiped(pool):
    forever = "import time\nopen('/tmp/left.txt', 'w').write('x')\ntime.sleep(60)\n"
    result = pool.run(["python3", "-c", "import time; time.sleep(0.5)"],
                      peer=Peer(cmd=["python3", "-c", forever]))
    assert result.ok and result.peer_exit_code == -9 and result.duration_s < 5
    after = pool.run(["python3", "-c", "import os; print(os.listdir('/tmp'), sorted(os.listdir('/proc'))[:0])"])
    assert after.stdout.strip() == "[] []"


def test_peer_output_comes_back_capped(pool):
    flood = "import sys\nsys.stdout.write('y' * (3 << 20))\nsys.stderr.write('tail')\n"
    result = pool.run(["python3", "-c", "import time; time.sleep(1)"], peer=Peer(cmd=["python3", "-c", flood]))
    assert result.ok and result.truncated is False or result.truncated
    assert 0 < len(result.peer_output) <= pool.limits.output_bytes
