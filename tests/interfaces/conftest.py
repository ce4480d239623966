"""Fixtures of the user-facing interfaces: a lazily warmed SDK Client on the tiny model, and
the small run settings every test here shares (2 tasks, few short samples)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo.yaml"


def free_port() -> int:
    """A port the kernel just handed out (outside Ray's 10002-19999 worker range in practice)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 10002 <= port <= 19999 and port != 8265:
            return port


def wait_answering(url: str, process, log: Path, timeout_s: float = 180.0) -> None:
    """Until `url` answers 2xx; fails with the end of the server's `log` if `process` exits or
    the time runs out first."""
    import time

    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not answer {url} within {timeout_s} s:\n{log.read_text()[-2000:]}")


def small_run(model: str, out: Path | str, **extra) -> list[str]:
    """Dotted overrides of configs/demo.yaml for a run of seconds on the tiny random model."""
    base = {"model.path": model, "tasks.limit": 2, "sampling.n": 4, "sampling.max_new_tokens": 24,
            "runner.chunk_size": 4, "runner.max_in_flight": 8, "runner.output_dir": str(out)}
    return [f"{k}={v}" for k, v in {**base, **extra}.items()]


@pytest.fixture(scope="module")
def client(tiny_random_model, sandbox_image, tmp_path_factory):
    """An SDK Client for the module; its actors start on first use (after `ray_local`)."""
    from pipeline import Client

    out = tmp_path_factory.mktemp("sdk-runs")
    overrides = dict(item.split("=", 1) for item in small_run(tiny_random_model, out))
    with Client(config=str(DEMO), **{k.replace(".", "__"): v for k, v in overrides.items()}) as c:
        yield c
