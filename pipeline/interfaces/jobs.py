"""Ray job submission for ttc runs: `ttc submit / status / logs / stop`.

A job is `ttc run` on the cluster, driven by the cluster itself, so the submitting laptop can
close. What travels with it:
- the config, validated here with its overrides applied (a bad override fails before anything
  is submitted), as the job's one-file `working_dir`;
- the few environment variables ttc needs (SHIPPED_ENV) and those named with `--env`.
Nothing else of the submitter's environment is shipped: no tokens, keys or local paths.

Paths inside the config (model.path, tasks.path, runner.output_dir) are read on the cluster,
relative to `cluster_dir` (default: the submitter's working directory, which is right for a
local head or a shared file system; name the cluster-side checkout otherwise). `ttc` must be
installed on the cluster's nodes, as it is in the project's image.
"""
from __future__ import annotations

import os
import shlex
import tempfile
import time
from pathlib import Path
from typing import Iterator

import yaml

from pipeline.core.config import ConfigError, load_config

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
JOB_CONFIG_NAME = "ttc-job.yaml"
SHIPPED_ENV = ("RAY_AUTH_MODE", "TTC_SANDBOX_IMAGE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class JobError(ConfigError):
    """A job command that cannot be done as asked: unreachable cluster, unknown job id."""


def job_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_JOB_ADDRESS") or DEFAULT_ADDRESS
    if not address.startswith(("http://", "https://")):
        raise JobError(f"job address {address!r} must be the dashboard's http(s)://HOST:PORT "
                       f"(Ray's default is {DEFAULT_ADDRESS})")
    return address


def job_client(address: str | None):
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local head, as for `ttc run`
    from ray.job_submission import JobSubmissionClient

    address = job_address(address)
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError) as exc:
        raise JobError(f"cannot reach the Ray dashboard at {address}: {exc}") from None


def shipped_env(extra: list[str] | None = None) -> dict[str, str]:
    """SHIPPED_ENV as set here, plus explicit KEY=VALUE pairs; never the whole environment."""
    env = {k: os.environ[k] for k in SHIPPED_ENV if k in os.environ}
    for pair in extra or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise JobError(f"--env {pair!r} must look like KEY=VALUE")
        env[key] = value
    return env


def job_entrypoint(cluster_dir: str) -> str:
    """Run from the job's working_dir (where the config landed) inside `cluster_dir`."""
    return f'CONFIG="$PWD/{JOB_CONFIG_NAME}" && cd {shlex.quote(cluster_dir)} && exec ttc run "$CONFIG"'


def submit(config_path: str, overrides: list[str] | None = None, address: str | None = None,
           cluster_dir: str | None = None, env: list[str] | None = None) -> str:
    """Submit `ttc run CONFIG [overrides]` as a Ray job; returns the job id."""
    config = load_config(config_path, overrides)  # fail here, not on the cluster
    env_vars = shipped_env(env)
    client = job_client(address)
    with tempfile.TemporaryDirectory(prefix="ttc-job-") as folder:
        (Path(folder) / JOB_CONFIG_NAME).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return _submit_when_ready(
            client, entrypoint=job_entrypoint(cluster_dir or os.getcwd()),
            runtime_env={"working_dir": folder, "env_vars": env_vars},
            metadata={"ttc_config": str(config_path), "ttc_run_name": config.name})


def _submit_when_ready(client, wait_s: float = 60.0, **job) -> str:
    """A head that has just started answers 'No available agent' for a few seconds: wait."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise JobError(f"the cluster refused the job: {exc}") from None
            time.sleep(1.0)


def _job_call(address: str | None, job_id: str, method: str, *args):
    client = job_client(address)
    try:
        return getattr(client, method)(job_id, *args)
    except RuntimeError as exc:  # the SDK's answer for an unknown id or a refused request
        raise JobError(f"job {job_id!r} at {job_address(address)}: {exc}") from None


def job_status(job_id: str, address: str | None = None) -> str:
    """The job's state, and Ray's message when it has one (why it failed, say)."""
    info = _job_call(address, job_id, "get_job_info")
    return f"{info.status}: {info.message}" if info.message else str(info.status)


def job_logs(job_id: str, address: str | None = None, follow: bool = False) -> Iterator[str]:
    """The job's driver output so far, or (follow) chunk by chunk until the job ends."""
    if not follow:
        yield _job_call(address, job_id, "get_job_logs")
        return
    import asyncio

    tail = _job_call(address, job_id, "tail_job_logs")
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(tail.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def stop(job_id: str, address: str | None = None) -> bool:
    """Ask the cluster to stop the job; False if it had already ended."""
    return bool(_job_call(address, job_id, "stop_job"))


def wait(job_id: str, address: str | None = None, timeout_s: float = 600.0, poll_s: float = 1.0) -> str:
    """Block until the job ends; returns its final status (SUCCEEDED, FAILED or STOPPED)."""
    client, deadline, status = job_client(address), time.monotonic() + timeout_s, "unknown"
    while time.monotonic() < deadline:
        status = str(client.get_job_status(job_id))
        if status in TERMINAL:
            return status
        time.sleep(poll_s)
    raise TimeoutError(f"job {job_id!r} still {status} after {timeout_s:.0f} s")
