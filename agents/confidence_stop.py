"""DeepConf online for strategies that sample independent traces: warm-up traces per task set a
confidence threshold, and later traces stop inside the decode loop once their window confidence
falls below it (`ConfidenceParams.stop_below`, enforced by the backend).

Warm-up traces are the task's samples numbered below `warmup`; a chunk that starts there runs
unstopped. A later chunk waits until they are in, so the threshold, and with it every sample,
follows from the seed alone. The engine schedules a task's chunks in order, so the warm-up is
running or done by the time a later chunk waits; if none runs in this process for WAIT_GRACE_S
(a resumed run whose warm-up is already on disk), the traces recorded so far set it, or none
(no stopping). Plain Python, thread-safe: the engine runs a task's chunks on several threads.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pipeline.generators.confidence import percentile
from pipeline.core.types import Completion

WAIT_GRACE_S = 5.0


class WarmupFailed(RuntimeError):
    """The task's warm-up traces failed, so no threshold exists for its later chunks."""


class Calibration:
    """One task's warm-up traces and the threshold they set."""

    def __init__(self, warmup: int, keep_percent: float):
        self.warmup, self.keep_percent = warmup, keep_percent
        self.lowest: dict[int, float | None] = {}  # warm-up sample index -> lowest window confidence
        self.running = 0
        self.failed = False
        self.changed = threading.Condition()

    def warm_up(self, start_index: int, sample: Callable[[], list[Completion]]) -> list[Completion]:
        """Run `sample` as warm-up traces numbered from `start_index`, recording their confidence."""
        with self.changed:
            self.running += 1
        try:
            completions = sample()
        except BaseException:
            with self.changed:
                self.failed = True
                self.running -= 1
                self.changed.notify_all()
            raise
        with self.changed:
            for i, completion in enumerate(completions, start=start_index):
                if i < self.warmup:
                    self.lowest[i] = (completion.confidence or {}).get("lowest_window")
            self.running -= 1
            self.changed.notify_all()
        return completions

    def threshold(self) -> float | None:
        """DeepConf's bar: the (100 - keep_percent)th percentile of the warm-up traces' lowest
        window confidence, once they are in; None when no warm-up trace carries a confidence."""
        idle_since = time.monotonic()
        with self.changed:
            while len(self.lowest) < self.warmup:
                if self.failed:
                    raise WarmupFailed("the warm-up traces failed, so no confidence threshold exists")
                if self.running:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= WAIT_GRACE_S:
                    break  # none is coming in this process: go by what is here
                self.changed.wait(timeout=0.5)
            measured = [value for value in self.lowest.values() if value is not None]
        return percentile(measured, 100 - self.keep_percent) if measured else None


class Calibrations:
    """A Calibration per task id, made on first use."""

    def __init__(self, warmup: int, keep_percent: float):
        self.warmup, self.keep_percent = warmup, keep_percent
        self._by_task: dict[str, Calibration] = {}
        self._lock = threading.Lock()

    def of(self, task_id: str) -> Calibration:
        with self._lock:
            if task_id not in self._by_task:
                self._by_task[task_id] = Calibration(self.warmup, self.keep_percent)
            return self._by_task[task_id]
