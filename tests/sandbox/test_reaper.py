"""Leak control: a killed owner leaves nothing behind; gc removes orphans and only orphans."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from sandbox.reaper import gc
from tests.sandbox.conftest import pool_containers

pytestmark = pytest.mark.docker

OWNER = """
import sys, time
from sandbox import SandboxPool
pool = SandboxPool(size=2, image=sys.argv[1], runtime=sys.argv[2] if len(sys.argv) > 2 else "runc")
print(pool.pool_id, flush=True)
pool.run(["sleep", "60"])
"""


def test_owner_killed_with_sigkill_leaves_no_container(sandbox_image):
    owner = subprocess.Popen([sys.executable, "-c", OWNER, sandbox_image], stdout=subprocess.PIPE, text=True)
    pool_id = owner.stdout.readline().strip()
    assert len(pool_containers([pool_id])) == 2
    time.sleep(0.5)  # one execution is running inside a container
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    end = time.monotonic() + 15
    while pool_containers([pool_id]) and time.monotonic() < end:
        time.sleep(0.2)
    assert pool_containers([pool_id]) == []


def labelled_sleeper(api, image, pool_id, owner_pid):
    labels = {"ttc.sandbox": "1", "ttc.pool": pool_id, "ttc.owner_pid": str(owner_pid),
              "ttc.host": socket.gethostname()}
    cid = api.create_container(image, command=["sleep", "300"], labels=labels,
                               host_config=api.create_host_config(network_mode="none"))["Id"]
    api.start(cid)
    return cid


def test_gc_removes_containers_of_dead_owners_only(sandbox_image):
    import docker

    api = docker.from_env().api
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid names a process that no longer runs
    pool_ids = [f"test-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    orphan = labelled_sleeper(api, sandbox_image, pool_ids[0], finished.pid)
    alive = labelled_sleeper(api, sandbox_image, pool_ids[1], os.getpid())
    try:
        removed = gc()
        assert orphan in removed and alive not in removed
        assert pool_containers(pool_ids) == [alive]
    finally:
        api.remove_container(alive, force=True)
        for cid in pool_containers(pool_ids[:1]):  # gc failed to remove it: do not leak it
            api.remove_container(cid, force=True)



def running_gvisor_sandboxes(ids) -> list[str]:
    from sandbox.gvisor.container import runsc

    listed = subprocess.run(runsc("list", "--format=json"), capture_output=True, text=True, check=True).stdout
    return [c["id"] for c in json.loads(listed or "[]") or [] if c["id"] in ids and c["status"] == "running"]


def test_gvisor_owner_killed_with_sigkill_leaves_no_sandbox_running_and_gc_removes_the_rest(sandbox_image, gvisor):
    from sandbox.gvisor import list_sandboxes
    from sandbox.gvisor.cgroup import SandboxCgroup

    owner = subprocess.Popen([sys.executable, "-c", OWNER, sandbox_image, gvisor], stdout=subprocess.PIPE, text=True)
    pool_id = owner.stdout.readline().strip()
    ids = pool_containers([pool_id])
    assert len(ids) == 2 and len(running_gvisor_sandboxes(ids)) == 2
    time.sleep(0.5)  # one execution is running inside a sandbox
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    end = time.monotonic() + 15
    while running_gvisor_sandboxes(ids) and time.monotonic() < end:
        time.sleep(0.2)
    assert running_gvisor_sandboxes(ids) == []
    assert set(gc()) >= set(ids)
    assert not set(ids) & set(list_sandboxes())
    assert not any(folder.exists() for sid in ids for folder in SandboxCgroup(sid).dirs)
