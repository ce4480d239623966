"""What every verifier shares: the injected `execute` function, verdicts for distinct
candidates only, and execution failures turned into error verdicts (never a pass).

`execute(cmd, files, timeout_s=..., peer=None) -> ExecutionResult` is e.g. `sandbox.SandboxPool.run`, or a
Ray sandbox actor behind a function; it must be thread-safe, since distinct candidates of a task
run in parallel.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pipeline.core.types import Candidate, ExecutionResult, Peer, Task, Verdict

Execute = Callable[[list[str], dict[str, "str | bytes"], float], ExecutionResult]
STDERR_TAIL_BYTES = 2048


def verify_distinct(candidates: list[Candidate], judge: Callable[[list[Candidate]], list[Verdict]]) -> list[Verdict]:
    """Judge each distinct key once (first occurrence) and share its verdict with equal keys."""
    firsts: dict[str, Candidate] = {}
    for candidate in candidates:
        firsts.setdefault(candidate.key, candidate)
    by_key = {v.candidate_key: v for v in judge(list(firsts.values()))}
    return [by_key[c.key] for c in candidates]


def error_verdicts(task: Task, candidates: list[Candidate], verifier: str, error: str) -> list[Verdict]:
    return [Verdict(task_id=task.id, candidate_key=c.key, verifier=verifier, passed=False, error=error)
            for c in candidates]


def judge_each_in_sandbox(task: Task, candidates: list[Candidate], verifier: str, prepare: Callable[[Task], Any],
                          run_one: Callable[[Task, Any, Candidate], Verdict], parallel: int) -> list[Verdict]:
    """Prepare what every run needs once (a bad task fails each verdict with the reason), then
    run each distinct candidate, `parallel` at a time."""
    try:
        prepared = prepare(task)
    except ValueError as bad_task:
        return error_verdicts(task, candidates, verifier, str(bad_task))

    def run_all(firsts: list[Candidate]) -> list[Verdict]:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            return list(pool.map(lambda c: run_one(task, prepared, c), firsts))

    return verify_distinct(candidates, run_all)


def stderr_tail(text: str, limit: int = STDERR_TAIL_BYTES) -> str:
    return text.encode()[-limit:].decode(errors="ignore")


def execute_safely(execute: Execute, cmd: list[str], files: dict[str, str | bytes],
                   timeout_s: float, peer: Peer | None = None) -> ExecutionResult:
    """`execute`, with a raised exception (a dead actor, a lost engine) turned into an
    infrastructure error: one candidate's failure must not sink its task, nor pass."""
    try:
        if peer is not None:  # only executors that can run a peer take the argument
            return execute(cmd, files, timeout_s=timeout_s, peer=peer)
        return execute(cmd, files, timeout_s=timeout_s)
    except Exception as exc:
        return ExecutionResult(error=f"execution failed: {type(exc).__name__}: {exc}")
