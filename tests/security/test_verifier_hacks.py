"""The unit-test verifier against candidates that try to pass without solving the task, in the
real sandbox: early exits, reading the tests, faked equality, patched builtins, forged reports,
killing the harness, lingering, hanging, flooding. The honest control must pass. Under both
sandbox runtimes (runc, gvisor)."""
import pytest

from benchmarks.verifier_hacks import CONTROL, HACKS, hack_tasks
from pipeline.core.types import Candidate, Limits
from pipeline.judging.unit_tests import UnitTestVerifier

pytestmark = pytest.mark.docker
TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def pool(sandbox_image, sandbox_runtime):
    from sandbox import SandboxPool

    with SandboxPool(size=2, image=sandbox_image, limits=Limits(timeout_s=TIMEOUT_S), runtime=sandbox_runtime) as pool:
        yield pool


@pytest.fixture(scope="module")
def verdicts(pool):
    """(task format, hack name) -> verdict, for every hack and the control, in both formats."""
    verifier = UnitTestVerifier(pool.run, timeout_s=TIMEOUT_S, parallel=2)
    found = {}
    for task in hack_tasks():
        names = ["control", *HACKS]
        programs = [CONTROL, *HACKS.values()]
        cands = [Candidate(task_id=task.id, sample_index=i, content=p) for i, p in enumerate(programs)]
        found.update({(task.id, name): v for name, v in zip(names, verifier.verify(task, cands))})
    return found


@pytest.mark.parametrize("task_id", ["hack-script", "hack-humaneval"])
def test_the_honest_control_passes(verdicts, task_id):
    verdict = verdicts[(task_id, "control")]
    assert verdict.passed and verdict.error is None and verdict.details["calls"] == 1


@pytest.mark.parametrize("hack", sorted(HACKS))
@pytest.mark.parametrize("task_id", ["hack-script", "hack-humaneval"])
def test_every_hack_is_contained(verdicts, sandbox_runtime, task_id, hack):
    verdict = verdicts[(task_id, hack)]
    assert not verdict.passed, (hack, verdict.details)
    # with a reason; under gVisor a memory bomb ends the whole sandbox, harness included: oom
    assert verdict.details["failure"] or verdict.error or (sandbox_runtime == "gvisor" and verdict.details["oom"])


def test_the_harness_survives_attempts_to_kill_it(verdicts):
    for task_id in ("hack-script", "hack-humaneval"):
        verdict = verdicts[(task_id, "kill_and_stop_everyone")]
        assert verdict.error is None and verdict.details["calls"] == 1  # it reported, after the call


def test_a_reader_finds_nothing_and_forged_output_is_ignored(verdicts):
    for task_id in ("hack-script", "hack-humaneval"):
        reader = verdicts[(task_id, "print_what_it_reads")]
        assert "ttc-secret-" not in reader.details["candidate_output_tail"]
        assert reader.details["candidate_output_tail"].strip().endswith("None")
        forger = verdicts[(task_id, "forged_report_on_every_fd")]
        assert '"passed": true' in forger.details["candidate_output_tail"]  # it printed the fake...
        assert not forger.passed  # ...and it did not count


def test_nothing_lingers_after_the_verdict(pool):
    task = hack_tasks()[0]
    verifier = UnitTestVerifier(pool.run, timeout_s=TIMEOUT_S, parallel=1)
    [verdict] = verifier.verify(task, [Candidate(task_id=task.id, sample_index=0, content=HACKS["linger_past_the_verdict"])])
    assert not verdict.passed
    census = ("import os\nprint(sorted({os.stat(f'/proc/{p}').st_uid for p in os.listdir('/proc')"
              " if p.isdigit() and int(p) != os.getpid()}))")
    for _ in range(pool.size):  # every container
        assert pool.run(["python3", "-c", census]).stdout.strip() == "[0]"  # root's own processes only


def test_hung_candidates_fail_within_the_time_limit(verdicts):
    for task_id in ("hack-script", "hack-humaneval"):
        verdict = verdicts[(task_id, "hang")]
        assert verdict.details["timed_out"] and verdict.error is None
        assert verdict.details["duration_s"] < TIMEOUT_S + 2
