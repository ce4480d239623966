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
    """Containers (running or not) that belong to the given pools."""
    api = docker.from_env().api
    found = []
    for pool_id in pool_ids:
        found += [c["Id"] for c in api.containers(all=True, filters={"label": f"ttc.pool={pool_id}"})]
    return found


def my_containers() -> list[str]:
    api = docker.from_env().api
    return [c["Id"] for c in api.containers(all=True, filters={"label": f"ttc.owner_pid={os.getpid()}"})]


@pytest.fixture(autouse=True, scope="module")
def no_leaked_containers():
    """Each test module leaves none of this process's sandbox containers behind."""
    yield
    assert my_containers() == []
