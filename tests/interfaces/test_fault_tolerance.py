"""Failures mid-run cost a retry, not a result: real actors killed with ray.kill on a real
local Ray, runs on the tiny model and the Docker sandbox. (A killed driver resuming from its
run directory is tested in tests/test_runner.py.)"""
import json
import os
import threading
import time
from pathlib import Path

import pytest
import ray

from pipeline.core.config import load_config
from pipeline.engine.runner import new_run_dir, target_samples
from pipeline.interfaces.sdk import _Quiet
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.engine.tasks import load_tasks
from pipeline.judging.verifiers import VERIFIERS, UnitTestVerifier
from tests.interfaces.conftest import DEMO, small_run

pytestmark = pytest.mark.docker
N = 12  # samples per task


def actor_pid(actor) -> int:
    return ray.get(actor.__ray_call__.remote(lambda self: os.getpid()))


def kill_after_samples(run_dir: Path, count: int, actor, killed: list) -> None:
    """Kill `actor` (Ray restarts it) once `count` samples are on disk."""
    samples, deadline = run_dir / "samples.jsonl", time.monotonic() + 120
    while time.monotonic() < deadline:
        if samples.is_file() and len(stored := samples.read_text().splitlines()) >= count:
            ray.kill(actor, no_restart=False)
            killed.append(len(stored))
            return
        time.sleep(0.05)


def run_tasks(session, config, kill=None, after: int = 4) -> tuple[RunStore, list]:
    states = [TaskState(t, target_samples(config)) for t in load_tasks(config.tasks)]
    store, killed = RunStore(new_run_dir(config)), []
    killer = threading.Thread(target=kill_after_samples, args=(store.run_dir, after, kill, killed))
    if kill is not None:
        killer.start()
    session.run_tasks(config, states, store, _Quiet())
    if kill is not None:
        killer.join()
    return store, killed


def config_for(client, out: Path, name: str, **extra):
    return load_config(DEMO, small_run(client.base.model.path, out, **{"sampling.n": N, "name": name, **extra}))


def assert_every_sample_once(store: RunStore, tasks: int) -> None:
    keys = [(s["task_id"], s["sample_index"]) for s in store.read("samples")]
    assert len(keys) == len(set(keys)) == tasks * N
    assert store.read("errors") == []


def test_killed_generator_actor_restarts_and_the_run_completes(ray_local, client, tmp_path):
    session = client.session
    session.generate_fns()
    actor = session._generators[0]
    before = actor_pid(actor)
    store, killed = run_tasks(session, config_for(client, tmp_path, "ft-generator"), kill=actor)
    assert killed and killed[0] < 2 * N, "the kill came after the run had finished"
    assert_every_sample_once(store, tasks=2)
    assert actor_pid(actor) != before  # a new process answered the rest


def test_killed_sandbox_actor_loses_no_result(ray_local, client, tmp_path):
    from sandbox.reaper import gc

    session = client.session
    session.execute_fn()
    actor = session._sandboxes[0]
    before = actor_pid(actor)
    store, killed = run_tasks(session, config_for(client, tmp_path, "ft-sandbox"), kill=actor)
    gc()  # the killed pool could not remove its containers; the reaper does
    assert killed and killed[0] < 2 * N
    assert_every_sample_once(store, tasks=2)
    verdicts = store.read("verdicts")
    assert verdicts and all(v["error"] is None and v["details"]["exit_code"] is not None for v in verdicts)
    assert actor_pid(actor) != before


class StrictUnitTests(UnitTestVerifier):
    """unit_tests with a verifier bug: it raises on tasks marked `explode`, as a plugin that
    parses malformed task data would."""

    name = "unit_tests_strict"

    def verify(self, task, candidates):
        if task.metadata.get("explode"):
            raise ValueError(f"cannot parse the tests of task {task.id!r}")
        return super().verify(task, candidates)


def write_tasks(path: Path) -> str:
    """One good synthetic task, one without tests, one that makes the verifier raise."""
    good = load_tasks(load_config(DEMO, ["tasks.limit=1"]).tasks)[0]
    no_tests = {"id": "no-tests", "kind": "code", "prompt": "def f(xs):\n", "entry_point": "f"}
    explodes = {**no_tests, "id": "explodes", "tests": "assert True\n", "metadata": {"explode": True}}
    path.write_text("\n".join([good.model_dump_json(), json.dumps(no_tests), json.dumps(explodes)]) + "\n")
    return good.id


def test_a_task_that_breaks_the_verifier_is_an_error_and_the_run_goes_on(ray_local, client, tmp_path):
    """A task without tests gets error verdicts from unit_tests (data, never a pass); a verifier
    that raises fails that task's chunks, stored as errors; the good task completes."""
    good_id = write_tasks(tmp_path / "tasks.jsonl")
    session = client.session
    VERIFIERS["unit_tests_strict"] = lambda: StrictUnitTests(session.execute_fn())
    try:
        config = config_for(client, tmp_path, "ft-verifier", **{
            "tasks.source": "jsonl", "tasks.path": tmp_path / "tasks.jsonl", "tasks.limit": 3,
            "verifier": "unit_tests_strict"})
        store, _ = run_tasks(session, config)
    finally:
        del VERIFIERS["unit_tests_strict"]
    samples = store.read("samples")
    count = {t: sum(s["task_id"] == t for s in samples) for t in (good_id, "no-tests", "explodes")}
    assert count == {good_id: N, "no-tests": N, "explodes": 0}
    assert not any(s["passed"] for s in samples if s["task_id"] == "no-tests")
    untested = [v for v in store.read("verdicts") if v["task_id"] == "no-tests"]
    assert untested and all("has no tests" in v["error"] and not v["passed"] for v in untested)
    errors = store.read("errors")
    assert len(errors) == N // 4 and {e["task_id"] for e in errors} == {"explodes"}
    assert all("cannot parse the tests of task 'explodes'" in e["error"] for e in errors)
