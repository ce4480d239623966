"""Per-task bookkeeping of a run: which samples exist, verdicts shared by equal candidates,
and whether the task's selection is settled (early stopping). Plain Python, thread-safe."""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future

from pipeline.core.types import Candidate, Task, Verdict


class TaskState:
    def __init__(self, task: Task, target: int):
        self.task = task
        self.target = target  # samples wanted for this task
        self.candidates: dict[int, Candidate] = {}
        self.verdicts: dict[str, Verdict] = {}  # what selectors see
        self.truth: dict[str, bool] = {}  # ground truth (the oracle's verdict, or the verifier's)
        self._pending: dict[str, Future] = {}
        self.scheduled = 0
        self.tokens = 0
        self.errors = 0
        self.lock = threading.Lock()

    # --- dedup: each distinct candidate is verified once -----------------------------------
    def claim(self, keys: list[str]) -> tuple[list[str], dict[str, Future]]:
        """Split keys into those this caller must verify and futures of those known or in flight."""
        mine, waits = [], {}
        with self.lock:
            for key in dict.fromkeys(keys):
                if key in self.verdicts:
                    done: Future = Future()
                    done.set_result((self.verdicts[key], self.truth[key]))
                    waits[key] = done
                elif key in self._pending:
                    waits[key] = self._pending[key]
                else:
                    self._pending[key] = Future()
                    mine.append(key)
        return mine, waits

    def resolve(self, verdicts: list[Verdict], truth: list[bool], failed_keys: list[str] = (),
                error: str = "") -> None:
        with self.lock:
            for verdict, correct in zip(verdicts, truth):
                self.verdicts[verdict.candidate_key] = verdict
                self.truth[verdict.candidate_key] = correct
                self._pending.pop(verdict.candidate_key).set_result((verdict, correct))
            for key in failed_keys:
                self._pending.pop(key).set_exception(RuntimeError(error))

    def add(self, candidates: list[Candidate], tokens: int) -> None:
        with self.lock:
            for c in candidates:
                self.candidates[c.sample_index] = c
            self.tokens += tokens

    # --- progress and early stopping ------------------------------------------------------
    # Chunk threads add candidates while the scheduler reads them: every read works on a copy
    # taken under the lock (iterating the live dict can raise "changed size during iteration").
    def snapshot(self) -> list[Candidate]:
        with self.lock:
            return list(self.candidates.values())

    @property
    def done(self) -> int:
        with self.lock:
            return len(self.candidates)

    def passed(self) -> int:
        """Samples that are truly correct (ground truth)."""
        return sum(1 for c in self.snapshot() if self.truth.get(c.key))

    def verifier_passed(self) -> int:
        return sum(1 for c in self.snapshot() if self._accepted(c.key))

    def _accepted(self, key: str) -> bool:
        verdict = self.verdicts.get(key)
        return bool(verdict and verdict.accepted)

    def settled(self, exact_verifier: bool, vote: Callable[[Candidate], str | None] | None = None,
                weight: Callable[[Candidate], float | None] | None = None) -> bool:
        """No more samples can change the outcome: an exact verifier passed one, or the vote
        leader's lead exceeds what the samples still to come can add. `vote` maps a candidate to
        its ballot (None: no ballot); lead and samples done come from one snapshot, so they agree.

        `weight` (a confidence-weighted vote) maps a candidate to its ballot's weight (None: no
        ballot); each sample still to come is taken to weigh as much as the heaviest ballot so
        far, since a confidence has no useful upper bound. Without it every ballot weighs 1."""
        candidates = self.snapshot()
        if exact_verifier and any(self._accepted(c.key) for c in candidates):
            return True
        if vote is None:
            return False
        totals: dict[str, float] = defaultdict(float)
        heaviest = 1.0 if weight is None else 0.0
        for candidate in candidates:
            ballot = vote(candidate)
            worth = 1.0 if weight is None else weight(candidate)
            if ballot is not None and worth is not None:
                totals[ballot] += worth
                heaviest = max(heaviest, worth)
        top = sorted(totals.values(), reverse=True)[:2]
        lead = top[0] - (top[1] if len(top) > 1 else 0.0) if top else 0.0
        return lead > (self.target - len(candidates)) * heaviest
