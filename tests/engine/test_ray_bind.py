"""The local Ray that ttc starts (runner.init_ray, the `ttc run` path) is reachable from this
machine only: it advertises 127.0.0.1 and none of its processes listens on another address.

In a fresh interpreter: the test session's own Ray (tests/conftest.py) is started by the
fixture, not by init_ray, and init_ray returns at once when a Ray is already up."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}

PROBE = """
import json, os, psutil, ray
from ray._private import ray_constants
from pipeline.engine.runner import init_ray

init_ray(None)
assert ray.get(ray.remote(lambda: 6 * 7).remote()) == 42  # a worker runs: the loopback cluster works
me = psutil.Process()
tree = {p.pid: p.name() for p in me.children(recursive=True)} | {me.pid: "driver"}
listening = sorted({(tree[c.pid], c.laddr.ip) for c in psutil.net_connections("inet")
                    if c.status == psutil.CONN_LISTEN and c.pid in tree})
print(json.dumps({"gcs": ray.get_runtime_context().gcs_address, "node_ip": ray.util.get_node_ip_address(),
                  "listening": listening, "flag_restored": ray_constants.ENABLE_RAY_CLUSTER,
                  "env_restored": "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ}))
ray.shutdown()
"""


def start_local_ray() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env={**env, "RAY_USAGE_STATS_ENABLED": "0"},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_local_ray_binds_and_advertises_loopback_only():
    facts = start_local_ray()
    assert facts["gcs"].rsplit(":", 1)[0] == "127.0.0.1", facts
    assert facts["node_ip"] == "127.0.0.1", facts
    exposed = [(name, ip) for name, ip in facts["listening"] if ip not in LOOPBACK]
    assert facts["listening"] and not exposed, f"listening beyond loopback: {exposed}"
    # the clustering switch is back as it was, so a later join of a real cluster is unaffected
    assert facts["flag_restored"] is True and facts["env_restored"]
