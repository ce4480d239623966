"""The OpenAI-compatible backend against `ttc serve-model` (Ray Serve, the tiny model, CPU)."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from pipeline.generators import make_generator
from pipeline.generators.openai_compat import OpenAICompatError, OpenAICompatGenerator
from pipeline.interfaces.serve_model import ChatMessage, chat_prompt
from pipeline.core.types import SamplingParams

PROMPTS = ["def add(a, b):", "The answer is"]


def free_port(low: int = 20000, high: int = 30000) -> int:
    """A free loopback port outside Ray's worker range (10002-19999)."""
    for port in range(low, high):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def _server():
    """One `serve-model` deployment for this module, shut down after its last test."""
    started = {}
    yield started
    if started:
        from ray import serve

        serve.shutdown()


@pytest.fixture()
def server_url(ray_local, tiny_model_dir, _server):
    from pipeline.interfaces.serve_model import serve_model

    if "url" not in _server:
        _server["url"] = serve_model(str(tiny_model_dir), port=free_port(), blocking=False,
                                     model_name="tiny", device="cpu")
    return _server["url"]


def same(remote, local):
    for got, want in zip(remote, local, strict=True):
        for a, b in zip(got, want, strict=True):
            assert (a.text, a.token_ids, a.finish_reason) == (b.text, b.token_ids, b.finish_reason)
            assert (a.prompt_tokens, a.completion_tokens) == (b.prompt_tokens, b.completion_tokens)
            assert a.cumulative_logprob == pytest.approx(b.cumulative_logprob, abs=1e-4)


def test_completions_round_trip(server_url, hf_generator):
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=12, seed=5, logprobs=True)
    with make_generator("openai_compat", model="tiny", base_url=server_url) as remote:
        same(remote.generate(PROMPTS, params), hf_generator.generate(PROMPTS, params))


def test_stop_sequences_round_trip(server_url, hf_generator):
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=20, seed=2, stop=["e", "\n"])
    with OpenAICompatGenerator("tiny", server_url) as remote:
        got = remote.generate(PROMPTS, params)
    same(got, hf_generator.generate(PROMPTS, params))
    assert "stop" in {c.finish_reason for per_prompt in got for c in per_prompt}


def test_chat_round_trip(server_url, hf_generator):
    params = SamplingParams(n=2, temperature=0.8, top_k=20, max_new_tokens=10, seed=9, logprobs=True)
    prompt = chat_prompt(hf_generator.tokenizer, [ChatMessage(role="user", content="hello")])
    with OpenAICompatGenerator("tiny", server_url, chat=True) as remote:
        same(remote.generate(["hello"], params), hf_generator.generate([prompt], params))


@pytest.mark.parametrize("body, status, words", [
    ({"model": "tiny", "prompt": "x", "temperature": -1}, 400, "temperature"),
    ({"model": "tiny", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "tiny", "prompt": "word " * 100}, 400, "context of 256 tokens"),
    ({"model": "tiny"}, 422, "prompt"),
    ({"model": "other", "prompt": "x"}, 404, "'tiny'"),
])
def test_bad_bodies_get_4xx_with_a_message(server_url, body, status, words):
    response = requests.post(f"{server_url}/completions", json=body, timeout=30)
    assert response.status_code == status
    assert words in response.text


def test_models_endpoint(server_url):
    assert requests.get(f"{server_url}/models", timeout=30).json()["data"][0]["id"] == "tiny"


def test_client_error_is_not_retried(server_url):
    with OpenAICompatGenerator("other", server_url, max_retries=5, backoff_s=2.0) as remote:
        started = time.monotonic()
        with pytest.raises(OpenAICompatError, match="refused the request: HTTP 404"):
            remote.generate(["x"], SamplingParams())
        assert time.monotonic() - started < 1.5


def test_unreachable_server_retries_then_fails():
    url = f"http://127.0.0.1:{free_port(30000, 31000)}/v1"
    with OpenAICompatGenerator("tiny", url, max_retries=2, backoff_s=0.05) as remote:
        with pytest.raises(OpenAICompatError, match="failed 3 times.*ConnectionError"):
            remote.generate(["x"], SamplingParams())


class OneChoiceServer(BaseHTTPRequestHandler):
    """A server that ignores `n` and answers 503 to its very first request."""

    bodies: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        if len(self.bodies) == 1:
            self.send_response(503)
            self.end_headers()
            return
        answer = {"choices": [{"index": 0, "text": f"seed {body.get('seed')}", "finish_reason": "length"}]}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_fewer_choices_than_n_are_filled_by_single_requests():
    server = ThreadingHTTPServer(("127.0.0.1", free_port(31000, 32000)), OneChoiceServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with OpenAICompatGenerator("m", f"http://127.0.0.1:{server.server_port}/v1", backoff_s=0.01) as remote:
            (got,) = remote.generate(["x"], SamplingParams(n=3, seed=10))
    finally:
        server.shutdown()
    assert sorted(c.text for c in got) == ["seed 10", "seed 11", "seed 12"]
    assert [b["n"] for b in OneChoiceServer.bodies] == [3, 3, 1, 1]  # 503, retried, then 2 singles


def test_a_keyed_model_server_refuses_requests_without_the_key(server_url, tiny_model_dir):
    from ray import serve

    from pipeline.interfaces.serve import key_digest
    from pipeline.interfaces.serve_model import build_app

    key = "k" * 32
    app = build_app(str(tiny_model_dir), model_name="tiny", device="cpu", api_key_sha256=key_digest(key))
    serve.run(app, name="ttc-keyed", route_prefix="/keyed", blocking=False)
    base = server_url.rsplit("/v1", 1)[0] + "/keyed/v1"
    assert requests.get(f"{base}/models", timeout=30).status_code == 401
    wrong = requests.get(f"{base}/models", headers={"Authorization": "Bearer " + "x" * 32}, timeout=30)
    assert wrong.status_code == 401
    with OpenAICompatGenerator("tiny", base, api_key=key) as remote:
        got = remote.generate(["def f"], SamplingParams(n=2, max_new_tokens=4, seed=1))
    assert len(got[0]) == 2
    serve.delete("ttc-keyed")


def test_serve_model_refuses_an_exposed_address_without_a_key(tiny_model_dir, monkeypatch):
    from pipeline.interfaces.serve import ServeError
    from pipeline.interfaces.serve_model import serve_model

    monkeypatch.delenv("TTC_API_KEY", raising=False)
    with pytest.raises(ServeError, match="refusing to bind '0.0.0.0' without an API key"):
        serve_model(str(tiny_model_dir), host="0.0.0.0", blocking=False)
