"""Answer checks in a small pool of worker processes, each check under a wall-clock limit.

Why processes: sympy cannot be interrupted from another thread, and math-verify's own
timeout is signal.alarm, which works only in the main thread, while ttc checks answers
from worker threads. Killing the process is the one way to stop a runaway check (a power
tower or a huge factorial spends its time inside single big-integer operations), so a check
past its limit kills its worker, returns an error judgement, and the next check starts a
fresh worker. A worker is a plain `python -m` subprocess speaking JSON lines on its pipes:
no fork of a threaded parent, no re-import of the caller's __main__ (as multiprocessing's
spawn does). Cost: about 0.3 ms of round trip per check on top of the check itself (a few
to tens of ms), and a worker start of one to a few seconds (imports of sympy and
math-verify), paid once per worker and again after each timeout.
"""
from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipeline.judging.answers import AnswerJudgement

STARTUP_LIMIT_S = 120.0  # imports on a loaded machine; not part of any check's limit
MEMORY_LIMIT_BYTES = 4 << 30  # a 10^10^10 attempt fails with MemoryError instead of swapping
READY = "ready"
WARM_UP = [("\\sqrt{8}", "2\\sqrt{2}"), ("1/5!", "\\frac{1}{120}"), ("(3,4)\\cup(1,2)", "(1,2)\\cup(3,4)"),
           ("2 < x", "x > 2"), ("1", "\\sin^2 x+\\cos^2 x"), ("4i+3.0", "3+4i"),
           ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}")]
_REPO_ROOT = str(Path(__file__).resolve().parents[2])


class WorkerDied(RuntimeError):
    """The worker exited or broke the protocol."""


class CheckWorker:
    """One worker process and its pipes; used by one thread at a time."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_REPO_ROOT, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.judging.answer_pool"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        self._buffer = b""
        if self._read_line(STARTUP_LIMIT_S) != READY:
            self.kill()
            raise WorkerDied("the answer checker process did not start")

    def judge(self, candidate: str, reference: str, timeout_s: float) -> AnswerJudgement | None:
        """The worker's judgement, or None when it took longer than `timeout_s`."""
        request = json.dumps({"candidate": candidate, "reference": reference}) + "\n"
        try:
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
        except OSError as broken:
            raise WorkerDied(f"the answer checker process is gone: {broken}") from None
        line = self._read_line(timeout_s)
        return None if line is None else AnswerJudgement.model_validate_json(line)

    def _read_line(self, timeout_s: float) -> str | None:
        """The next line from the worker, None past the deadline; WorkerDied at end of file."""
        deadline = time.monotonic() + timeout_s
        stdout = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stdout], [], [], remaining)[0]:
                return None
            chunk = os.read(stdout, 65536)
            if not chunk:
                raise WorkerDied(f"the answer checker process exited (code {self.process.poll()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass  # unflushed input to a dead process


class CheckPool:
    """At most `size` checks at once, each in its own worker; thread-safe."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[CheckWorker] = queue.SimpleQueue()
        self._all: set[CheckWorker] = set()
        self._lock = threading.Lock()

    def judge(self, candidate: str, reference: str, timeout_s: float) -> AnswerJudgement:
        with self._slots:
            try:
                worker = self._take()
            except (WorkerDied, OSError) as cannot_start:
                return AnswerJudgement(match=False, error=str(cannot_start), method="checker failed")
            try:
                judgement = worker.judge(candidate, reference, timeout_s)
            except WorkerDied as died:
                self._discard(worker)
                return AnswerJudgement(match=False, error=str(died), method="checker failed")
            if judgement is None:
                self._discard(worker)  # still computing: only killing it stops it
                return AnswerJudgement(match=False, error=f"answer check timed out after {timeout_s:g} s",
                                       method="timeout")
            self._idle.put(worker)
            return judgement

    def _take(self) -> CheckWorker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            worker = CheckWorker()
            with self._lock:
                self._all.add(worker)
            return worker

    def _discard(self, worker: CheckWorker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._all = list(self._all), set()
        for worker in workers:
            worker.kill()


_shared: CheckPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> CheckPool:
    """The process-wide pool: one worker per core, at most 4 (each holds sympy and math-verify)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CheckPool(size=max(1, min(4, os.cpu_count() or 1)))
            atexit.register(_shared.close)
        return _shared


# ---------------------------------------------------------------- the worker side


def serve() -> None:
    """Answer requests from stdin, one JSON line each, until stdin closes."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    sys.stdout = sys.stderr
    _limit_memory()
    from pipeline.judging.answer_judge import compare_answers
    from pipeline.judging.answer_math_verify import math_verify_equal

    # Imports (sympy and its lazily loaded parts, math-verify, its ANTLR parser) take seconds on
    # a loaded machine: pay them here, before READY, and not inside a check's time limit.
    for candidate, reference in WARM_UP:
        compare_answers(candidate, reference)
        math_verify_equal(reference, candidate)
    protocol.write(READY + "\n")
    protocol.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            judgement = compare_answers(request["candidate"], request["reference"])
        except (Exception, RecursionError) as failed:  # noqa: BLE001 - a crash of one check is its error, not the pool's
            judgement = AnswerJudgement(match=False, error=f"{type(failed).__name__}: {str(failed)[:300]}",
                                        method="checker failed")
        protocol.write(judgement.model_dump_json() + "\n")
        protocol.flush()


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still holds


if __name__ == "__main__":
    serve()
