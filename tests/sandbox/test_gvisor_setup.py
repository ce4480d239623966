"""Set-up of `sandbox.runtime: gvisor`: `ttc doctor` says whether gVisor works, and a run asking
for it where it cannot work is refused before Ray starts, in one line naming the fix."""
from __future__ import annotations

import pytest

from tests.interfaces.test_doctor import run_doctor
from tests.interfaces.test_preflight import assert_refused, ttc_run

pytestmark = pytest.mark.docker
NO_RUNSC = {"TTC_RUNSC": "/nonexistent/runsc"}


def doctor_rows(env=None) -> dict[str, str]:
    out = run_doctor(env)
    return {line.split("|")[0].strip(): line for line in out.stdout.splitlines()}


def test_doctor_reports_a_working_gvisor_with_its_kernel(gvisor):
    row = doctor_rows()["gvisor (runsc)"]
    assert "| ok" in row and "sandbox kernel" in row, row


def test_doctor_explains_a_gvisor_that_cannot_run(sandbox_image):
    row = doctor_rows(NO_RUNSC)["gvisor (runsc)"]
    assert "| warn" in row and "apt-get install -y runsc" in row, row


def test_a_run_asking_for_gvisor_where_it_cannot_run_is_refused(sandbox_image, tmp_path):
    done, seconds = ttc_run(tmp_path, "sandbox.runtime=gvisor", env=NO_RUNSC)
    assert_refused(done, seconds, tmp_path, "sandbox.runtime is gvisor", "/nonexistent/runsc", "apt-get install -y runsc")
