"""ray_cluster.yaml passes Ray's own schema validation and its node types advertise what actors ask for."""
import copy
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parent.parent / "ray_cluster.yaml"


def load():
    return yaml.safe_load(CONFIG.read_text())


def test_validates_with_ray_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(load())))


def test_node_types_offer_actor_resources():
    types = load()["available_node_types"]
    assert types["gpu"]["resources"].get("gpu_node") == 1
    assert types["sandbox"]["resources"].get("sandbox") == 1
    assert types["sandbox"]["min_workers"] >= 1
    sandbox_setup = " ".join(types["sandbox"]["worker_setup_commands"])
    assert "docker" in sandbox_setup and "ttc sandbox build-image" in sandbox_setup


def test_dashboard_not_published():
    head = " ".join(load()["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    commands = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in load()[key]]
    assert not any("0.0.0.0" in c for c in commands)
