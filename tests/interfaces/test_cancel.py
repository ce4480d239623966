"""Cancellation: a request that times out, a stream whose consumer stops, and Client.cancel all
stop the run's work, and nothing of it is stored after the caller is told (real Ray, the tiny
model, the Docker sandbox)."""
import asyncio
import threading
import time
from pathlib import Path

import pytest

from benchmarks.tasks.synthetic_code import make_tasks
from pipeline.engine.runner import RunCancelled

pytestmark = pytest.mark.docker
TASK = make_tasks("test", n=1)[0]
LONG = {"n": 256, "max_new_tokens": 24}  # far more work than the time allowed


def samples_written(run_dirs: list[Path]) -> int:
    return sum(len((d / "samples.jsonl").read_text().splitlines()) for d in run_dirs if (d / "samples.jsonl").exists())


def new_run_dirs(client, before: set) -> list[Path]:
    return [d for d in Path(client.base.runner.output_dir).iterdir() if d not in before]


def test_a_timed_out_request_stops_before_it_is_answered(ray_local, client):
    client.best_of_n(TASK, n=4)  # warm
    before = set(Path(client.base.runner.output_dir).iterdir())

    async def timed_out():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.abest_of_n(TASK, **LONG), timeout=2.0)

    asyncio.run(timed_out())
    answered = samples_written(new_run_dirs(client, before))
    assert answered < LONG["n"]
    time.sleep(3)
    assert samples_written(new_run_dirs(client, before)) == answered  # nothing after the answer
    assert not [t for t in threading.enumerate() if t.name.startswith("chunk")]  # its work has stopped


def test_a_stream_whose_consumer_stops_stops_its_run(ray_local, client):
    before = set(Path(client.base.runner.output_dir).iterdir())

    async def first_two():
        seen = []
        stream = client.stream(TASK, **LONG)
        async for scored in stream:
            seen.append(scored)
            if len(seen) == 2:
                break
        await stream.aclose()
        return seen

    assert len(asyncio.run(first_two())) == 2
    stopped = samples_written(new_run_dirs(client, before))
    time.sleep(3)
    assert samples_written(new_run_dirs(client, before)) == stopped < LONG["n"]
    assert not [t for t in threading.enumerate() if t.name == "ttc-stream"]


def test_client_cancel_stops_a_request_in_another_thread(ray_local, client):
    outcome = {}

    def request():
        try:
            client.best_of_n(TASK, **LONG)
        except RunCancelled as exc:
            outcome["cancelled"] = str(exc)

    worker = threading.Thread(target=request)
    worker.start()
    time.sleep(2.0)
    assert client.cancel() == 1
    worker.join(timeout=60)
    assert not worker.is_alive() and "cancelled" in outcome
