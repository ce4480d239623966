"""Limits -> Docker host config and gVisor's OCI spec, without Docker or runsc."""
from sandbox import Limits
from sandbox.gvisor.spec import host_memory_bytes, host_pids, oci_spec
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


def test_gvisor_spec_is_isolated_as_the_docker_config():
    limits = Limits(memory_mb=256, pids=32, tmpfs_mb=16)
    spec = oci_spec("/rootfs", ["python3"], limits, "/ttc-gvisor/x")
    process = spec["process"]
    assert spec["root"] == {"path": "/rootfs", "readonly": True} and process["noNewPrivileges"]
    assert process["user"] == {"uid": 0, "gid": 0}
    assert set(process["capabilities"]["bounding"]) == {"CAP_SETUID", "CAP_SETGID", "CAP_KILL"}
    assert process["capabilities"]["inheritable"] == process["capabilities"]["ambient"] == []
    assert {"type": "RLIMIT_NPROC", "hard": 32, "soft": 32} in process["rlimits"]
    tmpfs = {m["destination"]: m["options"] for m in spec["mounts"] if m["type"] == "tmpfs" and m["destination"] != "/dev"}
    assert sorted(tmpfs) == ["/dev/shm", "/tmp", "/work"] and all("size=16m" in o for o in tmpfs.values())
    assert "mode=0700" in tmpfs["/work"] and "uid=10001" in tmpfs["/work"]
    assert spec["linux"]["cgroupsPath"] == "/ttc-gvisor/x" and "resources" not in spec["linux"]
    # the host limits leave room for gVisor's own kernel, and still bound the sandbox
    assert 32 < host_pids(limits) < 2000 and host_memory_bytes(limits) > 256 << 20
