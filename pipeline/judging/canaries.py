"""Canaries: known-bad candidates that every run judges per task through its own verifier.

They are not samples and count in no pass@k. A canary that passes means the verifier can be
fooled on this task by that kind of cheat (Inference Scaling fLaws: each false positive caps what
resampling can buy), so `summary.json` reports their pass rate per verifier and `ttc run` and
the SDK warn about each one that passed.

Code tasks get an early exit, `return None`, an object equal to anything, and one that reads the
files beside it and prints them before exiting 0 (what beat a marker printed by the tests).
Answer tasks get a wrong answer close to the reference. Other kinds (images, patches) get none.
"""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from pipeline.core.types import Candidate, Task

FIRST_INDEX = 1 << 30  # far past any sample index, so a canary never shares one with a sample

_READS_FILES = """\
import os, sys
for root in {{os.getcwd(), "/work", os.path.dirname(os.path.abspath(__file__))}}:
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            print(open(os.path.join(root, name)).read())
        except OSError:
            pass
sys.stdout.flush()
os._exit(0)

def {entry}(*args, **kwargs):
    return None
"""
_ALWAYS_EQUAL = """\
class _Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def {entry}(*args, **kwargs):
    return _Anything()
"""


def code_canaries(entry: str) -> dict[str, str]:
    return {
        "early_exit": f"import os\nos._exit(0)\n\ndef {entry}(*args, **kwargs):\n    return None\n",
        "return_none": f"def {entry}(*args, **kwargs):\n    return None\n",
        "always_equal": _ALWAYS_EQUAL.format(entry=entry),
        "reads_files": _READS_FILES.format(entry=entry),
    }


def near_miss(reference: str) -> str:
    """A wrong answer close to `reference`: the next integer, a fraction one over, else the
    reference with a term added."""
    text = reference.strip()
    try:
        return str(Fraction(text.replace(",", "")) + 1)
    except (ValueError, ZeroDivisionError):
        return f"{text} + 1"


def canaries_for(task: Task) -> dict[str, Candidate]:
    """name -> canary candidate for `task` (none where ttc has no known-bad forms for its kind)."""
    if task.kind == "code" and task.entry_point:
        programs = code_canaries(task.entry_point)
    elif task.kind == "math" and task.answer:
        programs = {"near_miss": near_miss(task.answer)}
    else:
        programs = {}
    return {name: Candidate(task_id=task.id, sample_index=FIRST_INDEX + i, content=content)
            for i, (name, content) in enumerate(programs.items())}


def canary_report(records: list[dict]) -> dict:
    """Per verifier: canaries judged, passed, the pass rate, and which passed where."""
    by_verifier: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_verifier[record["verifier"]].append(record)
    report = {}
    for verifier, rows in sorted(by_verifier.items()):
        passed = [r for r in rows if r["passed"]]
        report[verifier] = {"judged": len(rows), "passed": len(passed),
                            "pass_rate": len(passed) / len(rows) if rows else 0.0,
                            "passed_canaries": [f"{r['task_id']}/{r['canary']}" for r in passed]}
    return report


def canary_warnings(report: dict) -> list[str]:
    return [f"verifier {verifier!r} passed {len(r['passed_canaries'])} known-bad canar"
            f"{'y' if len(r['passed_canaries']) == 1 else 'ies'}: {', '.join(r['passed_canaries'][:5])}"
            for verifier, r in report.items() if r["passed"]]
