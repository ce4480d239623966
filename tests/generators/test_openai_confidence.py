"""openai_compat confidence from the `top_logprobs` a real loopback server returns: `ttc serve-model`
serving tiny-math (Ray Serve, CPU), against the same model decoded here; the online stop as a
closed stream; and a hostile server whose logprobs no distribution has, which earns no confidence."""
from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks.tasks.arith_word import STOP_SEQUENCES, make_tasks
from pipeline.core.types import ConfidenceParams, SamplingParams
from pipeline.generators.openai_compat import OpenAICompatGenerator
from tests.interfaces.conftest import free_port

TINY_MATH = str(Path(__file__).resolve().parents[2] / "models" / "tiny-math")
PROMPT = make_tasks("test", 1)[0].prompt
# plain role lines, so the local loop renders a chat prompt exactly as the server does
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")
GREEDY = SamplingParams(n=1, temperature=0.0, max_new_tokens=48, stop=STOP_SEQUENCES, seed=5,
                        confidence=ConfidenceParams(window=4, tail=4))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    """tiny-math with a chat template, so both endpoints can be served."""
    folder = tmp_path_factory.mktemp("served") / "tiny-math"
    shutil.copytree(TINY_MATH, folder)
    config_file = folder / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "chat_template": CHAT_TEMPLATE}))
    return str(folder)


@pytest.fixture(scope="module")
def _server():
    started: dict = {}
    yield started
    if started:
        from ray import serve

        serve.shutdown()


@pytest.fixture()
def base_url(ray_local, _server, model) -> str:
    from pipeline.interfaces.serve_model import serve_model

    if "url" not in _server:
        _server["url"] = serve_model(model, port=free_port(), blocking=False, app_name="ttc-model-confidence",
                                     model_name="tiny-math", device="cpu")
    return _server["url"]


@pytest.fixture(scope="module")
def local(model):
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(model, device="cpu") as generator:
        yield generator


@pytest.mark.parametrize("chat", [False, True])
def test_confidence_from_the_servers_top_logprobs_equals_the_local_decode_loops(base_url, local, chat):
    with OpenAICompatGenerator("tiny-math", base_url, chat=chat) as remote:
        served = remote.generate([PROMPT], GREEDY)[0][0]
    here = local.generate([[{"role": "user", "content": PROMPT}] if chat else PROMPT], GREEDY)[0][0]
    assert served.text == here.text and served.confidence is not None
    assert served.confidence == pytest.approx(here.confidence, rel=1e-5)


def test_a_stream_is_closed_once_its_window_falls_below_the_threshold(base_url, local):
    with OpenAICompatGenerator("tiny-math", base_url) as remote:
        unstopped = remote.generate([PROMPT], GREEDY.model_copy(update={
            "confidence": GREEDY.confidence.model_copy(update={"stop_below": 0.0})}))[0][0]  # streamed, never below 0
        here = local.generate([PROMPT], GREEDY)[0][0]
        assert unstopped.text == here.text and unstopped.confidence == pytest.approx(here.confidence, rel=1e-5)
        bar = here.confidence["mean"] + 1.0  # above every window: stops at the first full one
        stopped = remote.generate([PROMPT], GREEDY.model_copy(update={
            "n": 2, "confidence": GREEDY.confidence.model_copy(update={"stop_below": bar})}))[0]
    for completion in stopped:
        assert completion.finish_reason == "low_confidence" and completion.token_cap == 48
        assert 4 <= completion.completion_tokens < here.completion_tokens
        assert here.text.startswith(completion.text)


# ------------------------------------------------------------------ a hostile server

FORGED = [  # per token: (the sampled token's logprob, its top logprobs)
    (-0.01, {"a": -0.01, "b": -0.01}),         # two tokens at p=0.99: more than all the probability
    (-0.0, {"a": -0.0, "b": -9000.0}),         # believable: one certain token
    (-30.0, {"a": -30.0}),                     # a likeliest token at e^-30
]


class Forger(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        steps = FORGED if body.get("logprobs") else FORGED[1:2]
        logprobs = {"tokens": ["x"] * len(steps), "token_logprobs": [lp for lp, _ in steps],
                    "top_logprobs": [top for _, top in steps], "text_offset": list(range(len(steps)))}
        choice = {"index": 0, "text": "Answer: 7", "finish_reason": "stop", "logprobs": logprobs}
        if body.get("stream"):
            events = [f"data: {json.dumps({'choices': [choice]})}\n\n", "data: [DONE]\n\n"]
            payload, kind = "".join(events).encode(), "text/event-stream"
        else:
            payload, kind = json.dumps({"choices": [choice], "usage": {}}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def forger():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Forger)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_forging_logprobs_gets_no_confidence_and_stops_nothing(forger):
    with OpenAICompatGenerator("m", forger, max_retries=0) as remote:
        plain = remote.generate(["q"], GREEDY)[0][0]
        streamed = remote.generate(["q"], GREEDY.model_copy(update={
            "confidence": GREEDY.confidence.model_copy(update={"stop_below": 1e6})}))[0][0]
    assert plain.text == "Answer: 7" and plain.confidence is None
    assert streamed.confidence is None and streamed.finish_reason == "stop"  # untrusted: never stopped by it
