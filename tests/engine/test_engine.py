"""The runner's engine without Ray: a real tiny transformers generator in-process and a verifier
that accepts every candidate (the tiny random model writes no program a real test would pass).
Early stopping and budgets cut work as promised."""
import time

import pytest

from agents.repeated_sampling import RepeatedSampling
from pipeline.core.config import build_config
from pipeline.engine.runner import Engine, SelectionStep
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.interfaces.sdk import _Quiet
from pipeline.core.types import Task, Verdict


@pytest.fixture(scope="module")
def generate(tiny_random_model):
    from pipeline.generators.hf import HFGenerator

    generator = HFGenerator(tiny_random_model, device="cpu")

    def timed(prompts, params, logits_processors=None):
        started = time.time()
        return generator.generate(prompts, params, logits_processors), (started, time.time())

    yield timed
    generator.close()


def engine_for(tmp_path, generate, **budget):
    config = build_config({"sampling": {"n": 16, "max_new_tokens": 8}, "budget": budget,
                           "runner": {"chunk_size": 4, "max_in_flight": 4}})
    store = RunStore(tmp_path)
    return Engine(config, store, RepeatedSampling(), [generate], accept_all, _Quiet()), config, store


def accept_all(task, candidates):
    return [Verdict(task_id=task.id, candidate_key=c.key, verifier="unit_tests", passed=True, score=1.0)
            for c in candidates]


def always_passes(task_id="t"):
    return Task(id=task_id, prompt="def f(x):\n", entry_point="f", tests="print('accepts anything')\n")


def test_exact_verifier_stops_a_task_at_its_first_passing_chunk(tmp_path, generate):
    engine, config, store = engine_for(tmp_path, generate, early_stop=True, exact_verifier=True)
    state = TaskState(always_passes(), target=16)
    engine.run_all([state], SelectionStep(config, store, None))
    assert state.done == 4  # one chunk of 4, not 16
    assert len(store.read("samples")) == 4
    assert store.read("selections")[0]["correct"] is True


def test_without_early_stop_all_samples_are_drawn(tmp_path, generate):
    engine, config, store = engine_for(tmp_path, generate, early_stop=False)
    state = TaskState(always_passes(), target=16)
    engine.run_all([state], SelectionStep(config, store, None))
    assert state.done == 16 and state.passed() == 16


def test_token_budget_caps_a_task(tmp_path, generate):
    engine, config, store = engine_for(tmp_path, generate, max_tokens_per_task=1)
    state = TaskState(always_passes(), target=16)
    engine.run_all([state], SelectionStep(config, store, None))
    assert state.done == 4 and state.tokens >= 1


def test_a_crashing_verifier_is_an_error_not_a_pass_and_the_run_goes_on(tmp_path, generate):
    engine, config, store = engine_for(tmp_path, generate)

    def broken(task, candidates):
        if task.id == "bad":
            raise RuntimeError("verifier exploded")
        return accept_all(task, candidates)

    engine.verify_fn = broken
    states = [TaskState(always_passes("bad"), 8), TaskState(always_passes("good"), 8)]
    engine.run_all(states, SelectionStep(config, store, None))
    errors = store.read("errors")
    assert {e["task_id"] for e in errors} == {"bad"} and "verifier exploded" in errors[0]["error"]
    assert states[0].done == 0 and states[1].done == 8


def test_run_wide_sample_budget_caps_all_tasks_together(tmp_path, generate):
    engine, config, store = engine_for(tmp_path, generate, max_samples_total=10)
    states = [TaskState(always_passes("a"), 16), TaskState(always_passes("b"), 16)]
    engine.run_all(states, SelectionStep(config, store, None))
    assert sum(s.done for s in states) == 10


def test_one_sandbox_execution_per_distinct_candidate_with_a_behaviour_vote(tmp_path, generate):
    """Verdict and behaviour fingerprint come from the same execution: majority_vote adds none."""
    from benchmarks.tasks.synthetic_code import make_tasks
    from pipeline.judging.unit_tests import UnitTestVerifier
    from pipeline.judging.verifiers import subprocess_executor

    calls = []

    def counting(cmd, files, timeout_s, peer=None):
        calls.append(cmd)
        return subprocess_executor(cmd, files, timeout_s=timeout_s, peer=peer)

    config = build_config({"sampling": {"n": 8, "max_new_tokens": 16}, "selectors": ["majority_vote"],
                           "runner": {"chunk_size": 4, "max_in_flight": 8}})
    store = RunStore(tmp_path)
    verify = UnitTestVerifier(counting, timeout_s=10, fingerprint=True).verify
    engine = Engine(config, store, RepeatedSampling(), [generate], verify, _Quiet())
    states = [TaskState(task, 8) for task in make_tasks("test", n=2)]
    engine.run_all(states, SelectionStep(config, store, counting))
    distinct = {s["candidate_key"] for s in store.read("samples")}
    assert len(calls) == len(distinct) > 0
    assert all(r["distinct_outputs"] is not None for r in store.read("tasks"))


def test_only_the_runs_own_vote_makes_its_verifier_fingerprint():
    from pipeline.engine.runner import verifier_options

    voting = build_config({"selectors": ["majority_vote", "first_passing"]})
    assert verifier_options(voting) == {"fingerprint": True}
    assert verifier_options(build_config({"selectors": ["first_passing"]})) == {}
    assert verifier_options(build_config({"verifier": "exact_answer", "selectors": ["majority_vote"]})) == {}
    assert verifier_options(voting.model_copy(update={"verifier_options": {"fingerprint": False}})) == {"fingerprint": False}
