"""The Python SDK end to end: real Ray actors, the tiny random model, the Docker sandbox.
A random model never passes, so a reference program shows what a passing verdict looks like."""
import asyncio
from pathlib import Path

import pytest

from benchmarks.tasks.synthetic_code import make_tasks
from pipeline import Client, Task
from pipeline.core.registry import UnknownNameError
from pipeline.interfaces.sdk import BestOfN, ScoredCandidate

pytestmark = pytest.mark.docker
TASKS = make_tasks("test", n=3)


def test_best_of_n_returns_scored_candidates_and_their_cost(ray_local, client):
    result = client.best_of_n(TASKS[0], n=4, selector="majority_vote", max_new_tokens=16)
    assert isinstance(result, BestOfN)
    assert sorted(s.candidate.sample_index for s in result.candidates) == [0, 1, 2, 3]
    assert all(s.verdict.verifier == "unit_tests" and s.verdict.error is None for s in result.candidates)
    assert result.selection.task_id == TASKS[0].id and result.selection.selector == "majority_vote"
    keys = {s.candidate.key for s in result.candidates}
    assert result.best is None or result.best.key in keys
    assert set(result.pass_at_k) == {1, 2, 3, 4} and all(0 <= p <= 1 for p in result.pass_at_k.values())
    assert result.cost.samples == 4 and result.cost.distinct_candidates == len(keys)
    assert result.cost.tokens > 0 and result.cost.seconds > 0
    assert (Path(result.run_dir) / "samples.jsonl").is_file()
    assert BestOfN.model_validate_json(result.model_dump_json()) == result  # the HTTP answer round-trips


def test_verify_passes_the_reference_program_and_fails_a_wrong_one(ray_local, client):
    task = TASKS[1]
    verdicts = client.verify(task, [task.metadata["solution"], "def f(xs):\n    return None\n"])
    assert [v.passed for v in verdicts] == [True, False]
    assert verdicts[0].error is None and verdicts[0].details["exit_code"] == 0
    assert verdicts[1].details["failure"].startswith("AssertionError")  # the harness's own report


def test_stream_yields_every_sample_as_it_is_verified(ray_local, client):
    async def collect():
        return [item async for item in client.stream(TASKS[2], n=4, max_new_tokens=16)]

    items = asyncio.run(collect())
    assert all(isinstance(i, ScoredCandidate) for i in items)
    assert sorted(i.candidate.sample_index for i in items) == [0, 1, 2, 3]


def test_abest_of_n_runs_requests_side_by_side(ray_local, client):
    async def both():
        return await asyncio.gather(client.abest_of_n(TASKS[0], n=2, max_new_tokens=8),
                                    client.abest_of_n(TASKS[1], n=2, max_new_tokens=8, selector="first_passing"))

    first, second = asyncio.run(both())
    assert (first.selection.task_id, second.selection.task_id) == (TASKS[0].id, TASKS[1].id)
    assert first.cost.samples == second.cost.samples == 2
    assert first.run_dir != second.run_dir


@pytest.mark.parametrize("call, error, words", [
    (lambda c: c.best_of_n(TASKS[0], n=0), ValueError, "n: Input should be greater than or equal to 1"),
    (lambda c: c.best_of_n(TASKS[0], n=2, verifier="oracle"), UnknownNameError, "unknown verifier 'oracle'; valid:"),
    (lambda c: c.best_of_n(TASKS[0], n=2, temperature="hot"), ValueError, "temperature"),
    (lambda c: c.best_of_n(TASKS[0], n=2, top_k=5), ValueError, "top_k: Extra inputs are not permitted"),
    (lambda c: c.best_of_n({"id": "x", "prompt": ""}, n=2), ValueError, "invalid task: prompt"),
    (lambda c: c.best_of_n(Task(id="t", prompt="def f():"), n=2), ValueError, "needs a task with tests"),
    (lambda c: c.verify(TASKS[0], "def f(xs): pass"), ValueError, "candidates must be a list of strings"),
], ids=["n", "verifier", "temperature", "unknown-argument", "task", "no-tests", "candidates"])
def test_bad_arguments_fail_before_any_work(tiny_random_model, call, error, words):
    client = Client(model__path=tiny_random_model)
    with pytest.raises(error, match=words.replace("(", r"\(")):
        call(client)
    assert client._session is None  # no Ray, no actor was started
