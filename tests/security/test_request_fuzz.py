"""Fuzzed request bodies for `POST /v1/best_of_n`: every one is answered with a 4xx (or parses),
never an unhandled exception, and nothing is executed before the body is valid."""
import json
import random

import pytest

from benchmarks.tasks.synthetic_code import make_tasks
from pipeline.interfaces.serve import HttpError, ServeLimits, parse_request

TASK = make_tasks("test", n=1)[0].model_dump(mode="json")
LIMITS = ServeLimits()
VALUES = [None, True, -1, 0, 2**70, 1e308, float("nan"), "", "x" * 100_000, [], {}, [[[]]], {"a": {"b": {}}},
          "\ud800", "\x00", "💥" * 1000]


def mutants(rng: random.Random):
    fields = ["n", "strategy", "verifier", "selector", "temperature", "max_new_tokens", "seed", "task"]
    task_fields = list(TASK) + ["unknown"]
    for _ in range(300):
        body = {"task": dict(TASK), "n": 4}
        if rng.random() < 0.5:
            body[rng.choice(fields)] = rng.choice(VALUES)
        else:
            body["task"][rng.choice(task_fields)] = rng.choice(VALUES)
        yield json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


RAW = [b"", b"\xff\xfe\x00", b"\x80" * 100, b"[" * 100_000 + b"]" * 100_000, b'{"task": ' * 50_000,
       b'{"n": 1' + b" " * 10, b"null", b"1e999999", json.dumps({"task": "x" * 2_000_000}).encode(),
       b'{"n": ' + b"9" * 5000 + b"}"]  # past int's 4300-digit limit: a ValueError, was a 500


@pytest.mark.parametrize("raw", RAW, ids=range(len(RAW)))
def test_malformed_bytes_get_a_4xx(raw):
    with pytest.raises(HttpError) as caught:
        parse_request(raw, LIMITS)
    assert 400 <= caught.value.status < 500


def test_random_field_mutations_parse_or_get_a_4xx():
    rng = random.Random(0)
    outcomes = {"parsed": 0, "refused": 0}
    for raw in mutants(rng):
        try:
            parse_request(raw, LIMITS)
            outcomes["parsed"] += 1
        except HttpError as exc:
            assert 400 <= exc.status < 500, exc.message
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["parsed"] > 10
