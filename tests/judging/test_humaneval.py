"""All 164 HumanEval canonical solutions pass the unit_tests verifier in the sandbox, and
simple mutants of them fail."""
import re

import pytest

from benchmarks.tasks.humaneval import load_humaneval
from pipeline.core.types import Candidate
from pipeline.judging.verifiers import UnitTestVerifier

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def verifier(sandbox_image):
    from sandbox import Limits, SandboxPool

    with SandboxPool(size=2, image=sandbox_image, limits=Limits(timeout_s=10, memory_mb=512)) as pool:
        yield UnitTestVerifier(pool.run, timeout_s=10, parallel=2)


def verify_programs(verifier, tasks, programs):
    verdicts = []
    for task, program in zip(tasks, programs):
        verdicts += verifier.verify(task, [Candidate(task_id=task.id, sample_index=0, content=program)])
    return verdicts


def return_none(body: str) -> str:
    return "    return None\n"


def flip_operator(body: str) -> str | None:
    """The first comparison or arithmetic operator flipped; None when there is none."""
    for pattern, repl in ((r" < ", " >= "), (r" > ", " <= "), (r" == ", " != "), (r" \+ ", " - "), (r" - ", " + ")):
        if re.search(pattern, body):
            return re.sub(pattern, repl, body, count=1)
    return None


def test_canonical_solutions_pass_and_mutants_fail(verifier):
    tasks = load_humaneval()
    assert len(tasks) == 164
    canonical = [t.prompt + t.metadata["canonical_solution"] for t in tasks]
    verdicts = verify_programs(verifier, tasks, canonical)
    failed = [(v.task_id, v.details.get("stderr_tail", "")[-200:]) for v in verdicts if not v.passed]
    assert failed == []

    nones = verify_programs(verifier, tasks, [t.prompt + return_none("") for t in tasks])
    assert sum(v.passed for v in nones) == 0

    flippable = [(t, flip_operator(t.metadata["canonical_solution"])) for t in tasks]
    flippable = [(t, body) for t, body in flippable if body is not None]
    flipped = verify_programs(verifier, [t for t, _ in flippable], [t.prompt + body for t, body in flippable])
    survivors = [v.task_id for v in flipped if v.passed]
    assert len(flippable) > 100
    assert len(survivors) <= 0.1 * len(flippable), survivors
