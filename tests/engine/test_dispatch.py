"""Least-loaded dispatch (pipeline/engine/dispatch.py) with plain threads: the next call goes to
the target with the fewest calls in flight, counts stay exact under concurrency, and of two
targets with uneven latencies the faster one gets more calls (round robin would split evenly)."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipeline.engine.dispatch import LeastLoaded


def test_next_call_goes_to_the_target_with_fewest_in_flight():
    dispatch = LeastLoaded(["a", "b", "c"])
    with dispatch.lease() as first, dispatch.lease() as second:
        assert {first, second} == {"a", "b"}  # ties rotate: two idle targets, two different picks
        with dispatch.lease() as third:
            assert third == "c"
            assert dispatch.in_flight() == [1, 1, 1]
    assert dispatch.in_flight() == [0, 0, 0]
    with dispatch.lease() as held:
        picks = set()
        for _ in range(4):
            with dispatch.lease() as other:
                picks.add(other)
        assert held not in picks  # a target with a call in flight is never preferred to an idle one


def test_a_failed_call_is_no_longer_counted_in_flight():
    dispatch = LeastLoaded(["a", "b"])

    def boom(target):
        raise RuntimeError(target)

    with pytest.raises(RuntimeError):
        dispatch.call(boom)
    assert dispatch.in_flight() == [0, 0] and sum(dispatch.calls()) == 1


def test_counts_stay_exact_under_many_threads():
    dispatch = LeastLoaded(list(range(3)))
    peak = [0, 0, 0]
    lock = threading.Lock()

    def work(target):
        with lock:
            peak[target] = max(peak[target], dispatch.in_flight()[target])
        time.sleep(0.001)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _: dispatch.call(work), range(600)))
    assert dispatch.in_flight() == [0, 0, 0]
    assert sum(dispatch.calls()) == 600
    assert max(peak) <= 2  # six callers over three targets: five others in flight leave one with <= 1


def test_the_faster_of_two_targets_gets_more_calls():
    latency = {"fast": 0.002, "slow": 0.02}
    dispatch = LeastLoaded(["slow", "fast"])
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: dispatch.call(lambda t: time.sleep(latency[t])), range(240)))
    slow, fast = dispatch.calls()
    assert slow + fast == 240
    assert fast > 3 * slow, (fast, slow)  # about 10x with ideal timing; round robin gives 120/120


def test_no_targets_is_an_error():
    with pytest.raises(ValueError):
        LeastLoaded([])
