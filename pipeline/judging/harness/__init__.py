"""The programs of the isolated unit-test harness, shipped into the sandbox as files.

`harness_main.py` runs the tests as the sandbox uid; `candidate_main.py` imports the candidate
as the peer uid; `wire.py` is the plain-data codec both use (and the host's tests import).
`pytest_report.py` is repo_tests' pytest plugin.
"""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent
WIRE_SOURCE = (_HERE / "wire.py").read_text()
HARNESS_SOURCE = (_HERE / "harness_main.py").read_text()
CANDIDATE_SOURCE = (_HERE / "candidate_main.py").read_text()
PYTEST_PLUGIN = (_HERE / "pytest_report.py").read_text()  # repo_tests' outcome report
