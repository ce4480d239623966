"""Least-loaded dispatch over equal workers (the sandbox pool actors).

Round robin hands every actor the same number of calls, so a slow node (a loaded host, longer
programs) holds a queue while a fast one idles. Counting the calls each actor has in flight
and sending the next one to the actor with the fewest keeps every pool's containers busy and
gives a faster actor more of the work. Plain Python: no Ray here, the caller makes the call.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class LeastLoaded(Generic[T]):
    """Thread-safe: `call(fn)` runs `fn(target)` on the target with the fewest calls in flight."""

    def __init__(self, targets: list[T]):
        if not targets:
            raise ValueError("LeastLoaded needs at least one target")
        self.targets = list(targets)
        self._in_flight = [0] * len(self.targets)
        self._calls = [0] * len(self.targets)
        self._next = 0  # where the search for the minimum starts: ties rotate instead of piling on the first
        self._lock = threading.Lock()

    def _pick(self) -> int:
        with self._lock:
            count = len(self.targets)
            order = [(self._next + k) % count for k in range(count)]
            index = min(order, key=lambda i: self._in_flight[i])
            self._next = (index + 1) % count
            self._in_flight[index] += 1
            self._calls[index] += 1
            return index

    def _done(self, index: int) -> None:
        with self._lock:
            self._in_flight[index] -= 1

    @contextmanager
    def lease(self) -> Iterator[T]:
        """The least-loaded target, counted as busy until the block exits (also on an exception)."""
        index = self._pick()
        try:
            yield self.targets[index]
        finally:
            self._done(index)

    def call(self, fn: Callable[[T], R]) -> R:
        with self.lease() as target:
            return fn(target)

    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._in_flight)

    def calls(self) -> list[int]:
        """Calls dispatched to each target so far."""
        with self._lock:
            return list(self._calls)
