"""openai_compat against an OpenAI-compatible server ttc did not write: `transformers serve` (Hugging
Face's, from the transformers package ttc already depends on, plus the `openai` test extra), on
loopback, serving the tiny random model. A recording proxy in front of it keeps every request
and response, so the official `openai` client's request bodies and parsed responses are compared
with ours as they are sent and received, not as typed here."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from pipeline.core.types import SamplingParams
from pipeline.generators.openai_compat import OpenAICompatError, OpenAICompatGenerator
from tests.interfaces.conftest import wait_answering

openai = pytest.importorskip("openai", reason="the openai test extra (transformers serve needs it too)")

ROOT = Path(__file__).resolve().parents[2]
# a template of plain role lines, so the hf backend renders chat prompts exactly as the server does
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")
PROMPTS = ["def add(a, b):", "The answer is"]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]


def free_port() -> int:
    with socket.socket() as probe:  # an ephemeral port: above Ray's worker range (10002-19999)
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tiny_random_model, tmp_path_factory) -> str:
    """The tiny random model with a chat template; its path is also the served model's name."""
    folder = tmp_path_factory.mktemp("served") / "tiny-chat"
    shutil.copytree(tiny_random_model, folder)
    config_file = folder / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "chat_template": CHAT_TEMPLATE}))
    return str(folder)


@pytest.fixture(scope="module")
def server(served_model, tmp_path_factory):
    """`transformers serve MODEL` on 127.0.0.1, stopped (by its pid) after the module."""
    port, log = free_port(), tmp_path_factory.mktemp("serve") / "server.log"
    command = [str(Path(sys.executable).with_name("transformers")), "serve", served_model,
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_answering(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RecordingProxy:
    """A loopback proxy that forwards to `upstream` and keeps each exchange's JSON bodies."""

    def __init__(self, upstream: str):
        self.exchanges: list[dict] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = requests.post(upstream + self.path, data=body, timeout=120,
                                       headers={"Content-Type": "application/json"})
                proxy.exchanges.append({"path": self.path, "request": json.loads(body), "status": answer.status_code,
                                        "response": answer.json()})
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def take(self) -> list[dict]:
        taken, self.exchanges = self.exchanges, []
        return taken


@pytest.fixture(scope="module")
def proxy(server):
    recorder = RecordingProxy(server)
    yield recorder
    recorder.http.shutdown()


@pytest.fixture(scope="module")
def openai_client(proxy):
    return openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def hf_local(served_model):
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(served_model, device="cpu") as generator:
        yield generator


GREEDY = SamplingParams(n=1, temperature=0.0, max_new_tokens=10, seed=3)
REQUESTS = [
    ("completions", PROMPTS[0], GREEDY),
    ("completions", PROMPTS[1], GREEDY.model_copy(update={"stop": ["\n", "e"], "top_p": 0.9})),
    ("chat", CHAT, GREEDY),
]


def create(client, endpoint: str):
    return client.completions.create if endpoint == "completions" else client.chat.completions.create


@pytest.mark.parametrize("endpoint, prompt, params", REQUESTS, ids=["completions", "stop-top_p", "chat"])
def test_our_requests_are_requests_the_openai_client_makes_and_we_read_its_answers_alike(
        proxy, openai_client, served_model, endpoint, prompt, params):
    with OpenAICompatGenerator(served_model, proxy.base_url, chat=endpoint == "chat") as ours:
        [[mine]] = ours.generate([prompt], params)
    [our_exchange] = proxy.take()
    # the official client takes each field as a keyword of its create() (a TypeError otherwise)
    theirs = create(openai_client, endpoint)(**our_exchange["request"])
    [their_exchange] = proxy.take()
    assert their_exchange["request"] == our_exchange["request"]
    assert their_exchange["path"] == our_exchange["path"] == f"/v1/{endpoint.replace('chat', 'chat/completions')}"
    [choice] = theirs.choices
    assert mine.text == (choice.text if endpoint == "completions" else choice.message.content)
    assert (mine.prompt_tokens, mine.completion_tokens) == (theirs.usage.prompt_tokens, theirs.usage.completion_tokens)
    assert mine.finish_reason == choice.finish_reason  # 'length' or 'stop' (no stop_reason: not vLLM)


def test_fields_beyond_openai_are_refused_by_a_strict_server_naming_them(proxy, openai_client, served_model):
    with OpenAICompatGenerator(served_model, proxy.base_url) as ours:
        with pytest.raises(OpenAICompatError, match=r"HTTP 422: .*Unexpected fields in the request: \{'top_k'\}"):
            ours.generate(PROMPTS[:1], GREEDY.model_copy(update={"top_k": 5}))
    [refused] = proxy.take()
    assert refused["request"]["top_k"] == 5  # sent only when set: vLLM's sampling field, not OpenAI's
    with pytest.raises(TypeError, match="top_k"):
        openai_client.completions.create(**refused["request"])


@pytest.mark.parametrize("chat", [False, True], ids=["completions", "chat"])
def test_greedy_completions_equal_the_hf_backend_on_the_same_model(proxy, served_model, hf_local, chat):
    prompts = [[{"role": "user", "content": p}] for p in PROMPTS] if chat else PROMPTS
    with OpenAICompatGenerator(served_model, proxy.base_url, chat=chat) as remote:
        got = remote.generate(prompts, GREEDY)
    proxy.take()
    for remote_samples, local_samples in zip(got, hf_local.generate(prompts, GREEDY), strict=True):
        for a, b in zip(remote_samples, local_samples, strict=True):
            assert (a.text, a.prompt_tokens, a.completion_tokens) == (b.text, b.prompt_tokens, b.completion_tokens)


def test_a_server_that_returns_one_choice_gets_the_rest_asked_one_by_one(proxy, served_model):
    params = SamplingParams(n=3, temperature=0.0, max_new_tokens=6, seed=7)
    with OpenAICompatGenerator(served_model, proxy.base_url) as remote:
        [samples] = remote.generate(PROMPTS[:1], params)
    exchanges = proxy.take()
    assert len(samples) == 3 and len({s.text for s in samples}) == 1  # greedy: the same text thrice
    asked = [(e["request"]["n"], e["request"]["seed"]) for e in exchanges]
    assert asked[0] == (3, 7) and sorted(asked[1:]) == [(1, 8), (1, 9)]  # the rest go out together
    assert all(len(e["response"]["choices"]) == 1 for e in exchanges)  # transformers serve ignores n


def test_llm_judge_on_the_server_from_verifier_options(proxy, served_model):
    from pipeline.core.types import Candidate, Task
    from pipeline.judging.verifiers import make_verifier

    judge = make_verifier("llm_judge", backend="openai_compat", model=served_model, base_url=proxy.base_url,
                          chat=True, samples=1)
    task = Task(id="add", kind="math", prompt="2 + 2 =", answer="4")
    [verdict] = judge.verify(task, [Candidate(task_id="add", sample_index=0, content="4")])
    [exchange] = proxy.take()
    assert exchange["path"] == "/v1/chat/completions" and "Proposed solution:\n4" in exchange["request"]["messages"][0]["content"]
    assert verdict.details["judgements"] == [exchange["response"]["choices"][0]["message"]["content"][:200]]
    assert verdict.error is not None and not verdict.passed  # the random model says neither yes nor no


@pytest.mark.docker
def test_ttc_run_with_the_shipped_openai_compat_server_config(ray_local, sandbox_image, proxy, served_model,
                                                              tmp_path, capsys):
    from pipeline.interfaces.cli import main

    config = ROOT / "configs/openai_compat_server.yaml"
    assert main(["run", str(config), f"model.path={served_model}", f"model.base_url={proxy.base_url}",
                 "tasks.limit=2", "sampling.n=2", "sampling.max_new_tokens=12", "runner.chunk_size=2",
                 f"runner.output_dir={tmp_path}"]) == 0
    run_dir = Path(capsys.readouterr().out.split("run directory: ")[1].strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["samples"] == 4 and summary["errors"] == 0 and summary["tasks"] == 2
    exchanges = proxy.take()
    assert exchanges and all(e["status"] == 200 and e["path"] == "/v1/completions" for e in exchanges)
    tokens = sum(json.loads(line)["trajectory"]["completion"]["completion_tokens"]
                 for line in (run_dir / "samples.jsonl").read_text().splitlines())
    assert tokens == sum(e["response"]["usage"]["completion_tokens"] for e in exchanges) > 0
