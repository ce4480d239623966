"""The Ray actor wrapper: concurrent callers, and no container left when the actor is killed."""
from __future__ import annotations

import time

import pytest

from tests.sandbox.conftest import pool_containers

pytestmark = pytest.mark.docker


def start_actor(ray, image, size):
    from sandbox.pool import SandboxActor

    actor = SandboxActor.options(resources={"sandbox": 1}).remote(size=size, image=image)
    return actor, ray.get(actor.pool_id.remote())


def wait_until_gone(pool_id, within_s=20.0):
    end = time.monotonic() + within_s
    while pool_containers([pool_id]) and time.monotonic() < end:
        time.sleep(0.2)
    return pool_containers([pool_id])


def test_200_executions_from_8_concurrent_callers(ray_local, sandbox_image):
    ray = ray_local
    actor, pool_id = start_actor(ray, sandbox_image, size=4)

    @ray.remote(num_cpus=0)
    def caller(actor, numbers):
        refs = [actor.run.remote(["python3", "-c", f"print({n} * {n})"]) for n in numbers]
        return [(n, r.stdout, r.exit_code, r.error) for n, r in zip(numbers, ray.get(refs))]

    batches = [list(range(k, 200, 8)) for k in range(8)]
    results = [row for batch in ray.get([caller.remote(actor, b) for b in batches]) for row in batch]
    assert sorted(n for n, *_ in results) == list(range(200))
    assert all((out, code, err) == (f"{n * n}\n", 0, None) for n, out, code, err in results)
    jobs = [{"cmd": ["python3", "-c", f"print({n} + 1)"]} for n in range(8)]
    assert [r.stdout for r in ray.get(actor.run_many.remote(jobs))] == [f"{n + 1}\n" for n in range(8)]
    ray.get(actor.close.remote())
    ray.kill(actor)
    assert pool_containers([pool_id]) == []


def test_killing_the_actor_mid_run_leaves_no_container(ray_local, sandbox_image):
    ray = ray_local
    actor, pool_id = start_actor(ray, sandbox_image, size=2)
    running = [actor.run.remote(["sleep", "60"], timeout_s=60) for _ in range(2)]
    time.sleep(1.0)  # both executions are inside their containers now
    assert len(pool_containers([pool_id])) == 2
    ray.kill(actor)
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(running, timeout=30)
    assert wait_until_gone(pool_id) == []
