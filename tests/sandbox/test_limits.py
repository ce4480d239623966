"""Limits -> Docker host config, without Docker."""
from sandbox import Limits
from sandbox.limits import host_config_kwargs


def test_defaults_are_isolated():
    kw = host_config_kwargs(Limits())
    assert kw["network_mode"] == "none" and kw["read_only"] and kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges"] and kw["init"] and "runtime" not in kw
    assert kw["mem_limit"] == kw["memswap_limit"] == "512m"


def test_limits_map_to_docker_settings():
    kw = host_config_kwargs(Limits(memory_mb=256, cpus=0.5, pids=32, tmpfs_mb=16, network=True,
                                   runtime="runsc"))
    assert (kw["mem_limit"], kw["nano_cpus"], kw["pids_limit"]) == ("256m", 500_000_000, 32)
    assert "size=16m" in kw["tmpfs"]["/work"] and "size=16m" in kw["tmpfs"]["/tmp"]
    assert kw["network_mode"] == "bridge" and kw["runtime"] == "runsc"
