"""Canaries: the known-bad candidates of each task kind, their report, and that the unit-test
harness fails every code canary in the real sandbox while the marker design passed two."""
import pytest

from benchmarks.verifier_hacks import MarkerVerifier
from pipeline.core.types import Limits, Task, Verdict
from pipeline.engine.runner import judge_canaries
from pipeline.engine.store import RunStore
from pipeline.engine.task_state import TaskState
from pipeline.judging.canaries import FIRST_INDEX, canaries_for, canary_report, canary_warnings, near_miss
from pipeline.judging.unit_tests import UnitTestVerifier

CODE = Task(id="add", prompt="def add(a, b):\n", entry_point="add",
            tests="from solution import add\nassert add(2, 3) == 5\n")
HUMANEVAL = Task(id="he", prompt="def add(a, b):\n", entry_point="add", metadata={"test_format": "humaneval"},
                 tests="def check(candidate):\n    assert candidate(2, 3) == 5\n")


def test_each_kind_gets_its_canaries_past_every_sample_index():
    assert set(canaries_for(CODE)) == {"early_exit", "return_none", "always_equal", "reads_files"}
    assert all(c.sample_index >= FIRST_INDEX for c in canaries_for(CODE).values())
    math = Task(id="m", kind="math", prompt="1+1?", answer="2")
    assert [c.content for c in canaries_for(math).values()] == ["3"]
    assert canaries_for(Task(id="i", kind="image", prompt="7", answer="7")) == {}


@pytest.mark.parametrize("reference, miss", [("2", "3"), ("3/4", "7/4"), ("1,000", "1001"), ("\\sqrt{2}", "\\sqrt{2} + 1")])
def test_near_misses_are_close_and_wrong(reference, miss):
    assert near_miss(reference) == miss


def test_a_passing_canary_is_reported_and_warned(tmp_path):
    store = RunStore(tmp_path)

    def lenient(task, candidates):  # a verifier that a cheat fools
        return [Verdict(task_id=task.id, candidate_key=c.key, verifier="lenient", passed="None" in c.content)
                for c in candidates]

    judge_canaries(TaskState(CODE, 1), store, lenient, "lenient")
    report = canary_report(store.read("canaries"))["lenient"]
    assert report["judged"] == 4 and report["passed"] == 3
    [warning] = canary_warnings({"lenient": report})
    assert "passed 3 known-bad canaries" in warning and "add/return_none" in warning


@pytest.mark.docker
def test_the_harness_fails_every_code_canary_and_the_marker_design_did_not(sandbox_image):
    from sandbox import SandboxPool

    with SandboxPool(size=2, image=sandbox_image, limits=Limits(timeout_s=5)) as pool:
        harness, marker = UnitTestVerifier(pool.run, timeout_s=5), MarkerVerifier(pool.run, timeout_s=5)
        for task in (CODE, HUMANEVAL):
            canaries = canaries_for(task)
            assert not any(v.passed for v in harness.verify(task, list(canaries.values())))
            fooled = {name for name, c in canaries.items() if marker.judge(task, c)}
            assert fooled == {"always_equal", "reads_files"}
