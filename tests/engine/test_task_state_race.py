"""Chunk threads add candidates to a task while the scheduler asks whether it is settled: the
scheduler must never see the candidate dict mid-change (an exception there ends `run_all`)."""
import sys
import threading

import pytest

from pipeline.core.config import build_config
from pipeline.core.types import Candidate, Task, Verdict
from pipeline.engine.runner import Engine
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState

WRITERS, PER_WRITER, ROUNDS = 4, 400, 5


@pytest.fixture()
def fast_switching():
    """Switch threads every microsecond, so a read racing a write is all but certain."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def math_engine(tmp_path) -> Engine:
    config = build_config({"sampling": {"n": 8}, "budget": {"early_stop": True, "exact_verifier": False}})
    return Engine(config, RunStore(tmp_path), agent=None, generate_fns=[], verify_fn=None, progress=None)


def candidate(task_id: str, index: int) -> Candidate:
    return Candidate(task_id=task_id, sample_index=index, content=str(index % 7), key=f"k{index}")


def reads_while_writing(state: TaskState, read) -> list[BaseException]:
    """Run `read` in a loop while WRITERS threads add candidates one at a time; what it raised."""
    ready = [candidate(state.task.id, i) for i in range(WRITERS * PER_WRITER)]
    for c in ready:  # one verdict per key, a failing one, so no read can stop early
        state.verdicts[c.key] = Verdict(task_id=c.task_id, candidate_key=c.key, verifier="v", passed=False)
    writing, raised = threading.Event(), []

    def write(offset: int) -> None:
        for c in ready[offset::WRITERS]:
            state.add([c], 0)

    def read_until_written() -> None:
        try:
            while writing.is_set():
                read()
        except Exception as exc:  # noqa: BLE001 - the failure under test
            raised.append(exc)

    writing.set()
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    reader = threading.Thread(target=read_until_written)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    writing.clear()
    reader.join()
    assert state.done == WRITERS * PER_WRITER
    return raised


def test_vote_settling_reads_a_snapshot_while_chunks_add_candidates(tmp_path, fast_switching):
    engine = math_engine(tmp_path)
    for _ in range(ROUNDS):
        state = TaskState(Task(id="m", kind="math", prompt="2+2?", answer="4"), target=10**6)
        assert reads_while_writing(state, lambda: engine.is_settled(state)) == []


def test_exact_verifier_settling_and_counts_read_a_snapshot(fast_switching):
    for _ in range(ROUNDS):
        state = TaskState(Task(id="c", prompt="def f():\n"), target=10**6)

        def read(state=state) -> None:
            state.settled(exact_verifier=True)
            state.passed()
            state.verifier_passed()

        assert reads_while_writing(state, read) == []
