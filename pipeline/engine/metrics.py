"""ttc's metrics on the Ray dashboard (ray.util.metrics, exported through Ray's Prometheus
endpoint as `ray_ttc_*`). Created lazily, once per process, so importing this module is free."""
from __future__ import annotations

import threading
from functools import cached_property

LATENCY_BOUNDARIES = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60]


class RunMetrics:
    def __init__(self, run_name: str):
        self.tags = {"run": run_name}
        self._in_flight = 0
        self._lock = threading.Lock()

    @cached_property
    def _m(self):
        from ray.util import metrics as m

        keys = ("run",)
        return {
            "samples": m.Counter("ttc_samples_generated", "samples generated", tag_keys=keys),
            "tokens": m.Counter("ttc_tokens_generated", "completion tokens generated", tag_keys=keys),
            "tokens_per_s": m.Gauge("ttc_tokens_per_second", "tokens/s of the last generator call", tag_keys=keys),
            "exec": m.Histogram("ttc_sandbox_exec_seconds", "sandbox execution latency",
                                boundaries=LATENCY_BOUNDARIES, tag_keys=keys),
            "verified": m.Counter("ttc_candidates_verified", "distinct candidates verified", tag_keys=("run", "verifier")),
            "passed": m.Counter("ttc_candidates_passed", "distinct candidates the verifier passed",
                                tag_keys=("run", "verifier")),
            "in_flight": m.Gauge("ttc_samples_in_flight", "samples scheduled but not yet stored", tag_keys=keys),
            "tasks_done": m.Counter("ttc_tasks_done", "tasks finished", tag_keys=keys),
            "errors": m.Counter("ttc_errors", "failed chunks by exception kind", tag_keys=("run", "kind")),
        }

    def generated(self, samples: int, tokens: int, seconds: float) -> None:
        self._m["samples"].inc(samples, tags=self.tags)
        if tokens:
            self._m["tokens"].inc(tokens, tags=self.tags)
        if seconds > 0:
            self._m["tokens_per_s"].set(tokens / seconds, tags=self.tags)

    def verified(self, verifier: str, total: int, passed: int, exec_seconds: list[float]) -> None:
        tags = {**self.tags, "verifier": verifier}
        if total:
            self._m["verified"].inc(total, tags=tags)
        if passed:
            self._m["passed"].inc(passed, tags=tags)
        for seconds in exec_seconds:
            self._m["exec"].observe(seconds, tags=self.tags)

    def in_flight(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self._m["in_flight"].set(self._in_flight, tags=self.tags)

    def task_done(self) -> None:
        self._m["tasks_done"].inc(1, tags=self.tags)

    def error(self, kind: str) -> None:
        self._m["errors"].inc(1, tags={**self.tags, "kind": kind})
