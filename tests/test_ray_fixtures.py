"""Actors land where their resources say, on a real multi-node Ray cluster."""
import ray


@ray.remote(num_gpus=1, num_cpus=0)
class FakeGpuWorker:
    def node(self):
        return ray.get_runtime_context().get_node_id()


@ray.remote(resources={"sandbox": 1}, num_cpus=0)
class SandboxWorker:
    def node(self):
        return ray.get_runtime_context().get_node_id()


def _nodes_with(resource: str) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get(resource)}


def test_actors_land_on_nodes_with_their_resources(ray_cluster):
    gpu = FakeGpuWorker.remote()
    box = SandboxWorker.remote()
    assert ray.get(gpu.node.remote()) in _nodes_with("GPU")
    assert ray.get(box.node.remote()) in _nodes_with("sandbox")
    assert _nodes_with("GPU").isdisjoint(_nodes_with("sandbox"))


def test_local_ray_has_sandbox_resource(ray_local):
    assert ray_local.cluster_resources().get("sandbox") == 1
    assert ray_local.cluster_resources().get("CPU") == 8
