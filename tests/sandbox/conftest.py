"""Sandbox test fixtures: the image (built offline once if missing) and container accounting."""
from __future__ import annotations

import os

import pytest

docker = pytest.importorskip("docker")


def docker_api():
    try:
        api = docker.from_env().api
        api.ping()
        return api
    except Exception as exc:  # noqa: BLE001 - no engine: the docker tests cannot run here
        pytest.skip(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    from sandbox.image.build import DEFAULT_TAG, build_image

    docker_api()
    build_image(DEFAULT_TAG)  # idempotent; ~1 minute the first time
    return DEFAULT_TAG


def pool_containers(pool_ids) -> list[str]:
    """Containers (running or not) and gVisor sandboxes that belong to the given pools."""
    api = docker.from_env().api
    found = []
    for pool_id in pool_ids:
        found += [c["Id"] for c in api.containers(all=True, filters={"label": f"ttc.pool={pool_id}"})]
    return found + gvisor_sandboxes("ttc.pool", set(pool_ids))


def my_containers() -> list[str]:
    api = docker.from_env().api
    found = [c["Id"] for c in api.containers(all=True, filters={"label": f"ttc.owner_pid={os.getpid()}"})]
    return found + gvisor_sandboxes("ttc.owner_pid", {str(os.getpid())})


def gvisor_sandboxes(label: str, values: set[str]) -> list[str]:
    from sandbox.gvisor import list_sandboxes

    return [sid for sid, labels in list_sandboxes().items() if labels.get(label) in values]


def kill_container(pool) -> str:
    """Kill the one container of `pool` from outside, as a crash or an operator would."""
    (cid,) = pool_containers([pool.pool_id])
    if pool.runtime == "gvisor":
        from sandbox.gvisor import kill

        kill(cid)
    else:
        docker.from_env().api.kill(cid)
    return cid


@pytest.fixture(autouse=True, scope="module")
def no_leaked_containers():
    """Each test module leaves none of this process's sandbox containers behind."""
    yield
    assert my_containers() == []
