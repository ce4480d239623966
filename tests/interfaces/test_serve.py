"""`ttc serve`: the request checks as plain functions, then the Ray Serve app over loopback
with a real Client behind it (tiny model, Docker sandbox)."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from benchmarks.tasks.synthetic_code import make_tasks
from pipeline.interfaces.sdk import BestOfN
from pipeline.interfaces.serve import (Gate, HttpError, ServeError, ServeLimits, authorize, check_bind, key_digest,
                            make_settings, parse_request)
from tests.interfaces.conftest import DEMO, free_port, small_run
from tests.security.probes import escape_probe

KEY = "k" * 24 + "-test-key"
TASK = make_tasks("test", n=1)[0].model_dump(mode="json")


def body(**fields) -> bytes:
    return json.dumps({"task": TASK, "n": 4, **fields}).encode()


def status_of(call) -> tuple[int, str]:
    with pytest.raises(HttpError) as caught:
        call()
    return caught.value.status, caught.value.message


@pytest.mark.parametrize("raw, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (body(n="many"), 422, "n: Input should be a valid integer"),
    (body(task={**TASK, "prompt": 7}), 422, "task.prompt: Input should be a valid string"),
    (body(budget=3), 422, "budget: Extra inputs are not permitted"),
    (body(n=300), 422, "n: 300 exceeds this server's max_n=256"),
    (body(max_new_tokens=5000), 422, "max_new_tokens: 5000 exceeds this server's max_new_tokens=4096"),
    (body(task={**TASK, "files": {f"f{i}.txt": "" for i in range(65)}}), 413, "max_files=64"),
    (body(task={**TASK, "files": {"big.txt": "x" * 600_000}}), 413, "max_files_bytes=512000"),
])
def test_bad_bodies_are_refused_naming_the_field_or_limit(raw, status, words):
    code, message = status_of(lambda: parse_request(raw, ServeLimits()))
    assert code == status and words in message, message


def test_a_good_body_parses_into_sdk_arguments():
    request = parse_request(body(temperature=0.5, selector="first_passing"), ServeLimits())
    assert request.n == 4 and request.task.id == TASK["id"]
    assert request.sdk_kwargs() == {"strategy": "repeated_sampling", "verifier": "unit_tests",
                                    "selector": "first_passing", "temperature": 0.5}


def test_the_key_is_checked_in_constant_time_and_required_when_set():
    digest = key_digest(KEY)
    authorize(f"Bearer {KEY}", digest)
    authorize(None, None)  # no key configured (loopback only)
    assert status_of(lambda: authorize(None, digest))[0] == 401
    assert status_of(lambda: authorize(f"Bearer {KEY}x", digest)) == (401, "invalid API key")
    assert status_of(lambda: authorize(f"Basic {KEY}", digest))[0] == 401


def test_an_exposed_address_needs_a_key(monkeypatch, tmp_path):
    monkeypatch.delenv("TTC_API_KEY", raising=False)
    check_bind("127.0.0.1", has_key=False)
    with pytest.raises(ServeError, match="refusing to bind '0.0.0.0' without an API key"):
        make_settings(str(DEMO), host="0.0.0.0")
    monkeypatch.setenv("TTC_API_KEY", "short")
    with pytest.raises(ServeError, match="use at least 16"):
        make_settings(str(DEMO), host="0.0.0.0")
    (tmp_path / "key").write_text(KEY + "\n")
    settings = make_settings(str(DEMO), host="0.0.0.0", api_key_file=str(tmp_path / "key"))
    assert settings.api_key_sha256 == key_digest(KEY) and KEY not in settings.model_dump_json()
    monkeypatch.delenv("TTC_API_KEY")
    with pytest.raises(ServeError, match="max_n: Input should be greater than or equal to 1"):
        make_settings(str(DEMO), limits=["max_n=0"])


def test_the_gate_refuses_beyond_its_limit():
    gate = Gate(1)
    with gate:
        assert status_of(lambda: gate.__enter__()) == (429, "server busy: max_concurrent=1 requests already running")
    with gate:
        pass


@pytest.fixture()
def server(ray_local, sandbox_image, tiny_random_model, tmp_path):
    from ray import serve

    from pipeline.interfaces.serve import deploy

    (tmp_path / "key").write_text(KEY)
    settings = make_settings(str(DEMO), small_run(tiny_random_model, tmp_path), port=free_port(),
                             api_key_file=str(tmp_path / "key"), limits=["max_n=8", "max_concurrent=1"])
    try:
        yield deploy(settings)
    finally:
        serve.shutdown()


@pytest.mark.docker
def test_http_best_of_n_over_loopback(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    assert requests.get(f"{server}/healthz", timeout=10).json() == {"status": "ok"}
    url = f"{server}/v1/best_of_n"

    def post(data: bytes, headers=auth):
        return requests.post(url, data=data, headers={"Content-Type": "application/json", **headers}, timeout=300)

    assert post(body(), headers={}).status_code == 401
    assert post(body(), headers={"Authorization": "Bearer wrong-key-0123456789"}).status_code == 401
    bad = post(b"{oops")
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    assert "max_n=8" in post(body(n=9)).json()["error"]
    assert post(body(n=2, max_new_tokens=8) + b" " * 1_000_000).status_code == 413
    assert "needs a task with tests" in post(body(task={**TASK, "tests": None})).json()["error"]

    good = post(body(n=4, max_new_tokens=16))
    assert good.status_code == 200, good.text
    result = BestOfN.model_validate(good.json())
    assert len(result.candidates) == 4 and result.selection.task_id == TASK["id"]

    with ThreadPoolExecutor(3) as pool:  # max_concurrent=1: one works, the others are told at once
        codes = sorted(r.status_code for r in pool.map(post, [body(n=8, max_new_tokens=32)] * 3))
    assert codes == [200, 429, 429]


@pytest.mark.docker
def test_code_sent_over_http_runs_only_in_the_sandbox(server):
    """A task's tests are user code: sent through the endpoint, they run in the sandbox, where
    the server's environment, the GCS and the dashboard are out of reach."""
    import ray

    gcs_host, gcs_port = ray.get_runtime_context().gcs_address.rsplit(":", 1)
    targets = [(gcs_host, int(gcs_port)), ("127.0.0.1", int(gcs_port)), ("127.0.0.1", 8265),
               (gcs_host, 8265), ("172.17.0.1", int(gcs_port))]
    task = {**TASK, "tests": escape_probe(targets, files=[("/proc/1/environ", "RAY_")])}
    answer = requests.post(f"{server}/v1/best_of_n", data=body(task=task, n=2, max_new_tokens=8),
                           headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                           timeout=300)
    assert answer.status_code == 200, answer.text
    verdicts = [c["verdict"] for c in answer.json()["candidates"]]
    # the probe prints what leaked and exits 1 on a leak; it runs whatever the candidate is, and
    # (never calling the candidate) no verdict passes
    assert verdicts and all(v["details"]["stderr_tail"].strip().endswith("[]") for v in verdicts), [v["details"] for v in verdicts]
    assert not any(v["passed"] for v in verdicts)


def test_a_request_over_its_time_limit_gets_504():
    import asyncio

    from pipeline.interfaces.serve import within

    assert asyncio.run(within(asyncio.sleep(0, result="done"), 1.0)) == "done"
    assert status_of(lambda: asyncio.run(within(asyncio.sleep(5), 0.05))) == (
        504, "request took longer than request_timeout_s=0.05")


@pytest.mark.docker
def test_a_timed_out_request_is_cancelled_before_its_504_and_holds_its_slot_until_then(
        ray_local, sandbox_image, tiny_random_model, tmp_path):
    """max_concurrent=1, a 3 s limit, a request for far more work: the 504 comes once its run
    has stopped, no sample is written after it, and meanwhile a second request gets 429."""
    from ray import serve

    from pipeline.interfaces.serve import deploy

    (tmp_path / "key").write_text(KEY)
    out = tmp_path / "runs"
    settings = make_settings(str(DEMO), small_run(tiny_random_model, out), port=free_port(),
                             api_key_file=str(tmp_path / "key"),
                             limits=["max_n=256", "max_concurrent=1", "request_timeout_s=3"])
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    try:
        url = f"{deploy(settings)}/v1/best_of_n"
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(requests.post, url, data=body(n=256, max_new_tokens=24), headers=headers, timeout=300)
            time.sleep(1.5)
            assert requests.post(url, data=body(), headers=headers, timeout=60).status_code == 429  # slot taken
            answer = slow.result()
        assert answer.status_code == 504, answer.text
        written = lambda: sum(len(p.read_text().splitlines()) for p in out.glob("*/samples.jsonl"))  # noqa: E731
        at_answer = written()
        time.sleep(4)
        assert written() == at_answer < 256  # nothing after the answer
        assert requests.post(url, data=body(), headers=headers, timeout=300).status_code == 200  # the slot is free
    finally:
        serve.shutdown()
