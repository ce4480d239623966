"""Shared fixtures: one local Ray per test session, and a multi-node Ray cluster on demand.

Ray's CPU resource is logical: 8 CPUs on a 2-core machine so actor pools and the tasks that
feed them do not deadlock each other (see DESIGN.md).
"""
from __future__ import annotations

import os

import pytest

RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # keep the metrics export port outside the 10002-19999 worker-port range
    "RAY_METRICS_EXPORT_PORT": "8089",
}
os.environ.update({k: os.environ.get(k, v) for k, v in RAY_ENV.items()})


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture()
def ray_local():
    """A local single-node Ray with 8 logical CPUs and one `sandbox` resource.

    Started once and kept for the session; only `ray_cluster` shuts it down, and the next
    test that asks for `ray_local` starts it again.
    """
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=8, resources={"sandbox": 1}, include_dashboard=False,
                 _metrics_export_port=int(os.environ["RAY_METRICS_EXPORT_PORT"]),
                 log_to_driver=False)
    return ray


@pytest.fixture()
def ray_cluster():
    """Three nodes: a head, a 'gpu' node (faked with num_gpus) and a node with `sandbox`."""
    import ray
    from ray.cluster_utils import Cluster

    _shutdown_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.add_node(num_cpus=2, num_gpus=1, resources={"gpu_node": 1})
    cluster.add_node(num_cpus=4, resources={"sandbox": 1, "sandbox_node": 1})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
