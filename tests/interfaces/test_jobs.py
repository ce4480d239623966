"""Ray job submission against a real local head (`ray start --head --block`, dashboard on a free
loopback port, its own temp dir so no other Ray on this machine sees or stops it)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.interfaces import jobs
from pipeline.interfaces.cli import main
from pipeline.core.config import ConfigError
from tests.interfaces.conftest import DEMO, ROOT, free_port, small_run

RAY = Path(sys.executable).with_name("ray")


def wait_for_dashboard(url: str, head: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}")
        try:
            urllib.request.urlopen(f"{url}/api/version", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"no dashboard at {url} after {timeout_s} s")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A head with a dashboard and 2 `sandbox` slots; stopped by SIGTERM to its own `ray start`
    process, which takes down exactly the processes it started (never `ray stop`)."""
    dashboard = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ttcray-", dir="/tmp")  # short: Ray's socket paths live here
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": "",
           "PATH": f"{RAY.parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(RAY), "start", "--head", "--block", f"--port={free_port()}", f"--temp-dir={temp_dir}",
           "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--metrics-export-port={free_port()}",
           # fixed defaults (agent 52365, client 10001) clash with any other Ray here, ray_local included
           f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
           "--num-cpus=8", '--resources={"sandbox": 2}', "--disable-usage-stats"]
    log = (tmp_path_factory.mktemp("head") / "head.log").open("w")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        wait_for_dashboard(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_submit_fails_before_submission_on_a_bad_override():
    with pytest.raises(ConfigError, match="sampling.n"):
        jobs.submit(str(DEMO), ["sampling.n=0"], address="http://127.0.0.1:9")
    with pytest.raises(jobs.JobError, match="must be the dashboard's http"):
        jobs.job_address("10.0.0.1:6379")


def test_only_the_named_environment_travels(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-ship")
    env = jobs.shipped_env(["TTC_EXTRA=1"])
    assert env == {"RAY_AUTH_MODE": "disabled", "TTC_EXTRA": "1"}


@pytest.mark.docker
def test_ttc_submit_and_plain_ray_job_submit_run_to_success(head, sandbox_image, tiny_random_model, tmp_path,
                                                            capsys):
    """`ttc submit` and `ray job submit -- ttc run` side by side on the same head."""
    job_id = jobs.submit(str(DEMO), small_run(tiny_random_model, tmp_path / "ttc"), address=head,
                         cluster_dir=str(ROOT))
    plain = subprocess.run(
        [str(RAY), "job", "submit", "--address", head, "--", "ttc", "run", str(DEMO),
         *small_run(tiny_random_model, tmp_path / "plain")],
        capture_output=True, text=True, timeout=400, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert f"run directory: {tmp_path / 'plain'}" in plain.stdout
    assert jobs.wait(job_id, head, timeout_s=300) == "SUCCEEDED", jobs.job_status(job_id, head)

    assert main(["status", job_id, "--address", head]) == 0
    assert main(["logs", job_id, "--address", head, "--follow"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SUCCEEDED") and f"run directory: {tmp_path / 'ttc'}" in out
    for name in ("ttc", "plain"):
        summary = json.loads(next((tmp_path / name).glob("*/summary.json")).read_text())
        assert summary["samples"] == 8 and summary["tasks"] == 2 and summary["errors"] == 0


def test_ttc_stop_stops_a_job(head, tiny_random_model, tmp_path, capsys):
    code = main(["submit", str(DEMO), *small_run(tiny_random_model, tmp_path, **{"sampling.n": 4096}),
                 "--address", head])
    job_id = capsys.readouterr().out.strip()
    assert code == 0 and job_id
    assert main(["stop", job_id, "--address", head]) == 0
    assert jobs.wait(job_id, head, timeout_s=120) == "STOPPED"
    assert main(["status", "no-such-job", "--address", head]) == 2
    assert "no-such-job" in capsys.readouterr().err
