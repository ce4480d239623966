"""A run on several nodes (the `ray_cluster` fixture: a head, a fake-GPU node, a sandbox node):
generators land on the GPU node, the sandbox pool on the sandbox node, the driver stays on the head."""
import pytest
import ray

from pipeline.core.config import load_config
from pipeline.engine.runner import Session, new_run_dir, target_samples
from pipeline.interfaces.sdk import _Quiet
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.engine.tasks import load_tasks
from tests.interfaces.conftest import DEMO, small_run

pytestmark = pytest.mark.docker


def nodes_with(resource: str) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get(resource)}


def node_of(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))


def test_a_run_spreads_over_the_gpu_and_sandbox_nodes(ray_cluster, sandbox_image, tiny_random_model, tmp_path):
    # model.device stays "auto": the generator asks Ray for the (fake) GPU and, finding no CUDA, runs on CPU
    config = load_config(DEMO, small_run(tiny_random_model, tmp_path, name="multinode"))
    session = Session(config)
    try:
        session.generate_fns()
        session.execute_fn()
        generators = {node_of(a) for a in session._generators}
        sandboxes = {node_of(a) for a in session._sandboxes}
        states = [TaskState(t, target_samples(config)) for t in load_tasks(config.tasks)]
        store = RunStore(new_run_dir(config))
        session.run_tasks(config, states, store, _Quiet())
    finally:
        session.close()
    driver = ray.get_runtime_context().get_node_id()
    assert generators and generators <= nodes_with("GPU")
    assert sandboxes and sandboxes <= nodes_with("sandbox")
    assert len({driver, *generators, *sandboxes}) == 3  # three nodes, each doing its part
    assert len(store.read("samples")) == 8 and store.read("errors") == []
    assert all(v["details"]["exit_code"] is not None for v in store.read("verdicts"))  # executed, not skipped
