"""Candidate code runs only in the sandbox: through the same path the SDK and HTTP endpoint use
(a Ray sandbox pool actor), it cannot read the server's environment or files, nor reach Ray's
dashboard or GCS ports, under either sandbox runtime (sandbox.runtime: runc, gvisor)."""
import os
from pathlib import Path

import pytest

from pipeline import Client
from pipeline.core.types import Task
from tests.security.probes import escape_probe

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]

def test_candidate_code_cannot_see_server_env_files_or_ray_ports(ray_local, sandbox_image, sandbox_runtime,
                                                                 tiny_random_model, tmp_path):
    import ray

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("ttc-secret")
    os.environ["TTC_SECRET_FOR_TEST"] = "ttc-secret"
    gcs_port = int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    host_ip = ray.util.get_node_ip_address()
    targets = [(host, port) for port in (8265, 6379, gcs_port) for host in ("127.0.0.1", "172.17.0.1", host_ip)]
    code = escape_probe(targets, files=[(str(secret_file), "ttc-secret"), ("/proc/1/environ", "ttc-secret")])
    # and it runs on the kernel asked for: the host's under runc, gVisor's under gvisor
    code += f"\nimport os\nassert (os.uname().release == {os.uname().release!r}) == {sandbox_runtime == 'runc'}\n"
    code += "\ndef f():\n    return 1\n"  # the probe runs on import; the tests then call f
    task = Task(id="escape", prompt="def f():\n", tests="from solution import f\nassert f() == 1\n")
    with Client(config=ROOT / "configs/demo.yaml", model__path=tiny_random_model,
                runner__output_dir=str(tmp_path), sandbox__runtime=sandbox_runtime) as client:
        verdict = client.verify(task, [code])[0]
    os.environ.pop("TTC_SECRET_FOR_TEST")
    assert verdict.error is None
    assert verdict.passed, verdict.details
