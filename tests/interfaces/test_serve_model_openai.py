"""`ttc serve-model` driven by the official `openai` client, as OpenAI's users drive it.

One real server (Ray Serve, the tiny random Llama, CPU) on a free loopback port for the module,
with small limits so every limit can be hit cheaply.
"""
from __future__ import annotations

import json
import random
import socket
import threading
import time

import openai
import psutil
import pytest
import requests

from pipeline.core.types import SamplingParams
from pipeline.interfaces.serve_model import ChatMessage, ServeModelLimits, chat_prompt
from tests.interfaces.conftest import free_port

LIMITS = ServeModelLimits(max_body_bytes=64_000, max_prompts=4, max_n=8, max_choices=16, max_tokens=200,
                          max_logprob_entries=50_000, max_concurrent=2, body_timeout_s=4, request_timeout_s=120)
PROMPTS = ["def add(a, b):", "The answer is"]
REPLICA = "ServeReplica:ttc-model-openai:ModelServer"


@pytest.fixture(scope="module")
def _server():
    started: dict = {}
    yield started
    if started:
        from ray import serve

        serve.shutdown()


@pytest.fixture()
def base_url(ray_local, tiny_random_model, _server) -> str:
    from pipeline.interfaces.serve_model import serve_model

    if "url" not in _server:
        _server["url"] = serve_model(tiny_random_model, port=free_port(), blocking=False, app_name="ttc-model-openai",
                                     model_name="tiny", device="cpu", limits=LIMITS)
    return _server["url"]


@pytest.fixture()
def client(base_url) -> openai.OpenAI:
    # no retries: a 429 must reach the test, not be waited out
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def local(tiny_random_model):
    """The same model in this process, to compare the server's answers with."""
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(tiny_random_model, device="cpu") as generator:
        yield generator


def texts(response) -> list[str]:
    return [choice.text for choice in sorted(response.choices, key=lambda c: c.index)]


def streamed_texts(chunks, chat: bool) -> dict[int, str]:
    """Reassembles a stream: text per choice index; checks each choice finishes exactly once."""
    parts: dict[int, list[str]] = {}
    finished: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            piece = (choice.delta.content or "") if chat else choice.text
            parts.setdefault(choice.index, []).append(piece)
            if choice.finish_reason is not None:
                assert choice.index not in finished
                finished[choice.index] = choice.finish_reason
    assert finished.keys() == parts.keys()
    return {index: "".join(pieces) for index, pieces in parts.items()}


def expected_name(tokenizer, token_id: int) -> str:
    """OpenAI's name of a token, worked out here from the tokenizer alone."""
    text = tokenizer.decode([token_id], skip_special_tokens=False)
    if "\ufffd" not in text:
        return text
    from pipeline.interfaces.serve_model import BYTE_LEVEL

    raw = bytes(BYTE_LEVEL[ch] for ch in tokenizer.convert_ids_to_tokens(token_id))
    return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


# ---------------------------------------------------------------- answers


def test_completions_n_and_seed_match_the_generator(client, local):
    answer = client.completions.create(model="tiny", prompt=PROMPTS, n=3, max_tokens=8, temperature=1.0, seed=5)
    assert sorted(c.index for c in answer.choices) == list(range(6))
    want = local.generate(PROMPTS, SamplingParams(n=3, max_new_tokens=8, temperature=1.0, seed=5))
    assert texts(answer) == [c.text for per_prompt in want for c in per_prompt]
    assert answer.usage.completion_tokens == sum(c.completion_tokens for per_prompt in want for c in per_prompt)
    again = client.completions.create(model="tiny", prompt=PROMPTS, n=3, max_tokens=8, temperature=1.0, seed=5)
    other = client.completions.create(model="tiny", prompt=PROMPTS, n=3, max_tokens=8, temperature=1.0, seed=6)
    assert texts(again) == texts(answer) != texts(other)


def test_chat_matches_the_generator_on_the_rendered_prompt(client, local):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    answer = client.chat.completions.create(model="tiny", messages=messages, n=2, max_tokens=10, seed=9)
    prompt = chat_prompt(local.tokenizer, [ChatMessage(**m) for m in messages])
    want = local.generate([prompt], SamplingParams(n=2, max_new_tokens=10, seed=9))[0]
    assert [c.message.content for c in sorted(answer.choices, key=lambda c: c.index)] == [c.text for c in want]
    assert {c.message.role for c in answer.choices} == {"assistant"}
    assert answer.object == "chat.completion"


def test_stop_sequences_cut_the_text(client):
    answer = client.completions.create(model="tiny", prompt=PROMPTS[0], n=6, max_tokens=20, seed=2, stop=["e", "\n"])
    assert all("e" not in c.text and "\n" not in c.text for c in answer.choices)
    assert "stop" in {c.finish_reason for c in answer.choices}


def test_completion_logprobs_are_decoded_with_top_alternatives(client, local):
    answer = client.completions.create(model="tiny", prompt=PROMPTS[0], max_tokens=12, temperature=0, logprobs=3)
    logprobs = answer.choices[0].logprobs
    token_ids = answer.choices[0].model_extra["token_ids"]  # a vLLM-style extra field
    assert logprobs.tokens == [expected_name(local.tokenizer, t) for t in token_ids]
    assert not any("Ġ" in token for token in logprobs.tokens)
    assert len(logprobs.top_logprobs) == len(logprobs.tokens) == len(logprobs.token_logprobs)
    for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs):
        assert len(top) == 3  # greedy: the chosen token is one of the 3 likeliest
        best = max(top, key=top.get)
        assert (best, top[best]) == (token, pytest.approx(logprob))
    assert logprobs.text_offset[0] == 0 and logprobs.text_offset == sorted(logprobs.text_offset)


def test_byte_level_symbols_become_text(client):
    answer = client.completions.create(model="tiny", prompt=PROMPTS, n=4, max_tokens=16, seed=3, logprobs=0)
    tokens = [t for c in answer.choices for t in c.logprobs.tokens]
    assert any(t.startswith(" ") for t in tokens)  # 'Ġs' is sent as ' s'
    assert not any("Ġ" in t or "\ufffd" in t for t in tokens)
    for choice in answer.choices:  # logprobs=0: only the chosen token, as OpenAI does
        assert [list(top) for top in choice.logprobs.top_logprobs] == [[t] for t in choice.logprobs.tokens]
        whole = [t for t in choice.logprobs.tokens if not t.startswith("bytes:")]
        if len(whole) == len(choice.logprobs.tokens):
            assert "".join(whole) == choice.text


def test_chat_logprobs_carry_top_logprobs_and_bytes(client):
    answer = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=8, temperature=0, logprobs=True, top_logprobs=4)
    content = answer.choices[0].logprobs.content
    assert content and len(content) == answer.usage.completion_tokens
    for entry in content:
        assert len(entry.top_logprobs) == 4
        assert entry.top_logprobs[0].token == entry.token
        assert [t.logprob for t in entry.top_logprobs] == sorted((t.logprob for t in entry.top_logprobs), reverse=True)
        if not entry.token.startswith("bytes:"):
            assert bytes(entry.bytes).decode() == entry.token
    plain = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=4, logprobs=True, seed=1)
    assert all(entry.top_logprobs == [] for entry in plain.choices[0].logprobs.content)


# ---------------------------------------------------------------- streaming


@pytest.mark.parametrize("temperature, stop", [(0.0, None), (1.0, None), (1.0, ["e"])])
def test_streamed_completions_reassemble_to_the_same_texts(client, temperature, stop):
    common = dict(model="tiny", prompt=PROMPTS, n=2, max_tokens=24, temperature=temperature, seed=11, stop=stop)
    whole = texts(client.completions.create(**common))
    chunks = list(client.completions.create(stream=True, **common))
    assert len(chunks) > len(whole)  # sent piece by piece, not once at the end
    assert streamed_texts(chunks, chat=False) == dict(enumerate(whole))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_streamed_chat_reassembles_to_the_same_texts(client, temperature):
    common = dict(model="tiny", messages=[{"role": "user", "content": "hello"}], n=2, max_tokens=24,
                  temperature=temperature, seed=4)
    whole = client.chat.completions.create(**common)
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **common))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    want = {c.index: c.message.content for c in whole.choices}
    assert streamed_texts(chunks, chat=True) == want


def test_streamed_logprobs_match_the_whole_answer(client):
    common = dict(model="tiny", prompt=PROMPTS[1], n=2, max_tokens=16, seed=8, logprobs=2)
    whole = client.completions.create(**common)
    tokens: dict[int, list[str]] = {}
    for chunk in client.completions.create(stream=True, **common):
        for choice in chunk.choices:
            tokens.setdefault(choice.index, []).extend(choice.logprobs.tokens if choice.logprobs else [])
    assert tokens == {c.index: c.logprobs.tokens for c in whole.choices}


# ---------------------------------------------------------------- limits and errors


def timed(call):
    started = time.monotonic()
    try:
        call()
    except openai.APIStatusError as error:
        return error, time.monotonic() - started
    raise AssertionError("the request was accepted")


def test_an_oversized_body_gets_413_before_it_is_read(client, base_url):
    error, seconds = timed(lambda: client.completions.create(model="tiny", prompt="x" * 10_000_000, max_tokens=1))
    assert error.status_code == 413 and "max_body_bytes=64000" in error.message
    pieces = [b'{"model": "tiny", "prompt": "'] + [b"x" * 8192] * 16
    chunked = requests.post(f"{base_url}/completions", data=iter(pieces),
                            headers={"Content-Type": "application/json"}, timeout=60)
    assert chunked.status_code == 413  # no Content-Length: cut off while reading
    print(f"413 for a 10 MB body in {seconds * 1000:.0f} ms")


@pytest.mark.parametrize("fields, words", [
    ({"n": 4096}, "max_n=8"),
    ({"prompt": ["x"] * 10_000}, "max_prompts=4"),
    ({"prompt": ["x", "y", "z"], "n": 6}, "max_choices=16"),
    ({"max_tokens": 10_000}, "max_tokens=200"),
    ({"prompt": ["a", "b"], "logprobs": 20, "n": 8, "max_tokens": 200}, "max_logprob_entries=50000"),
])
def test_requests_over_a_limit_get_400_at_once(client, fields, words):
    body = {"model": "tiny", "prompt": "def f", **fields}
    error, seconds = timed(lambda: client.completions.create(**body))
    assert error.status_code == 400 and words in error.message
    assert seconds < 5  # nothing was tokenized or generated
    print(f"{words}: 400 in {seconds * 1000:.0f} ms")


def test_other_errors_are_openai_shaped(client):
    with pytest.raises(openai.NotFoundError, match="'tiny'"):
        client.completions.create(model="other", prompt="x")
    with pytest.raises(openai.BadRequestError, match="context of 256 tokens"):
        client.completions.create(model="tiny", prompt="word " * 300, max_tokens=4)
    with pytest.raises(openai.UnprocessableEntityError, match="top_logprobs needs logprobs"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], top_logprobs=2)


def slow_upload(base_url: str) -> socket.socket:
    """A request whose body never finishes arriving: it holds a slot until body_timeout_s."""
    host, port = base_url.split("//")[1].split("/")[0].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"model\": ")
    return sock


def wait_for_a_free_slot(client: openai.OpenAI, seconds: float) -> float:
    started = time.monotonic()
    while True:
        try:
            client.completions.create(model="tiny", prompt="x", max_tokens=1)
            return time.monotonic() - started
        except openai.RateLimitError:
            assert time.monotonic() - started < seconds, "the slots were not given back"
            time.sleep(0.1)


def test_more_requests_than_max_concurrent_get_429_and_models_still_answers(base_url, client):
    holders = [slow_upload(base_url) for _ in range(LIMITS.max_concurrent)]
    try:
        time.sleep(0.5)  # let both reach the replica
        error, seconds = timed(lambda: client.completions.create(model="tiny", prompt="x", max_tokens=1))
        assert error.status_code == 429 and "max_concurrent=2" in error.message
        started = time.monotonic()
        assert requests.get(f"{base_url}/models", timeout=10).json()["data"][0]["id"] == "tiny"
        print(f"429 in {seconds * 1000:.0f} ms; /v1/models in {(time.monotonic() - started) * 1000:.0f} ms "
              "while both slots are held")
        holders.pop().close()  # a client that leaves gives its slot back at once
        assert wait_for_a_free_slot(client, 5) < LIMITS.body_timeout_s
        assert b"408" in holders[0].recv(200).split(b"\r\n")[0]  # the other one is cut off
    finally:
        for sock in holders:
            sock.close()


def test_a_client_that_leaves_cancels_its_work(base_url, client):
    body = {"model": "tiny", "prompt": ["for i in", "def f"], "n": 8, "max_tokens": 200, "temperature": 1.0, "seed": 3}
    started = time.monotonic()
    client.completions.create(**body)
    whole = time.monotonic() - started
    holder = slow_upload(base_url)  # holds the other slot, so the probe waits for the stream's
    try:
        stream = requests.post(f"{base_url}/completions", json={**body, "stream": True}, stream=True, timeout=60)
        assert next(stream.iter_lines()).startswith(b"data: ")
        stream.close()
        freed = wait_for_a_free_slot(client, whole + 5)
    finally:
        holder.close()
    print(f"16 x 200 tokens take {whole * 1000:.0f} ms; a stream closed after its first chunk freed its slot "
          f"in {freed * 1000:.0f} ms")
    assert freed < whole / 2


def test_parallel_requests_are_bounded_not_queued(base_url):
    """8 requests at once against max_concurrent=2: some answered, the rest 429, none lost."""
    statuses: list[int] = []
    body = {"model": "tiny", "prompt": "def f", "n": 8, "max_tokens": 100, "seed": 1}

    def send() -> None:
        statuses.append(requests.post(f"{base_url}/completions", json=body, timeout=60).status_code)

    start = threading.Barrier(8)
    threads = [threading.Thread(target=lambda: (start.wait(), send())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert len(statuses) == 8 and set(statuses) <= {200, 429}
    assert 200 in statuses and 429 in statuses


# ---------------------------------------------------------------- fuzz


def replica_rss_mb() -> float:
    """Resident memory of this module's Serve replica (a descendant of this test process)."""
    for process in psutil.Process().children(recursive=True):
        try:
            if REPLICA in " ".join(process.cmdline()):
                return process.memory_info().rss / 2**20
        except psutil.Error:
            continue
    raise AssertionError(f"no process {REPLICA} found")


VALUES = [None, True, False, -1, 0, 1, 2, 7, 300, 2**31, 2**63, 10**30, -0.5, 0.5, 1e308, "", "x", "tiny",
          "é\u0000\ud7ff", "\ud800", [], [1, 2], ["a", "b"], [[["deep"]]], {}, {"a": 1}, "x" * 5000]
KEYS = ["model", "prompt", "messages", "n", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
        "stop", "seed", "stream", "logprobs", "top_logprobs", "stream_options", "role", "content", "extra"]


def fuzz_bodies(rng: random.Random, count: int):
    completion = {"model": "tiny", "prompt": "def f", "max_tokens": 3, "n": 1, "seed": 1}
    chat = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "seed": 1}
    for _ in range(count):
        path, base = rng.choice([("completions", completion), ("chat/completions", chat)])
        yield path, mutate(rng, dict(base))


def mutate(rng: random.Random, body: dict) -> bytes:
    for _ in range(rng.randint(1, 4)):
        action = rng.random()
        if action < 0.5:
            body[rng.choice(KEYS)] = rng.choice(VALUES)
        elif action < 0.65 and body:
            body.pop(rng.choice(sorted(body)))
        elif action < 0.75:
            body["messages"] = [{"role": rng.choice(["user", "assistant", "robot", 3]),
                                 "content": rng.choice(VALUES)} for _ in range(rng.randint(0, 3))]
        elif action < 0.8:
            return b"[" * rng.randint(1, 100_000)  # nesting deep enough to exhaust a parser's stack
    raw = json.dumps(body).encode()
    if rng.random() < 0.15:  # truncated, or with random bytes spliced in
        cut = rng.randrange(len(raw))
        raw = raw[:cut] + (bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))) if rng.random() < 0.5 else b"")
    return raw


def test_fuzzed_bodies_leave_the_server_up_and_bounded(base_url):
    rng = random.Random(20240601)
    requests.get(f"{base_url}/models", timeout=30)
    before = replica_rss_mb()
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for path, raw in fuzz_bodies(rng, 300):
        response = requests.post(f"{base_url}/{path}", data=raw, headers={"Content-Type": "application/json"},
                                 timeout=60)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in {200, 400, 404, 413, 422}, (raw[:300], response.text[:300])
        if response.status_code != 200:
            assert "message" in response.json()["error"]
    after = replica_rss_mb()
    assert requests.get(f"{base_url}/models", timeout=10).status_code == 200
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) + statuses.get(422, 0) > 100
    assert after - before < 300, f"replica grew from {before:.0f} MB to {after:.0f} MB"
    print(f"fuzz: {statuses} in {time.monotonic() - started:.1f} s; replica RSS {before:.0f} -> {after:.0f} MB")


# ---------------------------------------------------------------- settings (no server)


def test_limits_are_set_and_checked_like_ttc_serves(tmp_path, capsys):
    from pipeline.interfaces.cli import main
    from pipeline.interfaces.serve_model import make_limits

    assert make_limits(["max_n=3", "body_timeout_s=1.5"]).model_dump() == {
        **ServeModelLimits().model_dump(), "max_n": 3, "body_timeout_s": 1.5}
    assert main(["serve-model", str(tmp_path), "--limit", "max_concurrent=0"]) == 2  # before Ray or the model
    assert "invalid --limit: max_concurrent: Input should be greater than or equal to 1" in capsys.readouterr().err
