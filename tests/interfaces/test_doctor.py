"""`ttc doctor` passes on a ready machine and explains what is wrong without Docker."""
import os
import subprocess
import sys

import pytest


def run_doctor(env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "pipeline.interfaces.cli", "doctor"], capture_output=True, text=True, env=env, timeout=120)


def test_doctor_explains_dead_docker_socket(tmp_path):
    out = run_doctor({"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"})
    assert out.returncode == 1
    lines = {line.split("|")[0].strip(): line for line in out.stdout.splitlines()}
    assert "MISSING" in lines["docker engine"]
    assert "start the Docker engine" in lines["docker engine"]
    assert "ttc sandbox build-image" in lines["sandbox image"]
    assert "ok" in lines["python"]


@pytest.mark.docker
def test_doctor_passes_after_setup():
    out = run_doctor()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MISSING" not in out.stdout
