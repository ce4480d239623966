"""The harness's wire codec and its verdict rule, on the host (the sandboxed runs are in
tests/security/test_verifier_hacks.py)."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.types import Candidate, ExecutionResult, Task
from pipeline.judging.harness import wire
from pipeline.judging.unit_tests import REPORT_PREFIX, verdict_from

PLAIN = [None, True, 0, -7, 2**100, 1.5, float("inf"), "", "é\u0000", b"\x00\xff", [1, [2]], (1, "a"), (),
         {1, 2}, frozenset({"x"}), {1: (2, 3), "k": [None]}, {(1, 2): frozenset()}]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_values_round_trip_with_their_types(value):
    back = wire.decode(wire.encode(value))
    assert back == value and type(back) is type(value)


def test_nan_round_trips():
    assert math.isnan(wire.decode(wire.encode(float("nan"))))


class Sly(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class Anything:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [Sly("x"), Anything(), [Anything()], {1: Anything()}, True.__class__.__mro__,
                                   iter([1]), lambda: 1, type("I", (int,), {})(3)], ids=repr)
def test_anything_else_is_not_plain_data(value):
    with pytest.raises(wire.NotPlainData):
        wire.encode(value)


def test_deep_nesting_is_refused_both_ways():
    deep = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.NotPlainData):
        wire.encode(deep)
    with pytest.raises(wire.NotPlainData):
        wire.decode(b"L\x00\x00\x00\x01" * (wire.MAX_DEPTH + 5) + b"L\x00\x00\x00\x00")


@pytest.mark.parametrize("data", [b"", b"X", b"N!", b"I\x00\x00\x00\x02--", b"I\x00\x00\x00\x01a",
                                  b"S\x00\x00\x00\x05ab", b"E\x00\x00\x00\x01L\x00\x00\x00\x00",
                                  b"I\x00\x00\x13\x89" + b"9" * 5001, b"L\xff\xff\xff\xff"])
def test_malformed_bytes_are_refused(data):
    with pytest.raises(wire.NotPlainData):
        wire.decode(data)


def plain(value) -> bool:
    kind = type(value)
    if value is None or kind in (bool, int, float, str, bytes):
        return True
    if kind in (list, tuple, set, frozenset):
        return all(plain(v) for v in value)
    return kind is dict and all(plain(k) and plain(v) for k, v in value.items())


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.frozensets(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(plain_values)
def test_generated_plain_values_round_trip(value):
    assert wire.decode(wire.encode(value)) == value


@settings(max_examples=400, deadline=None)
@given(plain_values, st.data())
def test_mutated_bytes_decode_to_plain_builtins_or_are_refused(value, data):
    raw = bytearray(wire.encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        decoded = wire.decode(bytes(raw))
    except wire.NotPlainData:
        return
    assert plain(decoded)


TASK = Task(id="t", prompt="def f():\n", tests="assert True")
CANDIDATE = Candidate(task_id="t", sample_index=0, content="")


def report(**fields) -> str:
    return REPORT_PREFIX + repr({"ttc_harness": 1, "passed": True, "calls": 1, "failure": None, "error": None, **fields})


@pytest.mark.parametrize("result", [
    ExecutionResult(exit_code=0, stdout=""),  # exit code 0 alone
    ExecutionResult(exit_code=0, stdout="ttc-tests-completed\n"),
    ExecutionResult(exit_code=0, stdout=report(calls=0)),  # the tests never called the candidate
    ExecutionResult(exit_code=0, stdout=report(passed="yes")),
    ExecutionResult(exit_code=1, stdout=report()),  # the harness itself failed
    ExecutionResult(exit_code=0, stdout=report(), timed_out=True),
    ExecutionResult(exit_code=0, stdout=report(), error="engine down"),
], ids=["exit-0", "marker", "no-calls", "passed-not-true", "harness-exit-1", "timed-out", "infra-error"])
def test_only_the_harness_report_of_a_clean_run_passes(result):
    assert not verdict_from(TASK, CANDIDATE, "unit_tests", result).passed


def test_a_clean_report_passes_and_a_missing_one_is_an_error():
    assert verdict_from(TASK, CANDIDATE, "unit_tests", ExecutionResult(exit_code=0, stdout=report())).passed
    missing = verdict_from(TASK, CANDIDATE, "unit_tests", ExecutionResult(exit_code=0, stdout="hello"))
    assert not missing.passed and "no report" in missing.error
