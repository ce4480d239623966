"""The Python SDK: best-of-N solutions from Python.

    client = Client()                                   # local Ray (or address="ray://host:10001")
    res = client.best_of_n(task, n=32, verifier="unit_tests", selector="majority_vote")
    res.best, res.candidates, res.selection, res.pass_at_k, res.cost
    client.verify(task, ["def f(xs):\\n    return xs\\n"])
    async for cand in client.stream(task, n=64): ...

Arguments are validated before any work starts. Every call leaves a run directory under
`output_dir`, like `ttc run`, so finished work is never lost.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.config import ConfigError, RunConfig, build_config, format_validation_error
from pipeline.core.registry import lookup
from pipeline.core.types import Candidate, Selection, Task, Verdict


class ScoredCandidate(BaseModel):
    candidate: Candidate
    verdict: Verdict


class Cost(BaseModel):
    samples: int
    distinct_candidates: int
    tokens: int
    seconds: float


class BestOfN(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    best: Candidate | None = Field(description="the selected candidate; None when the selector abstained")
    candidates: list[ScoredCandidate]
    selection: Selection
    pass_at_k: dict[int, float]
    cost: Cost
    run_dir: str
    canaries: dict = Field(default_factory=dict, description="per verifier: known-bad canaries judged and passed")
    warnings: list[str] = Field(default_factory=list, description="e.g. a known-bad canary that the verifier passed")


class BestOfNRequest(BaseModel):
    """What `best_of_n` accepts; validated before any work (also the HTTP body's core)."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(32, ge=1, le=4096)
    strategy: str = "repeated_sampling"
    strategy_options: dict[str, Any] | None = Field(None, description="None keeps the Client config's")
    verifier: str = "unit_tests"
    selector: str = "majority_vote"
    temperature: float | None = Field(None, ge=0, le=10)
    max_new_tokens: int | None = Field(None, ge=1, le=32768)
    seed: int | None = None


def as_task(task_or_prompt: Task | str | dict) -> Task:
    """A Task from a Task, a dict, or a bare prompt (a text task, judged by its answer)."""
    if isinstance(task_or_prompt, Task):
        return task_or_prompt
    if isinstance(task_or_prompt, str):
        if not task_or_prompt.strip():
            raise ValueError("prompt must not be empty")
        return Task(id=f"prompt-{abs(hash(task_or_prompt)) % 10**10}", kind="text", prompt=task_or_prompt)
    try:
        return Task.model_validate(task_or_prompt)
    except ValidationError as err:
        raise ValueError(f"invalid task: {format_validation_error(err)}") from None


def check_names(request: BestOfNRequest) -> None:
    from agents import AGENTS
    from pipeline.judging.selectors import SELECTORS
    from pipeline.judging.verifiers import VERIFIERS

    lookup(AGENTS, request.strategy, "strategy")
    lookup(VERIFIERS, request.verifier, "verifier")
    lookup(SELECTORS, request.selector, "selector")


class Client:
    """Holds a runner Session: warm generator and sandbox actors shared by every call."""

    def __init__(self, address: str | None = None, config: RunConfig | str | Path | dict | None = None,
                 output_dir: str = "runs/sdk", **overrides: Any):
        self.base = _base_config(config, output_dir, overrides)
        self.address = address
        self._session = None
        self._lock = threading.Lock()

    @property
    def session(self):
        from pipeline.engine.runner import Session

        with self._lock:
            if self._session is None:
                self._session = Session(self.base, self.address)
            return self._session

    # --- requests ------------------------------------------------------------------------
    def _request_config(self, request: BestOfNRequest) -> RunConfig:
        data = self.base.model_dump(mode="json")
        data.update(strategy=request.strategy, verifier=request.verifier, selectors=[request.selector])
        if request.strategy_options is not None:
            data["strategy_options"] = request.strategy_options
        sampling = {"n": request.n, "temperature": request.temperature, "max_new_tokens": request.max_new_tokens,
                    "seed": request.seed}
        data["sampling"].update({k: v for k, v in sampling.items() if v is not None})
        return build_config(data, source="best_of_n arguments")

    def best_of_n(self, task_or_prompt: Task | str | dict, n: int = 32, strategy: str = "repeated_sampling",
                  verifier: str = "unit_tests", selector: str = "majority_vote", **sampling: Any) -> BestOfN:
        task, config = self._prepare(task_or_prompt, n, strategy, verifier, selector, sampling)
        return self._best_of_n(task, config)

    async def abest_of_n(self, task_or_prompt: Task | str | dict, n: int = 32, **kwargs: Any) -> BestOfN:
        task, config = self._prepare(task_or_prompt, n, kwargs.pop("strategy", "repeated_sampling"),
                                     kwargs.pop("verifier", "unit_tests"), kwargs.pop("selector", "majority_vote"),
                                     kwargs)
        return await asyncio.to_thread(self._best_of_n, task, config)

    def _prepare(self, task_or_prompt, n, strategy, verifier, selector, sampling) -> tuple[Task, RunConfig]:
        try:
            request = BestOfNRequest(n=n, strategy=strategy, verifier=verifier, selector=selector, **sampling)
        except ValidationError as err:
            raise ValueError(f"invalid best_of_n arguments: {format_validation_error(err)}") from None
        check_names(request)
        task = as_task(task_or_prompt)
        if verifier == "unit_tests" and not task.tests:
            raise ValueError(f"verifier 'unit_tests' needs a task with tests; task {task.id!r} has none")
        if verifier == "exact_answer" and task.answer is None:
            raise ValueError(f"verifier 'exact_answer' needs a task with an answer; task {task.id!r} has none")
        return task, self._request_config(request)

    def _best_of_n(self, task: Task, config: RunConfig, on_sample=None) -> BestOfN:
        from pipeline.engine.runner import new_run_dir, target_samples
        from pipeline.engine.store import RunStore
        from pipeline.engine.task_state import TaskState

        started = time.perf_counter()
        store = RunStore(new_run_dir(config))
        state = TaskState(task, target_samples(config))
        self.session.run_tasks(config, [state], store, _Quiet(), on_sample=on_sample)
        return _result(state, store, config, time.perf_counter() - started)

    def verify(self, task: Task | dict, candidates: list[str], verifier: str = "unit_tests") -> list[Verdict]:
        """Run a verifier on given candidate programs (code tasks) or answers (math/text)."""
        task = as_task(task)
        if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
            raise ValueError("candidates must be a list of strings")
        from pipeline.judging.verifiers import VERIFIERS

        lookup(VERIFIERS, verifier, "verifier")
        cands = [Candidate(task_id=task.id, sample_index=i, content=c) for i, c in enumerate(candidates)]
        return self.session.verify_fn(verifier, {})(task, cands)

    async def stream(self, task_or_prompt: Task | str | dict, n: int = 64, **kwargs: Any) -> AsyncIterator[ScoredCandidate]:
        """Candidates as they are verified, in completion order."""
        task, config = self._prepare(task_or_prompt, n, kwargs.pop("strategy", "repeated_sampling"),
                                     kwargs.pop("verifier", "unit_tests"), kwargs.pop("selector", "majority_vote"),
                                     kwargs)
        items: queue.Queue = queue.Queue()
        done = object()

        def work() -> None:
            try:
                self._best_of_n(task, config, on_sample=lambda c, v, _t: items.put(ScoredCandidate(candidate=c, verdict=v)))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                items.put(exc)
            items.put(done)

        threading.Thread(target=work, daemon=True, name="ttc-stream").start()
        while (item := await asyncio.to_thread(items.get)) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Quiet:
    """Progress sink for SDK calls: no bar, the caller has the results."""

    def samples_done(self, count: int, passed: int) -> None: ...
    def task_done(self) -> None: ...
    def error(self) -> None: ...


def _base_config(config, output_dir: str, overrides: dict) -> RunConfig:
    from pipeline.core.config import apply_overrides, read_yaml

    if isinstance(config, RunConfig):
        data = config.model_dump(mode="json")
    elif isinstance(config, (str, Path)):
        data = read_yaml(config)
    else:
        data = dict(config or {})
    data.setdefault("runner", {}).setdefault("output_dir", output_dir)
    data.setdefault("name", "sdk")
    data = apply_overrides(data, [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()])
    return build_config(data, source="Client config")


def _result(state, store, config: RunConfig, seconds: float) -> BestOfN:
    from pipeline.judging.summary import coverage, per_task_counts

    candidates = [state.candidates[i] for i in sorted(state.candidates)]
    scored = [ScoredCandidate(candidate=c, verdict=state.verdicts[c.key]) for c in candidates]
    picks = [Selection.model_validate({k: v for k, v in s.items() if k != "key"}) for s in store.read("selections")]
    if not picks:
        errors = store.read("errors")
        raise RuntimeError(f"best_of_n produced no selection for task {state.task.id!r}: "
                           f"{errors[-1]['error'] if errors else 'no samples'} (run dir {store.run_dir})")
    selection = picks[0]
    best = next((c for c in candidates if c.key == selection.candidate_key), None)
    samples = store.read("samples")
    cost = Cost(samples=len(candidates), distinct_candidates=len({c.key for c in candidates}),
                tokens=state.tokens, seconds=seconds)
    from pipeline.judging.canaries import canary_report, canary_warnings

    canaries = canary_report(store.read("canaries"))
    return BestOfN(best=best, candidates=scored, selection=selection,
                   pass_at_k=coverage(per_task_counts(samples, [state.task.id]), state.target), cost=cost,
                   run_dir=str(store.run_dir), canaries=canaries, warnings=canary_warnings(canaries))
