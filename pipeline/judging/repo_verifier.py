"""`repo_tests`: judge a unified-diff candidate against a repository task's hidden tests.

In one sandbox execution: the buggy repository (Task.files) and the patch are written to the
workspace, `git apply --check` then `git apply` run from its root, every test file of the task
(the hidden ones from Task.tests and the visible ones from Task.files) is written back over
whatever the patch did to it, and `python3 -m pytest` runs the fail-to-pass and pass-to-pass
node ids with ttc's reporting plugin (harness/pytest_report.py), kept outside the repository.
Passed = the patch applies, nothing fails to collect, and the plugin's report, written when
pytest's session ends, lists every one of those ids as PASSED. pytest's printed output is
never read for outcomes: code under test can print `PASSED ...` and exit 0.
A patch that touches test configuration (conftest.py, pytest/tox/setup config, site hooks) is
rejected before it runs: it could change what the tests mean. An empty or malformed patch is a
failed verdict with a reason, never a verifier error.
"""
from __future__ import annotations

import json
import re
from typing import Any

from pipeline.core.types import Candidate, ExecutionResult, Task, Verdict
from pipeline.judging.harness import PYTEST_PLUGIN
from pipeline.judging.sandboxed import Execute, execute_safely, judge_each_in_sandbox, stderr_tail

STAGING = ".ttc_verify"  # workspace folder of the patch and the test files to restore
REJECTED = "TTC_PATCH_REJECTED"
CONFIG_NAMES = {"conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml",
                "sitecustomize.py", "usercustomize.py"}
PATCH_PATH = re.compile(r"^(?:diff --git a/(\S+) b/(\S+)|--- (?:a/)?(\S+)|\+\+\+ (?:b/)?(\S+))")
OUTPUT_TAIL = 4000
# $1.. are the pytest node ids; the script's own exit code 3 means the patch did not apply.
PLUGIN_DIR = "/tmp/ttc-pytest"  # outside the repository: a patch cannot edit the plugin
REPORT_MARKER = "TTC_PYTEST_REPORT_FOLLOWS"
SCRIPT = f"""
git apply --check {STAGING}/patch.diff > {STAGING}/apply.log 2>&1 || {{ echo {REJECTED}; cat {STAGING}/apply.log; exit 3; }}
git apply {STAGING}/patch.diff > {STAGING}/apply.log 2>&1 || {{ echo {REJECTED}; cat {STAGING}/apply.log; exit 3; }}
mkdir -p {PLUGIN_DIR} && mv {STAGING}/ttc_pytest_report.py {PLUGIN_DIR}/
cp -r {STAGING}/tests/. . && rm -rf {STAGING}
env TTC_PYTEST_REPORT={PLUGIN_DIR}/report.json PYTHONPATH="{PLUGIN_DIR}:${{TTC_SOURCE_ROOT:-.}}" \
    python3 -m pytest -q -p no:cacheprovider -p ttc_pytest_report -rpfE --tb=short -- "$@"
status=$?
echo; echo {REPORT_MARKER}; cat {PLUGIN_DIR}/report.json 2>/dev/null
exit $status
"""


def is_test_file(path: str) -> bool:
    """Test modules and the folders that hold them, by the usual pytest conventions."""
    parts = path.split("/")
    name = parts[-1]
    return (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or any(part in ("tests", "test", "testing") for part in parts[:-1]))


def hidden_tests(task: Task) -> dict[str, Any]:
    """The verifier-only part of a repository task: files, fail_to_pass, pass_to_pass."""
    if not task.tests:
        raise ValueError(f"task {task.id!r} has no tests; the repo_tests verifier needs Task.tests")
    spec = json.loads(task.tests)
    missing = {"files", "fail_to_pass", "pass_to_pass"} - set(spec)
    if missing:
        raise ValueError(f"task {task.id!r}: Task.tests lacks {sorted(missing)}")
    return spec


def patch_paths(patch: str) -> set[str]:
    paths = set()
    for line in patch.splitlines():
        match = PATCH_PATH.match(line)
        if match:
            paths.update(p for p in match.groups() if p and p != "/dev/null")
    return paths


def malformed_reason(patch: str) -> str | None:
    """Why `patch` is not worth running, or None. `git apply` has the last word."""
    if not patch.strip():
        return "empty patch"
    if "@@" not in patch or not re.search(r"^--- ", patch, re.M) or not re.search(r"^\+\+\+ ", patch, re.M):
        return "malformed patch: not a unified diff (needs ---/+++ headers and @@ hunks)"
    if any(p.split("/")[0] == STAGING for p in patch_paths(patch)):
        return f"patch edits the verifier's staging folder {STAGING}/"
    touched = sorted(p for p in patch_paths(patch) if p.split("/")[-1] in CONFIG_NAMES)
    if touched:
        return f"patch edits test configuration: {', '.join(touched)}"
    return None


def parse_pytest_report(stdout: str) -> dict[str, str]:
    """node id -> PASSED/FAILED/ERROR from pytest's `-rpfE` short summary."""
    outcomes = {}
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR") and rest:
            outcomes[rest.split(" - ", 1)[0].strip()] = word
    return outcomes


class RepoTestsVerifier:
    """Applies a unified-diff candidate to a repository task and runs its hidden tests."""

    name = "repo_tests"

    def __init__(self, execute: Execute, timeout_s: float = 120.0, parallel: int = 4):
        self.execute, self.timeout_s, self.parallel = execute, timeout_s, parallel

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return judge_each_in_sandbox(task, candidates, self.name, hidden_tests, self._run_one, self.parallel)

    def _run_one(self, task: Task, spec: dict, candidate: Candidate) -> Verdict:
        reason = malformed_reason(candidate.content)
        if reason:
            return self._verdict(task, candidate, False, {"reason": reason, "applied": False})
        result = execute_safely(self.execute, self.command(task, spec), self.workspace(task, spec, candidate),
                                self.timeout_s)
        return self._verdict(task, candidate, *judge(result, spec), error=result.error)

    def command(self, task: Task, spec: dict) -> list[str]:
        root = task.metadata.get("source_root") or "."
        ids = [*spec["fail_to_pass"], *spec["pass_to_pass"]]
        return ["env", f"TTC_SOURCE_ROOT={root}", "sh", "-c", SCRIPT, "repo_tests", *ids]

    def workspace(self, task: Task, spec: dict, candidate: Candidate) -> dict[str, str]:
        patch = candidate.content if candidate.content.endswith("\n") else candidate.content + "\n"
        restore = {path: text for path, text in task.files.items() if is_test_file(path)}
        restore.update(spec["files"])
        return {**task.files, f"{STAGING}/patch.diff": patch, f"{STAGING}/ttc_pytest_report.py": PYTEST_PLUGIN,
                **{f"{STAGING}/tests/{path}": text for path, text in restore.items()}}

    def _verdict(self, task, candidate, passed: bool, details: dict, error: str | None = None) -> Verdict:
        return Verdict(task_id=task.id, candidate_key=candidate.key, verifier=self.name, passed=passed,
                       score=float(passed), details=details, error=error)


def judge(result: ExecutionResult, spec: dict) -> tuple[bool, dict]:
    """(passed, details) of one sandbox execution of the verify script."""
    if REJECTED in result.stdout and result.exit_code == 3:
        log = result.stdout.split(REJECTED, 1)[1].strip()
        return False, {"reason": f"patch does not apply: {log[-800:]}", "applied": False}
    report = plugin_report(result.stdout)
    outcomes = report["outcomes"] if report else {}
    listed = [*spec["fail_to_pass"], *spec["pass_to_pass"]]
    failed = [test for test in listed if outcomes.get(test) != "PASSED"]
    collect_errors = report["collect_errors"] if report else []
    passed = bool(report) and result.ok and not failed and not collect_errors and report["exitstatus"] == 0
    details = {"applied": True, "exit_code": result.exit_code, "timed_out": result.timed_out,
               "failed_tests": failed, "collect_errors": collect_errors, "report": report is not None,
               "fail_to_pass_passed": sum(outcomes.get(t) == "PASSED" for t in spec["fail_to_pass"]),
               "pass_to_pass_passed": sum(outcomes.get(t) == "PASSED" for t in spec["pass_to_pass"]),
               "output_tail": result.stdout[-OUTPUT_TAIL:], "stderr_tail": stderr_tail(result.stderr)}
    if not passed:
        details["reason"] = failure_reason(result, report, failed, listed, collect_errors)
    return passed, details


def plugin_report(stdout: str) -> dict | None:
    """The plugin's report, printed after the last marker once pytest has exited."""
    if REPORT_MARKER not in stdout:
        return None
    try:
        report = json.loads(stdout.rsplit(REPORT_MARKER, 1)[1].strip() or "null")
    except ValueError:
        return None
    keys = {"ttc_pytest_report", "outcomes", "collect_errors", "exitstatus"}
    if not isinstance(report, dict) or set(report) != keys or not isinstance(report["outcomes"], dict):
        return None
    return report


def failure_reason(result: ExecutionResult, report: dict | None, failed: list, listed: list,
                   collect_errors: list) -> str:
    if result.timed_out:
        return "timed out"
    if report is None:
        return "pytest's session did not finish (no report): the run exited or crashed early"
    if collect_errors:
        return f"collection failed: {', '.join(collect_errors[:5])}"
    return f"{len(failed)} of {len(listed)} tests did not pass"
