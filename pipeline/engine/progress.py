"""The progress display of a run: one tqdm bar over samples with tasks, verified and passed."""
from __future__ import annotations

import threading

from tqdm import tqdm


class Progress:
    def __init__(self, total_samples: int, tasks: int, initial: int = 0, initial_passed: int = 0):
        self.bar = tqdm(total=total_samples, initial=initial, unit="sample", dynamic_ncols=True,
                        mininterval=0.5, desc="ttc")
        self.tasks, self.tasks_done = tasks, 0
        self.passed, self.errors = initial_passed, 0
        self.lock = threading.Lock()

    def _refresh(self) -> None:
        self.bar.set_postfix_str(f"tasks {self.tasks_done}/{self.tasks} passed {self.passed} errors {self.errors}",
                                 refresh=False)

    def samples_done(self, count: int, passed: int) -> None:
        with self.lock:
            self.passed += passed
            self._refresh()
            self.bar.update(count)

    def task_done(self) -> None:
        with self.lock:
            self.tasks_done += 1
            self._refresh()

    def error(self) -> None:
        with self.lock:
            self.errors += 1
            self._refresh()

    def close(self) -> None:
        self.bar.close()
