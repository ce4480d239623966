"""The unit-test verifier: the task's tests judge the candidate from a process it cannot reach.

One sandbox execution per distinct candidate runs two programs (sandbox/supervisor.py's peer
mode): the harness (harness/harness_main.py, the sandbox uid, in /work with the tests) and the
candidate (harness/candidate_main.py importing solution.py, another uid, in a directory of its
own). They share one socket and nothing else. The harness calls the candidate's functions across
it, with arguments and results as plain data only, and compares on its own objects; it reports
on a stdout the candidate has no descriptor for. A verdict passes only when that report says
every test ran and passed: an exit code, a marker or anything the candidate prints never does.

What this does not cover: tasks whose tests need the candidate's objects themselves (classes,
generators, callbacks passed in) fail with a reason; and the candidate can see that the harness
process exists (its pid and command line in /proc), though not its memory, files, descriptors
or environment.
"""
from __future__ import annotations

import ast
import hashlib

from pipeline.core.types import Candidate, ExecutionResult, Peer, Task, Verdict
from pipeline.judging.harness import CANDIDATE_SOURCE, HARNESS_SOURCE, WIRE_SOURCE, wire
from pipeline.judging.sandboxed import Execute, execute_safely, judge_each_in_sandbox, stderr_tail

HARNESS_CMD = ["python3", "-E", "-s", "-S", "ttc_harness.py"]  # no PYTHON* variables, no site: stdlib only
CANDIDATE_CMD = ["python3", "ttc_candidate.py"]  # as a plain `python3` would run the candidate
REPORT_PREFIX = "ttc-harness-report "


def test_spec(task: Task, visible_only: bool = False, fingerprint: bool = False) -> dict:
    spec = tests_of(task, visible_only)
    if fingerprint and task.metadata.get("probe_inputs") and task.entry_point:
        spec.update(probes=probe_arguments(task.metadata["probe_inputs"]), entry_point=task.entry_point)
    return spec


def probe_arguments(literals: list[str]) -> list[list]:
    """Argument lists from Python literals (a tuple is the arguments, anything else one argument);
    a bad literal fails the task here, naming it, not inside every sandbox run."""
    arguments = []
    for literal in literals:
        try:
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError) as bad:
            raise ValueError(f"probe input {literal!r} is not a Python literal: {bad}") from None
        arguments.append(list(value) if isinstance(value, tuple) else [value])
    return arguments


def tests_of(task: Task, visible_only: bool = False) -> dict:
    """What the harness runs for `task`: its tests and their format. `visible_only`: only the
    tests of the examples shown in the prompt (metadata["visible_tests"]), an imperfect verifier
    whose false positives are programs that overfit the examples."""
    if visible_only:
        if not task.metadata.get("visible_tests"):
            raise ValueError(f"task {task.id!r} has no metadata['visible_tests']; the visible_tests verifier needs them")
        return {"format": "script", "tests": task.metadata["visible_tests"]}
    if not task.tests:
        raise ValueError(f"task {task.id!r} has no tests; the unit_tests verifier needs Task.tests")
    if task.metadata.get("test_format") != "humaneval":
        return {"format": "script", "tests": task.tests}
    if not task.entry_point:
        raise ValueError(f"task {task.id!r} uses test_format 'humaneval' but has no entry_point")
    return {"format": "humaneval", "tests": task.tests, "entry_point": task.entry_point, "prompt": task.prompt}


def harness_report(stdout: str) -> dict | None:
    """The harness's report: the last line of its stdout, if it is one (only the harness can
    write there; the tests' prints go to its stderr)."""
    lines = stdout.strip().splitlines()
    if not lines or not lines[-1].startswith(REPORT_PREFIX):
        return None
    try:
        report = ast.literal_eval(lines[-1][len(REPORT_PREFIX):])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return report if isinstance(report, dict) and report.get("ttc_harness") == 1 else None


def verdict_from(task: Task, candidate: Candidate, verifier: str, result: ExecutionResult,
                 probed: bool = False) -> Verdict:
    report = harness_report(result.stdout) if result.exit_code == 0 else None
    passed = bool(report and report.get("passed") is True and report.get("calls", 0) >= 1
                  and not (result.timed_out or result.oom or result.error))
    error = result.error or (report or {}).get("error")
    if report is None and not (error or result.timed_out or result.oom):
        error = f"the harness gave no report (exit code {result.exit_code}): {stderr_tail(result.stderr, 300)!r}"
    details = {
        "fingerprint": fingerprint(candidate, report) if probed else None,
        "exit_code": result.exit_code, "timed_out": result.timed_out or bool((report or {}).get("timed_out")),
        "oom": result.oom,
        "truncated": result.truncated, "tests_completed": passed, "calls": (report or {}).get("calls"),
        "failure": (report or {}).get("failure"), "stderr_tail": stderr_tail(result.stderr),
        "candidate_exit_code": result.peer_exit_code, "candidate_output_tail": stderr_tail(result.peer_output),
        "duration_s": result.duration_s,
    }
    return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=verifier,
                   passed=passed, score=float(passed), details=details, error=None if passed else error)


def fingerprint(candidate: Candidate, report: dict | None) -> str | None:
    """A hash of the candidate's outputs on the probe inputs; a candidate that could not be asked
    gets one of its own key, so failures never pool into a winning vote."""
    if report is None or report.get("probe_outputs") is None:
        return f"failed:{candidate.key}"
    try:
        outputs = wire.decode(bytes.fromhex(report["probe_outputs"]))
    except (ValueError, wire.NotPlainData):
        return f"failed:{candidate.key}"
    return hashlib.sha256(canonical(outputs).encode()).hexdigest()[:16]


def canonical(value) -> str:
    """repr with sets in a fixed order (a set's repr follows the hash seed of its process)."""
    if isinstance(value, (set, frozenset)):
        return f"{type(value).__name__}({sorted(canonical(v) for v in value)})"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}({[canonical(v) for v in value]})"
    if isinstance(value, dict):
        return f"dict({sorted((canonical(k), canonical(v)) for k, v in value.items())})"
    return repr(value)


class UnitTestVerifier:
    """The task's tests in an isolated harness; passes only on the harness's own report."""

    name = "unit_tests"

    def __init__(self, execute: Execute, timeout_s: float = 10.0, parallel: int = 4, visible_only: bool = False,
                 fingerprint: bool = False):
        """`fingerprint`: also run the candidate on the task's probe inputs in the same execution
        (details["fingerprint"]), for selectors that vote on behaviour."""
        self.execute, self.timeout_s, self.parallel = execute, timeout_s, parallel
        self.visible_only, self.fingerprint = visible_only, fingerprint
        if visible_only:
            self.name = "visible_tests"

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return judge_each_in_sandbox(task, candidates, self.name,
                                     lambda t: test_spec(t, self.visible_only, self.fingerprint),
                                     self._run_one, self.parallel)

    def _run_one(self, task: Task, spec: dict, candidate: Candidate) -> Verdict:
        harness_files = {**task.files, "ttc_harness.py": HARNESS_SOURCE, "ttc_wire.py": WIRE_SOURCE,
                         "harness_spec.bin": wire.encode({**spec, "timeout_s": float(self.timeout_s)})}
        peer = Peer(cmd=CANDIDATE_CMD, files={**task.files, "solution.py": candidate.content,
                                              "ttc_candidate.py": CANDIDATE_SOURCE, "ttc_wire.py": WIRE_SOURCE})
        result = execute_safely(self.execute, HARNESS_CMD, harness_files, self.timeout_s, peer=peer)
        return verdict_from(task, candidate, self.name, result, probed=bool(spec.get("probes")))
