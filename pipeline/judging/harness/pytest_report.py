"""A pytest plugin for `repo_tests`: each test's outcome from pytest's own hooks, written as JSON
when the session finishes, to the file named by $TTC_PYTEST_REPORT (read and dropped from the
environment before any test module is imported).

The verdict reads this report, not pytest's terminal output: printed `PASSED ...` lines are no
outcome, a collection error is recorded as one, and a run that never reaches the end of the
session leaves no report at all. The code under test runs in this same process, so a program
written to defeat this very plugin could still forge the file; SECURITY.md says so.
"""
import json
import os

_PATH = os.environ.pop("TTC_PYTEST_REPORT", None)
_outcomes = {}
_collect_errors = []
_RANK = {"PASSED": 0, "SKIPPED": 1, "FAILED": 2, "ERROR": 3}


def _worse(nodeid, outcome):
    if _RANK[outcome] >= _RANK[_outcomes.get(nodeid, "PASSED")] or nodeid not in _outcomes:
        _outcomes[nodeid] = outcome


def pytest_collectreport(report):
    if report.failed:
        _collect_errors.append(report.nodeid or "<session>")


def pytest_runtest_logreport(report):
    if report.failed:
        _worse(report.nodeid, "FAILED" if report.when == "call" else "ERROR")
    elif report.skipped:
        _worse(report.nodeid, "SKIPPED")
    elif report.when == "call":
        _worse(report.nodeid, "PASSED")


def pytest_sessionfinish(session, exitstatus):
    if _PATH is None:
        return
    with open(_PATH, "w") as f:
        json.dump({"ttc_pytest_report": 1, "outcomes": _outcomes, "collect_errors": _collect_errors,
                   "exitstatus": int(exitstatus)}, f)
