"""summary.json's numbers cannot inflate: every task counts at the target n with its missing
samples as failures, the curve runs to k = target n, and what went missing is reported."""
import json
from pathlib import Path

import pytest

from pipeline.core.types import Verdict
from pipeline.judging.evaluation import pass_at_k
from pipeline.judging.summary import summarise

ROOT = Path(__file__).resolve().parents[2]


def samples(task_id: str, passed: list[bool], start: int = 0) -> list[dict]:
    return [{"task_id": task_id, "sample_index": start + i, "candidate_key": f"{task_id}{start + i}",
             "passed": p, "verifier_passed": p,
             "trajectory": {"completion": {"completion_tokens": 1}}} for i, p in enumerate(passed)]


def chunk_error(task_id: str, start: int, n: int) -> dict:
    return {"task_id": task_id, "start": start, "n": n, "kind": "RuntimeError", "error": "verifier exploded"}


def summary(task_ids, stored, errors=(), selections=(), target_n=4) -> dict:
    return summarise(task_ids, stored, list(selections), list(errors), [], 1.0, target_n=target_n)


def test_a_fully_errored_task_stays_in_the_denominator():
    result = summary(["a", "b"], samples("a", [True] * 4), [chunk_error("b", 0, 4)])
    assert result["pass_at_k"][1] == 0.5  # not 1.0: b's four lost samples are failures
    assert set(result["coverage_curve"]) == {1, 2, 3, 4} and result["coverage_curve"][4] == 0.5
    assert result["tasks_with_errors"] == 1 and result["samples_lost"] == 4
    b = result["per_task"]["b"]
    assert (b["samples"], b["missing"], b["correct"]) == (0, 4, 0)


def test_one_short_task_does_not_cut_the_curve():
    stored = samples("a", [True, False] * 4) + samples("b", [False, False, True, False])
    result = summary(["a", "b"], stored, [chunk_error("b", 4, 4)], target_n=8)
    assert sorted(result["coverage_curve"]) == list(range(1, 9))  # not 1..4, b's sample count
    assert sorted(result["pass_at_k"]) == [1, 2, 4, 8]
    expected = (pass_at_k(8, 4, 8) + pass_at_k(8, 1, 8)) / 2  # b: 1 correct of 8, 4 of them lost
    assert result["pass_at_k"][8] == pytest.approx(expected) == 1.0
    assert result["pass_at_k"][1] == pytest.approx((4 / 8 + 1 / 8) / 2)
    assert (result["tasks_with_errors"], result["tasks_short"], result["samples_lost"]) == (1, 1, 4)


def test_a_task_without_a_selection_is_an_abstention_in_the_selector_report():
    picks = [{"task_id": "a", "selector": "first_passing", "candidate_key": "a0", "correct": True}]
    result = summary(["a", "b"], samples("a", [True] * 4), [chunk_error("b", 0, 4)], picks)
    report = result["selectors"]["first_passing"]
    assert (report["tasks"], report["accuracy"], report["abstention_rate"]) == (2, 0.5, 0.5)


def test_samples_never_drawn_count_as_failures_but_not_as_lost():
    result = summary(["a"], samples("a", [True]))  # stopped early at its first pass, no error
    assert result["pass_at_k"][1] == 0.25 and sorted(result["coverage_curve"]) == [1, 2, 3, 4]
    assert (result["samples_lost"], result["samples_not_drawn"], result["tasks_with_errors"]) == (0, 3, 0)
    assert result["tasks_short"] == 1


def test_an_error_a_resume_made_good_is_no_longer_outstanding():
    stored = samples("a", [True] * 4) + samples("b", [False] * 4)
    result = summary(["a", "b"], stored, [chunk_error("b", 0, 4)])
    assert (result["samples_lost"], result["tasks_with_errors"], result["tasks_short"]) == (0, 0, 0)
    assert result["errors"] == 1  # the history stays


def test_a_failed_selection_is_an_error_of_its_task():
    failed = {"task_id": "a", "start": 0, "n": 0, "kind": "ValueError", "error": "bad data"}
    result = summary(["a"], samples("a", [True] * 4), [failed])
    assert result["tasks_with_errors"] == 1 and result["samples_lost"] == 0


# --- end to end: an errored run, resumed ------------------------------------------------------

BROKEN: set[str] = set()  # task ids the verifier below raises on


class BreaksOnSomeTasks:
    """A verifier that raises on the tasks in BROKEN (as a bug would) and otherwise passes
    even-length candidates: runs in the driver, no sandbox."""

    name = "breaks_on_some_tasks"

    def verify(self, task, candidates):
        if task.id in BROKEN:
            raise RuntimeError(f"verifier exploded on {task.id}")
        return [Verdict(task_id=task.id, candidate_key=c.key, verifier=self.name, passed=len(c.content) % 2 == 0)
                for c in candidates]


@pytest.fixture()
def breaking_verifier():
    from pipeline.judging.verifiers import VERIFIERS

    VERIFIERS[BreaksOnSomeTasks.name] = BreaksOnSomeTasks
    yield
    del VERIFIERS[BreaksOnSomeTasks.name]
    BROKEN.clear()


def on_disk(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def test_an_errored_run_resumed_to_completion_has_nothing_lost(ray_local, tiny_random_model, breaking_verifier,
                                                               tmp_path):
    from pipeline.core.config import load_config
    from pipeline.engine.runner import run
    from pipeline.engine.tasks import load_tasks

    overrides = [f"model.path={tiny_random_model}", "tasks.limit=2", "sampling.n=8", "sampling.max_new_tokens=16",
                 "runner.chunk_size=4", "runner.max_in_flight=8", f"runner.output_dir={tmp_path}",
                 f"verifier={BreaksOnSomeTasks.name}"]
    config = load_config(ROOT / "configs/demo.yaml", overrides)
    good, bad = (t.id for t in load_tasks(config.tasks))
    BROKEN.add(bad)
    errored = on_disk(run(config).run_dir)
    assert (errored["samples"], errored["samples_lost"], errored["tasks_with_errors"]) == (8, 8, 1)
    assert sorted(errored["coverage_curve"], key=int)[-1] == "8"  # the curve still runs to n
    assert errored["per_task"][bad]["missing"] == 8
    run_dir = next(tmp_path.glob("*/summary.json")).parent
    selected = lambda: {json.loads(l)["task_id"] for l in (run_dir / "selections.jsonl").read_text().splitlines()}  # noqa: E731
    assert selected() == {good}  # the incomplete task is not selected: that would stand after the resume

    BROKEN.clear()
    resumed = on_disk(run(load_config(ROOT / "configs/demo.yaml"), resume_dir=str(run_dir)).run_dir)
    assert (resumed["samples"], resumed["samples_lost"], resumed["tasks_with_errors"]) == (16, 0, 0)
    assert resumed["samples_not_drawn"] == 0 and resumed["errors"] == 2  # the two failed chunks, as history
    assert resumed["per_task"][good]["samples"] == resumed["per_task"][bad]["samples"] == 8
    assert selected() == {good, bad}  # selected once complete, over all its samples
