"""The Ray orchestration of a run: generator actors -> agent -> sandbox actors -> verifier ->
selectors -> run directory.

Work moves in chunks (a few samples of one task per generator call). At most
`max_in_flight` samples are generated-but-unstored at once (backpressure); a chunk is verified
as soon as it is generated (streaming); Ray retries calls of crashed actors; every finished
sample and verdict is appended to the run directory, so `--resume` redoes nothing finished.

Ray Core actors rather than Ray Data: for runs of this size they started in a third of the time here
(docs/ARCHITECTURE.md), and multi-turn agents need to call the actors from their own loop anyway.
"""
from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from itertools import cycle
from pathlib import Path
from typing import Any

import yaml

from agents import make_agent
from agents.base import Tools
from pipeline.core.config import RunConfig, build_config, read_yaml
from pipeline.core.model_zoo import resolve_model_path
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.engine.tasks import load_tasks
from pipeline.core.types import Candidate, Completion, RunResult, SamplingParams, Task, Trajectory, Verdict


SANDBOX_VERIFIERS = {"unit_tests", "visible_tests", "repo_tests"}  # verifiers that execute code
FINGERPRINTING_VERIFIERS = {"unit_tests", "visible_tests"}  # can report probe outputs from their own run
BEHAVIOUR_VOTES = {"majority_vote", "weighted_vote"}  # selectors that group code by behaviour
# verifiers that hold a model: one actor each (placed by Ray, reused by later runs of a Session)
MODEL_VERIFIERS = {"reward_model", "llm_judge", "digit_classifier", "digit_classifier_heldout", "prm"}


@dataclass
class Chunk:
    state: TaskState
    start: int
    n: int
    submitted: float = field(default_factory=time.perf_counter)


# --- run directory ---------------------------------------------------------------------------

def new_run_dir(config: RunConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(config.runner.output_dir) / f"{config.name}-{stamp}-{os.getpid()}"
    for attempt in range(1000):  # SDK/HTTP requests of one process may start in the same second
        path = base.with_name(f"{base.name}-{attempt}") if attempt else base
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run directory name under {base.parent}")


def open_run(config: RunConfig, resume_dir: str | None) -> tuple[RunConfig, RunStore]:
    """A fresh run directory, or the one being resumed with the config it was started with."""
    if resume_dir:
        stored = Path(resume_dir) / "config.yaml"
        if not stored.is_file():
            raise FileNotFoundError(f"{resume_dir} is not a run directory (no config.yaml)")
        return build_config(read_yaml(stored), source=str(stored)), RunStore(resume_dir)
    store = RunStore(new_run_dir(config))
    (store.run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return config, store


# --- Ray ------------------------------------------------------------------------------------

def init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
        return
    # a new local Ray even when another runs here (join one with --address), on loopback only
    with _loopback_only():  # logical CPUs: enough slots for actor pools and the tasks feeding them (docs/ARCHITECTURE.md)
        ray.init(address="local", num_cpus=max(8, os.cpu_count() or 1), resources={"sandbox": 1},
                 _node_ip_address="127.0.0.1", include_dashboard=False, dashboard_host="127.0.0.1",
                 log_to_driver=False)


@contextmanager
def _loopback_only():
    """Ray 2.60 turns 127.0.0.1 into the machine's outward address unless clustering is off, a
    flag read once per process from RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER. Off while a local Ray
    starts, its GCS, raylet, workers and agents bind and advertise 127.0.0.1. Restored after, so
    a later join of a real cluster from this process advertises a reachable address again."""
    from ray._private import ray_constants

    name = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    saved_env, saved_flag = os.environ.get(name), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[name] = "0"  # read by the processes ray.init starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # read by this one when ray was imported
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved_env


# --- the engine -----------------------------------------------------------------------------

def chunk_seed(run_seed: int, task_index: int, start: int) -> int:
    return (run_seed * 1_000_003 + task_index * 10_007 + start) % (2**31)


class RunCancelled(Exception):
    """The run's cancel event was set: nothing more is scheduled, judged or stored."""


class Engine:
    """Schedules chunks over actors, verifies, stores; everything Ray-specific is in the
    `generate` and `verify` callables it is given.

    `cancel` (a threading.Event) stops a run: no chunk is scheduled after it is set, and a chunk
    in flight stores nothing, checking before each generator call, before judging and before
    storing. A call already inside an actor runs to its end (Ray cannot interrupt a threaded
    actor's task); `run_all` returns once those have, so the caller knows the work has stopped."""

    def __init__(self, config: RunConfig, store: RunStore, agent, generate_fns, verify_fn, progress,
                 on_sample=None, oracle_fn=None, tools: Tools | None = None, cancel=None,
                 task_index: dict[str, int] | None = None):
        self.config, self.store, self.agent, self.tools = config, store, agent, tools
        self.cancel = cancel
        # a task's index in the whole run (seeds follow it): a shard's states are a slice of it
        self.task_index = task_index or {}
        self.generate_fns = cycle(generate_fns)
        self.verify_fn, self.oracle_fn = verify_fn, oracle_fn  # oracle: ground truth when the verifier is not
        self.progress = progress
        self.on_sample = on_sample  # called with (candidate, verdict, trajectory) as each is stored
        from pipeline.engine.metrics import RunMetrics

        self.metrics = RunMetrics(config.name)

    # one chunk: generate -> candidates -> verify distinct -> store ---------------------------
    def run_chunk(self, chunk: Chunk, task_index: int) -> None:
        started = time.perf_counter()
        task, generate = chunk.state.task, next(self.generate_fns)
        intervals: list[tuple[float, float]] = []  # wall-clock spans inside the generator actor

        def timed_generate(prompts: list[str], params: SamplingParams, logits_processors=None) -> list[list[Completion]]:
            self.stop_if_cancelled()
            completions, interval = generate(prompts, params, logits_processors)
            intervals.append(interval)
            return completions

        params = self.config.sampling.model_copy(update={
            "n": chunk.n, "seed": chunk_seed(self.config.seed, task_index, chunk.start)})
        trajectories = self.agent.run(task, timed_generate, params, start_index=chunk.start,
                                      tools=self.timed_tools(intervals))
        generated = time.perf_counter()
        gen_s = sum(end - start for start, end in intervals)
        self.metrics.generated(len(trajectories), sum(t.completion.completion_tokens for t in trajectories), gen_s)
        candidates = [self.agent.candidate(task, t) for t in trajectories]
        self.stop_if_cancelled()
        verdicts, exec_s = self.verify(chunk.state, candidates)
        self.stop_if_cancelled()
        self.record(chunk, trajectories, candidates, verdicts)
        self.store.append("chunks", f"{task.id}/{chunk.start}", {
            "queue_s": started - chunk.submitted, "wall_s": time.perf_counter() - started,
            "generation_s": gen_s, "generate_call_s": generated - started, "gen_intervals": intervals,
            "execution_s": exec_s, "samples": len(candidates), "done_at": time.time()})

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def stop_if_cancelled(self) -> None:
        if self.cancelled():
            raise RunCancelled("the run was cancelled")

    def timed_tools(self, intervals: list[tuple[float, float]]) -> Tools | None:
        """The tools, with generator calls timed like `generate` (strategies that decode through
        a backend method, e.g. Quiet-STaR, count as generation time too)."""
        if self.tools is None or self.tools.call_generator is None:
            return self.tools
        call = self.tools.call_generator

        def timed_call(method: str, *args, **kwargs):
            self.stop_if_cancelled()
            started = time.time()
            try:
                return call(method, *args, **kwargs)
            finally:
                intervals.append((started, time.time()))

        return replace(self.tools, call_generator=timed_call)

    def verify(self, state: TaskState, candidates: list[Candidate]) -> tuple[dict[str, tuple[Verdict, bool]], float]:
        """Verdict and ground truth per candidate key; each distinct key is judged once."""
        mine, waits = state.claim([c.key for c in candidates])
        firsts = {c.key: c for c in reversed(candidates)}
        exec_s = 0.0
        if mine:
            try:
                verdicts, truth = self.judge(state.task, [firsts[k] for k in mine])
            except Exception as exc:
                state.resolve([], [], mine, f"verifier failed: {exc}")
                raise
            state.resolve(verdicts, truth)
            durations = [float(v.details.get("duration_s", 0.0)) for v in verdicts]
            exec_s = sum(durations)
            self.metrics.verified(self.config.verifier, len(verdicts), sum(v.passed for v in verdicts), durations)
        return {k: f.result() for k, f in waits.items()} | {
            k: (state.verdicts[k], state.truth[k]) for k in mine}, exec_s

    def judge(self, task: Task, candidates: list[Candidate]) -> tuple[list[Verdict], list[bool]]:
        verdicts = self.verify_fn(task, candidates)
        self.store_verdicts(verdicts)
        if self.oracle_fn is None:
            return verdicts, [v.accepted for v in verdicts]
        oracle = self.oracle_fn(task, candidates)
        self.store_verdicts(oracle)
        return verdicts, [v.accepted for v in oracle]

    def store_verdicts(self, verdicts: list[Verdict]) -> None:
        for v in verdicts:
            self.store.append("verdicts", f"{v.task_id}/{v.candidate_key}/{v.verifier}", v.model_dump(mode="json"))

    def record(self, chunk: Chunk, trajectories: list[Trajectory], candidates: list[Candidate],
               judged: dict[str, tuple[Verdict, bool]]) -> None:
        tokens = sum(t.completion.completion_tokens for t in trajectories)
        chunk.state.add(candidates, tokens)
        passed = 0
        for t, c in zip(trajectories, candidates):
            verdict, correct = judged[c.key]
            passed += correct
            self.store.append("samples", f"{c.task_id}/{c.sample_index}", {
                "task_id": c.task_id, "sample_index": c.sample_index, "candidate_key": c.key,
                "content": c.content, "passed": correct, "verifier_passed": verdict.accepted,
                "trajectory": t.model_dump(mode="json")})
            if self.on_sample is not None:
                self.on_sample(c, verdict, t)
        self.progress.samples_done(len(candidates), passed)

    def record_error(self, chunk: Chunk, exc: BaseException) -> None:
        chunk.state.errors += 1
        key = f"{chunk.state.task.id}/{chunk.start}/{time.time_ns()}"
        self.store.append("errors", key, {
            "task_id": chunk.state.task.id, "start": chunk.start, "n": chunk.n, "kind": type(exc).__name__,
            "error": str(exc)[:2000], "traceback": traceback.format_exc()[-4000:]})
        self.progress.error()
        self.metrics.error(type(exc).__name__)

    # scheduling: keep at most max_in_flight samples out, task by task -----------------------
    def run_budget_spent(self, states: list[TaskState]) -> bool:
        budget = self.config.budget
        if budget.max_samples_total is not None and sum(s.scheduled for s in states) >= budget.max_samples_total:
            return True
        return budget.max_tokens_total is not None and sum(s.tokens for s in states) >= budget.max_tokens_total

    def next_chunk(self, states: list[TaskState]) -> tuple[Chunk, int] | None:
        if self.cancelled() or self.run_budget_spent(states):
            return None
        for index, state in enumerate(states):
            if state.scheduled >= state.target or self.is_settled(state):
                continue
            start = self.first_missing(state)
            if start is None:
                continue
            n = min(self.config.runner.chunk_size, state.target - start)
            if self.config.budget.max_samples_total is not None:
                n = min(n, self.config.budget.max_samples_total - sum(s.scheduled for s in states))
            state.scheduled = start + n
            return Chunk(state, start, n), self.task_index.get(state.task.id, index)
        return None

    def first_missing(self, state: TaskState) -> int | None:
        """Next chunk start at or after `scheduled` whose samples are not all on disk (resume)."""
        size = self.config.runner.chunk_size
        for start in range(state.scheduled, state.target, size):
            stop = min(start + size, state.target)
            if any(i not in state.candidates for i in range(start, stop)):
                return start
            state.scheduled = stop
        return None

    def is_settled(self, state: TaskState) -> bool:
        token_cap = self.config.budget.max_tokens_per_task
        if token_cap is not None and state.tokens >= token_cap:
            return True  # the task's token budget is spent
        weight = getattr(self.agent, "ballot_weight", None)  # a confidence-weighted vote (DeepConf online)
        if not self.config.budget.early_stop and weight is None:
            return False
        exact = self.config.budget.early_stop and self.config.budget.exact_verifier
        if state.task.kind == "code":
            return state.settled(exact)
        from pipeline.judging.answers import normalise_answer

        return state.settled(exact, vote=lambda c: normalise_answer(c.content) if c.content else None, weight=weight)

    def run_all(self, states: list[TaskState], on_task_done) -> None:
        slots = max(1, self.config.runner.max_in_flight // self.config.runner.chunk_size)
        running: dict = {}
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="chunk") as pool:
            while True:
                while len(running) < slots and (item := self.next_chunk(states)) is not None:
                    running[pool.submit(self.run_chunk, *item)] = item[0]
                    self.metrics.in_flight(item[0].n)
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunk = running.pop(future)
                    self.metrics.in_flight(-chunk.n)
                    if isinstance(future.exception(), RunCancelled):
                        continue  # not an error of the task: nothing of it is kept
                    if future.exception() is not None:
                        self.record_error(chunk, future.exception())
                    if self.task_finished(chunk.state, running) and not self.cancelled():
                        on_task_done(chunk.state)
                        self.metrics.task_done()

    def task_finished(self, state: TaskState, running: dict) -> bool:
        if any(c.state is state for c in running.values()):
            return False
        return state.done >= state.target or self.is_settled(state) or (
            state.scheduled >= state.target and state.errors > 0)


# --- selection ------------------------------------------------------------------------------

class SelectionStep:
    """After a task's last chunk: every configured selector picks (or abstains); the pick is
    judged against ground truth (the oracle's verdicts, else the verifier's)."""

    def __init__(self, config: RunConfig, store: RunStore, execute):
        from pipeline.judging.selectors import make_selector

        self.store, self.execute = store, execute
        self.selectors = [make_selector(name, **config.selector_options.get(name, {})) for name in config.selectors]
        self.needed = bool(set(config.selectors) & BEHAVIOUR_VOTES)  # only votes read behaviour

    def fingerprints(self, state: TaskState) -> dict[str, str] | None:
        """Behaviour fingerprints for votes: from the verdicts when the verifier ran the probes in
        its own execution, else by running every distinct program once more on them."""
        task = state.task
        probes = task.metadata.get("probe_inputs")
        if task.kind != "code" or not probes or not self.needed:
            return None
        from_verdicts = {key: v.details.get("fingerprint") for key, v in state.verdicts.items()}
        if state.candidates and all(from_verdicts.get(c.key) for c in state.snapshot()):
            return from_verdicts
        if self.execute is None:
            return None
        from pipeline.judging.verifiers import program_outputs

        return program_outputs(list(state.candidates.values()), probes, task.entry_point or "f", self.execute)

    def done(self, state: TaskState) -> bool:
        return all(self.store.has("selections", f"{state.task.id}/{s.name}") for s in self.selectors)

    def __call__(self, state: TaskState) -> None:
        if self.done(state):
            return
        candidates = [state.candidates[i] for i in sorted(state.candidates)]
        verdicts = list(state.verdicts.values())
        fingerprints = self.fingerprints(state) if candidates else None
        from pipeline.judging.evaluation import diversity

        self.store.append("tasks", state.task.id, {"task_id": state.task.id, "tokens": state.tokens,
                                                   **diversity(candidates, fingerprints)})
        for selector in self.selectors:
            pick = selector.select(state.task, candidates, verdicts, fingerprints=fingerprints)
            if not pick.abstained:
                pick.correct = state.truth.get(pick.candidate_key, False)
            self.store.append("selections", f"{state.task.id}/{selector.name}", pick.model_dump(mode="json"))


def verifies_in_sandbox(config: RunConfig) -> bool:
    """The run's verifier or oracle executes code: it needs the sandbox pools."""
    return bool({config.verifier, config.oracle} & SANDBOX_VERIFIERS)


def verifier_options(config: RunConfig) -> dict:
    """The run's verifier options; with a behaviour vote among this run's selectors, a verifier
    that can also reports the candidates' probe outputs from the verdict's own execution."""
    options = dict(config.verifier_options)
    if config.verifier in FINGERPRINTING_VERIFIERS and set(config.selectors) & BEHAVIOUR_VOTES:
        options.setdefault("fingerprint", True)
    return options


def judge_canaries(state: TaskState, store: RunStore, verify, verifier: str) -> None:
    """The task's known-bad candidates through the run's verifier (pipeline/judging/canaries.py);
    stored apart from the samples, once per task (a resumed run does not judge them again)."""
    from pipeline.judging.canaries import canaries_for
    from pipeline.judging.sandboxed import error_verdicts

    canaries = {name: c for name, c in canaries_for(state.task).items()
                if not store.has("canaries", f"{state.task.id}/{name}")}
    if not canaries:
        return
    try:
        verdicts = verify(state.task, list(canaries.values()))
    except Exception as exc:  # noqa: BLE001 - a verifier that cannot judge a canary passes none of it
        verdicts = error_verdicts(state.task, list(canaries.values()), verifier, f"verifier failed: {exc}")
    for (name, candidate), verdict in zip(canaries.items(), verdicts):
        store.append("canaries", f"{state.task.id}/{name}", {
            "task_id": state.task.id, "canary": name, "verifier": verifier, "passed": verdict.accepted,
            "error": verdict.error, "reason": verdict.details.get("failure")})


# --- entry point ----------------------------------------------------------------------------

def restore(states: list[TaskState], store: RunStore, config: RunConfig) -> int:
    """Put what a killed run finished back into the task states; returns samples restored."""
    by_id = {s.task.id: s for s in states}
    truth_from = config.oracle or config.verifier
    for v in store.read("verdicts"):
        state = by_id.get(v["task_id"])
        if state is None:
            continue
        verdict = Verdict.model_validate({k: x for k, x in v.items() if k != "key"})
        if verdict.verifier == config.verifier:
            state.verdicts[verdict.candidate_key] = verdict
        if verdict.verifier == truth_from:
            state.truth[verdict.candidate_key] = verdict.accepted
    restored = 0
    for s in store.read("samples"):
        state = by_id.get(s["task_id"])
        key = s["candidate_key"]
        if state is not None and key in state.verdicts and key in state.truth:
            completion = s["trajectory"]["completion"]
            state.add([Candidate(task_id=s["task_id"], sample_index=s["sample_index"], content=s["content"], key=key,
                                 confidence=completion.get("confidence"),  # confidence_vote reads it
                                 stopped_early=completion.get("finish_reason") == "low_confidence")],
                      completion["completion_tokens"])
            restored += 1
    return restored


class Session:
    """Long-lived actors for runs of one model and one sandbox config: generator actors,
    sandbox pool actors, and the verifier as a function. `ttc run` makes one per run; the SDK
    keeps one per Client, so successive requests reuse warm models and containers."""

    def __init__(self, config: RunConfig, ray_address: str | None = None):
        init_ray(ray_address)
        self.config = config
        self._generators: list | None = None
        self._sandboxes: list | None = None
        self._execute = None
        self._verifiers: dict[tuple[str, str], Any] = {}

    @classmethod
    def adopting(cls, config: RunConfig, generators: list, sandboxes: list | None,
                 verifiers: dict[tuple[str, str], Any]) -> "Session":
        """A session over actors another session started (an orchestrator shard's): it starts
        none of its own, and `close` is left to their owner."""
        session = cls(config)
        session._generators, session._sandboxes, session._verifiers = generators, sandboxes, dict(verifiers)
        return session

    def shared_actors(self, config: RunConfig) -> dict[str, Any]:
        """Every actor a run of `config` calls, started now, for orchestrator shards to adopt."""
        from agents.requirements import SANDBOX_STRATEGIES

        self.generate_fns()
        if verifies_in_sandbox(config) or config.strategy in SANDBOX_STRATEGIES:
            self.execute_fn()
        for name, options in ((config.verifier, verifier_options(config)), (config.oracle, config.oracle_options)):
            if name in MODEL_VERIFIERS:
                self.verify_fn(name, options)
        return {"generators": self._generators, "sandboxes": self._sandboxes, "verifiers": self._verifiers}

    def start(self, config: RunConfig) -> None:
        """Start the actors `config` needs now, so a bad model or image fails before any work."""
        self.generate_fns()
        if verifies_in_sandbox(config):
            self.execute_fn()

    def generate_fns(self) -> list:
        import ray

        from pipeline.engine.actors import start_generators

        if self._generators is None:
            self._generators = start_generators(self.config)
        return [lambda prompts, params, processors=None, a=a: ray.get(a.generate.remote(prompts, params, processors))
                for a in self._generators]

    def tools(self, verify) -> Tools:
        """Actor-backed tools for multi-step strategies; sandboxes start on first use."""
        import ray

        self.generate_fns()
        generators = cycle(self._generators)

        def call_generator(method: str, *args, **kwargs):
            return ray.get(next(generators).call.remote(method, *args, **kwargs))

        def run_in_sandbox(cmd, files, timeout_s=None):
            return self.execute_fn()(cmd, files, timeout_s)

        return Tools(call_generator=call_generator, execute=run_in_sandbox, verify=verify)

    def execute_fn(self):
        """Sandbox execution sent to the pool actor with the fewest calls in flight (started on
        first use): a slow node's pool gets fewer calls instead of an equal share of a queue."""
        import ray

        from pipeline.engine.actors import start_sandboxes
        from pipeline.engine.dispatch import LeastLoaded

        if self._execute is None:
            if self._sandboxes is None:
                self._sandboxes = start_sandboxes(self.config)
            pools = self._dispatch = LeastLoaded(self._sandboxes)

            def execute(cmd, files, timeout_s=None, peer=None):
                return pools.call(lambda pool: ray.get(pool.run.remote(cmd, files, b"", timeout_s, None, peer)))

            self._execute = execute  # one dispatcher for verifiers, selection and agents
        return self._execute

    def sandbox_calls(self) -> int:
        """Sandbox executions this session's dispatcher sent so far (a shard's are its own)."""
        return sum(self._dispatch.calls()) if self._execute is not None else 0

    def sandbox_containers(self) -> int:
        """Warm containers of the pools started so far."""
        return len(self._sandboxes or []) * self.config.sandbox.pool_size

    def verify_fn(self, name: str, options: dict):
        from pipeline.judging.verifiers import make_verifier

        if "model_path" in options:  # a repository path or a model name, from any directory
            options = {**options, "model_path": resolve_model_path(options["model_path"])}
        if name in MODEL_VERIFIERS:
            return self.verifier_actor_fn(name, options)
        deps = dict(options)
        if name in SANDBOX_VERIFIERS:
            deps["execute"] = self.execute_fn()
        return make_verifier(name, **deps).verify

    def verifier_actor_fn(self, name: str, options: dict):
        """A model-based verifier in its own actor: the model loads once, off the driver."""
        import json

        import ray

        from pipeline.engine.actors import start_verifier, wait_started

        key = (name, json.dumps(options, sort_keys=True))
        if key not in self._verifiers:
            actor = start_verifier(name, options)
            wait_started(f"verifier actor {name!r}", [actor.ready.remote()])  # a bad model path fails now
            self._verifiers[key] = actor
        actor = self._verifiers[key]
        return lambda task, candidates: ray.get(actor.verify.remote(task, candidates))

    def run_tasks(self, config: RunConfig, states: list[TaskState], store: RunStore, progress,
                  on_sample=None, cancel=None, select_incomplete: bool = True,
                  task_index: dict[str, int] | None = None) -> None:
        """Sample, verify and select every task of `states` into `store`; `cancel` (a
        threading.Event) stops it, and this returns once the work in flight has stopped.
        `select_incomplete=False` (resumable runs): a task whose chunks failed gets no selection,
        since a stored one would stand after `--resume` completes the task."""
        execute = self.execute_fn() if verifies_in_sandbox(config) else None
        oracle = None
        if config.oracle and config.oracle != config.verifier:
            oracle = self.verify_fn(config.oracle, config.oracle_options)
        verify = self.verify_fn(config.verifier, verifier_options(config))
        agent = make_agent(config.strategy, {"model_path": resolve_model_path(config.model.path)},
                           **config.strategy_options)
        engine = Engine(config, store, agent, self.generate_fns(),
                        verify, progress, on_sample, oracle, self.tools(verify), cancel, task_index)
        select = SelectionStep(config, store, execute)

        def select_task(state: TaskState) -> None:
            if state.errors and not select_incomplete:
                progress.task_done()
                return
            try:
                select(state)
                if config.canaries:
                    judge_canaries(state, store, verify, config.verifier)
            except Exception as exc:  # noqa: BLE001 - a task's bad data fails that task, not the run
                engine.record_error(Chunk(state, 0, 0), exc)
            progress.task_done()

        # Selection may execute programs (votes over behaviour): off the scheduling thread,
        # so the generators keep receiving work meanwhile.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="select") as selecting:
            engine.run_all(states, lambda state: selecting.submit(select_task, state))
        if engine.cancelled():
            raise RunCancelled("the run was cancelled")
        for state in states:  # tasks finished entirely before a resume
            if not state.errors and not select.done(state):
                select_task(state)

    def close(self) -> None:
        import ray

        for actor in self._sandboxes or []:
            ray.get(actor.close.remote())
        for actor in (self._sandboxes or []) + (self._generators or []) + list(self._verifiers.values()):
            ray.kill(actor)
        self._sandboxes = self._generators = self._execute = None
        self._verifiers = {}


def target_samples(config: RunConfig) -> int:
    return min(config.budget.max_samples_per_task or config.sampling.n, config.sampling.n)


def execution_seconds(verdicts: list[dict]) -> float:
    """Program time of the verdicts' sandbox executions (launch to kill; 0 for verifiers that run none)."""
    return sum(float((v.get("details") or {}).get("duration_s") or 0.0) for v in verdicts)


def where_time_went(execution_s: float, containers: int, wall_s: float, driver_cpu_s: float) -> dict:
    """How busy the warm containers were (program time over containers x wall: file writes,
    wipes and transfers are not counted, nor canaries' and selection's executions), and the
    driver's CPU: the two things that bound a run whose generation is cheap."""
    return {"sandbox_containers": containers, "sandbox_execution_s": execution_s,
            "sandbox_busy_fraction": execution_s / (containers * wall_s) if containers and wall_s > 0 else None,
            "driver_cpu_s": driver_cpu_s, "driver_cpu_share": driver_cpu_s / wall_s if wall_s > 0 else None}


def shard_time(report: dict | None, wall_s: float) -> dict:
    """The orchestrator shards' count, nodes and CPU (each its actor process's), and the
    driver's CPU while it collected their records, when a run had shards."""
    if not report:
        return {"shards": 0}
    costs = report["costs"]
    cpu = [round(c["cpu_s"], 3) for c in costs]
    return {"shards": len(costs), "shard_nodes": len({c["node"] for c in costs}), "shard_cpu_s": cpu,
            "shard_wall_s": [round(c["wall_s"], 3) for c in costs],
            "shard_cpu_share": sum(cpu) / wall_s if wall_s > 0 else None,
            "driver_collect_cpu_s": report["driver_collect_cpu_s"]}


def write_summary(store: RunStore, config: RunConfig, task_ids: list[str], wall_s: float,
                  containers: int = 0, driver_cpu_s: float = 0.0, prior_execution_s: float = 0.0,
                  shards: dict | None = None) -> dict:
    """`prior_execution_s`: execution time of verdicts a resumed run found on disk (not this run's)."""
    from pipeline.judging.canaries import canary_report
    from pipeline.judging.report import plot_coverage
    from pipeline.judging.summary import summarise

    summary = summarise(task_ids, store.read("samples"), store.read("selections"),
                        store.read("errors"), store.read("chunks"), wall_s, store.read("tasks"),
                        target_n=target_samples(config))
    verdicts = store.read("verdicts")
    summary["verifier_errors"] = sum(1 for v in verdicts if v.get("error"))
    summary["time"].update(where_time_went(execution_seconds(verdicts) - prior_execution_s, containers,
                                           wall_s, driver_cpu_s))
    summary["time"].update(shard_time(shards, wall_s))
    summary["canaries"] = canary_report(store.read("canaries"))
    summary["coverage_plot"] = str(plot_coverage(summary["coverage_curve"], store.run_dir / "coverage.png",
                                                 title=f"{config.name}: {config.model.path}"))
    store.write_json("summary.json", summary)
    return summary


def run_states(session: Session, config: RunConfig, states: list[TaskState], store: RunStore,
               progress) -> dict | None:
    """Every task of a resumable run, driven here or by orchestrator shards (`runner.shards`);
    returns the shards' report (pipeline.engine.shards.drive_shards), None when the driver drove."""
    from pipeline.engine.shards import drive_shards, shard_count

    parts = shard_count(config, len(states))
    if not parts:
        session.run_tasks(config, states, store, progress, select_incomplete=False)
        return None
    return drive_shards(config, states, store, progress, session.shared_actors(config), parts)


def run(config: RunConfig, resume_dir: str | None = None, ray_address: str | None = None) -> RunResult:
    from pipeline.engine import provenance
    from pipeline.engine.progress import Progress

    config, store = open_run(config, resume_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    tasks = load_tasks(config.tasks)
    states = [TaskState(task, target_samples(config)) for task in tasks]
    restored = restore(states, store, config)
    prior_execution_s = execution_seconds(store.read("verdicts")) if resume_dir else 0.0
    store.write_json("provenance.json", provenance.collect(config))
    session = Session(config, ray_address)
    session.start(config)
    progress = Progress(sum(s.target for s in states), len(states), initial=restored,
                        initial_passed=sum(s.passed() for s in states))
    try:
        shards = run_states(session, config, states, store, progress)
        containers = session.sandbox_containers()
    finally:
        progress.close()
        session.close()
    summary = write_summary(store, config, [t.id for t in tasks], time.perf_counter() - started, containers,
                            time.process_time() - cpu_started, prior_execution_s, shards)
    from pipeline.judging.canaries import canary_warnings

    return RunResult(run_dir=str(store.run_dir), tasks=len(tasks), samples=summary["samples"], summary=summary,
                     warnings=canary_warnings(summary["canaries"]))
