"""The Python SDK: best-of-N solutions from Python.

    client = Client()                                   # local Ray (or address="ray://host:10001")
    res = client.best_of_n(task, n=32, verifier="unit_tests", selector="majority_vote")
    res.best, res.candidates, res.selection, res.pass_at_k, res.cost
    client.verify(task, ["def f(xs):\\n    return xs\\n"])
    async for cand in client.stream(task, n=64): ...

Arguments are validated before any work starts: names, the strategy's options (its `Options`
model), whether the strategy can take the task on this backend, and whether the prompt fits the
model's context. A run in which nothing succeeded raises `RunFailed` with its first error.

Every call leaves a run directory under `output_dir`, like `ttc run`, so finished work is never
lost; the Client prunes the ones it made (marked by RUN_MARKER) by age and count (`RunRetention`).
"""
from __future__ import annotations

import asyncio
import json
import queue
import shutil
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.config import ConfigError, RunConfig, build_config, format_validation_error
from pipeline.core.registry import lookup
from pipeline.core.types import Candidate, Selection, Task, Verdict


RUN_MARKER = "ttc-sdk-run.json"  # in every run directory the SDK makes: only those are ever pruned
LOCAL_MODEL_BACKENDS = ("hf", "quiet_star")  # a folder with config.json and a tokenizer
IDLE_S = 600  # a run directory unchanged this long belongs to no run in progress


class RunFailed(RuntimeError):
    """Nothing of the run succeeded: every chunk failed. `error` is the first one's
    "Kind: message"; `run_dir` holds errors.jsonl with every traceback."""

    def __init__(self, task_id: str, error: str, run_dir: str):
        super().__init__(f"best_of_n failed for task {task_id!r}: {error} (run dir {run_dir})")
        self.task_id, self.error, self.run_dir = task_id, error, run_dir


class RunRetention(BaseModel):
    """How long a Client keeps the run directories it made; a day's work by default."""

    model_config = ConfigDict(extra="forbid")
    max_age_hours: float | None = Field(24.0, gt=0, description="unchanged longer, removed; None: no age limit")
    max_runs: int | None = Field(1000, ge=1, description="only the newest this many are kept; None: no count limit")


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


def request_options(base: RunConfig | dict, strategy: str, strategy_options: dict | None) -> dict:
    """The options a request runs with: its own, else the base config's when it is the base's
    strategy (another strategy's options would not fit it), else the strategy's defaults."""
    data = base.model_dump(mode="json") if isinstance(base, RunConfig) else base
    if strategy_options is not None:
        return strategy_options
    same = data.get("strategy", "repeated_sampling") == strategy
    return dict(data.get("strategy_options") or {}) if same else {}


def check_fit(task: Task, config: RunConfig):
    """The strategy's checked options; ValueError when they are invalid, when the strategy cannot
    take this task on this backend, or when the prompt cannot fit the model's context."""
    from agents import parse_options, unfit_reason

    options = parse_options(config.strategy, config.strategy_options)
    reason = unfit_reason(config.strategy, options, task, config.model.backend)
    if reason is None and (options is None or options.sends_prompt):
        reason = context_problem(task, config, bool(getattr(options, "chat", False)))
    if reason:
        raise ValueError(f"task {task.id!r}: {reason}")
    return options


def context_window(model_dir: Path) -> int | None:
    """The model's max_position_embeddings from its config.json (its text config's, if nested)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None  # no local config: the generator's own start-up says what is wrong
    for section in (config, config.get("text_config") or {}):
        for key in ("max_position_embeddings", "n_positions"):
            if isinstance(section.get(key), int):
                return section[key]
    return None


@lru_cache(maxsize=4)
def _tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def prompt_tokens(task: Task, model_dir: str, chat: bool) -> int:
    """The prompt's length in tokens as the generator encodes it (in its chat template for chat)."""
    from agents.base import task_prompt
    from pipeline.generators.chat import check_messages, render_chat

    tokenizer = _tokenizer(model_dir)
    prompt = task_prompt(task, chat)
    if not isinstance(prompt, str):
        prompt = render_chat(tokenizer, check_messages(prompt))
    return len(tokenizer(prompt)["input_ids"])


def context_problem(task: Task, config: RunConfig, chat: bool = False) -> str | None:
    """Why the prompt plus max_new_tokens cannot fit the model's context window, or None."""
    from pipeline.core.model_zoo import resolve_model_path

    if config.model.backend not in LOCAL_MODEL_BACKENDS:
        return None  # a remote server knows its own window
    model_dir = Path(resolve_model_path(config.model.path))
    window = context_window(model_dir)
    if window is None:
        return None
    used, wanted = prompt_tokens(task, str(model_dir), chat), config.sampling.max_new_tokens
    if used + wanted > window:
        return (f"the prompt of {used} tokens + max_new_tokens {wanted} exceeds the model's context of "
                f"{window} tokens ({config.model.path}); shorten the prompt or lower max_new_tokens")
    return None


# --- run directories: marked, and pruned by age and count -----------------------------------------

def new_marked_run_dir(config: RunConfig, task_id: str) -> Path:
    from pipeline.engine.runner import new_run_dir

    run_dir = new_run_dir(config)
    (run_dir / RUN_MARKER).write_text(json.dumps({"made_by": "ttc sdk", "task_id": task_id,
                                                  "created_at": time.time()}) + "\n")
    return run_dir


def marked_run_dirs(output_dir: Path) -> list[tuple[float, Path]]:
    """(created, path) of the run directories the SDK made directly under `output_dir`, newest
    first; nothing else there (other runs, files, links) is listed."""
    found = []
    for child in output_dir.iterdir() if output_dir.is_dir() else []:
        marker = child / RUN_MARKER
        if child.is_dir() and not child.is_symlink() and marker.is_file() and not marker.is_symlink():
            found.append((marker.stat().st_mtime, child))
    return sorted(found, reverse=True)


def last_change(run_dir: Path) -> float:
    """When the run last wrote (its records are appended as they finish)."""
    return max([run_dir.stat().st_mtime] + [f.stat().st_mtime for f in run_dir.iterdir() if f.is_file()])


def prune_runs(output_dir: str | Path, retention: RunRetention, now: float | None = None) -> list[Path]:
    """Remove the SDK's run directories past the retention's age or count; returns them. A
    directory that changed in the last IDLE_S seconds (a run in progress) stays."""
    now = time.time() if now is None else now
    max_age_s = None if retention.max_age_hours is None else retention.max_age_hours * 3600
    removed = []
    for rank, (created, path) in enumerate(marked_run_dirs(Path(output_dir))):
        too_many = retention.max_runs is not None and rank >= retention.max_runs
        if not too_many and (max_age_s is None or now - created <= max_age_s):
            continue  # young enough whenever it last changed: spare the directory listing
        idle = now - last_change(path)
        if (too_many and idle > IDLE_S) or (max_age_s is not None and idle > max(max_age_s, IDLE_S)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class Client:
    """Holds a runner Session: warm generator and sandbox actors shared by every call."""

    def __init__(self, address: str | None = None, config: RunConfig | str | Path | dict | None = None,
                 output_dir: str = "runs/sdk", retention: RunRetention | dict | None = None, **overrides: Any):
        self.base = _base_config(config, output_dir, overrides)
        self.address = address
        self.retention = RunRetention.model_validate(retention or {})
        self._session = None
        self._lock = threading.Lock()
        self._active: set[threading.Event] = set()  # the cancel events of requests in flight

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
        data.update(strategy=request.strategy, verifier=request.verifier, selectors=[request.selector],
                    strategy_options=request_options(self.base, request.strategy, request.strategy_options))
        sampling = {"n": request.n, "temperature": request.temperature, "max_new_tokens": request.max_new_tokens,
                    "seed": request.seed}
        data["sampling"].update({k: v for k, v in sampling.items() if v is not None})
        return build_config(data, source="best_of_n arguments")

    def best_of_n(self, task_or_prompt: Task | str | dict, n: int = 32, strategy: str = "repeated_sampling",
                  verifier: str = "unit_tests", selector: str = "majority_vote", **sampling: Any) -> BestOfN:
        task, config = self._prepare(task_or_prompt, n, strategy, verifier, selector, sampling)
        return self._best_of_n(task, config)

    async def abest_of_n(self, task_or_prompt: Task | str | dict, n: int = 32, **kwargs: Any) -> BestOfN:
        # off the event loop: the context check may load a tokenizer and encode a long prompt
        task, config = await asyncio.to_thread(
            self._prepare, task_or_prompt, n, kwargs.pop("strategy", "repeated_sampling"),
            kwargs.pop("verifier", "unit_tests"), kwargs.pop("selector", "majority_vote"), kwargs)
        cancel = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(self._best_of_n, task, config, cancel=cancel))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:  # a timeout or the caller's cancel: stop the run, then say so
            cancel.set()
            await asyncio.gather(work, return_exceptions=True)  # returns once the work has stopped
            raise

    def cancel(self) -> int:
        """Stop every request of this client in flight; each raises RunCancelled once its work
        has stopped. Returns how many were asked to stop."""
        with self._lock:
            active = list(self._active)
        for event in active:
            event.set()
        return len(active)

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
        config = self._request_config(request)
        check_fit(task, config)
        return task, config

    def _best_of_n(self, task: Task, config: RunConfig, on_sample=None, cancel=None) -> BestOfN:
        from pipeline.engine.runner import target_samples
        from pipeline.engine.store import RunStore
        from pipeline.engine.task_state import TaskState

        started = time.perf_counter()
        store = RunStore(self._new_run_dir(config, task.id))
        state = TaskState(task, target_samples(config))
        cancel = cancel or threading.Event()
        with self._lock:
            self._active.add(cancel)
        try:
            self.session.run_tasks(config, [state], store, _Quiet(), on_sample=on_sample, cancel=cancel)
        finally:
            with self._lock:
                self._active.discard(cancel)
        return _result(state, store, config, time.perf_counter() - started)

    def _new_run_dir(self, config: RunConfig, task_id: str) -> Path:
        """A marked run directory; first, older ones past the retention go."""
        prune_runs(config.runner.output_dir, self.retention)
        return new_marked_run_dir(config, task_id)

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

        cancel = threading.Event()

        def work() -> None:
            try:
                self._best_of_n(task, config, cancel=cancel,
                                on_sample=lambda c, v, _t: items.put(ScoredCandidate(candidate=c, verdict=v)))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                items.put(exc)
            items.put(done)

        worker = threading.Thread(target=work, daemon=True, name="ttc-stream")
        worker.start()
        try:
            while (item := await asyncio.to_thread(items.get)) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # the consumer stopped early (break, aclose, cancel) or the run ended: stop its work
            cancel.set()
            await asyncio.to_thread(worker.join)

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
    errors = store.read("errors")
    first_error = f"{errors[0]['kind']}: {errors[0]['error']}" if errors else "no samples and no selection"
    if not picks or (not candidates and errors):
        raise RunFailed(state.task.id, first_error, str(store.run_dir))
    selection = picks[0]
    best = next((c for c in candidates if c.key == selection.candidate_key), None)
    samples = store.read("samples")
    cost = Cost(samples=len(candidates), distinct_candidates=len({c.key for c in candidates}),
                tokens=state.tokens, seconds=seconds)
    from pipeline.judging.canaries import canary_report, canary_warnings

    canaries = canary_report(store.read("canaries"))
    failed = [f"{len(errors)} chunk(s) failed, the first with {first_error}"] if errors else []
    return BestOfN(best=best, candidates=scored, selection=selection,
                   pass_at_k=coverage(per_task_counts(samples, [state.task.id]), state.target), cost=cost,
                   run_dir=str(store.run_dir), canaries=canaries, warnings=failed + canary_warnings(canaries))
