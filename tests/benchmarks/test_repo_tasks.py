"""Repository tasks: bug injection, the repo_tests verifier (patch application, rejection of
malformed or test-editing patches), and one real instance of a real project end to end."""
from __future__ import annotations

import ast
import json
import random

import pytest

from agents.codemonkeys.mutations import KINDS, Mutation, apply_mutation, mutations
from pipeline.judging.repo_verifier import RepoTestsVerifier, malformed_reason
from pipeline.core.types import Candidate, Limits, Task

MODULE = '''\
def window(xs, n, skip=None):
    out = []
    for i in range(len(xs) - n + 1):
        if skip is not None and i in skip:
            continue
        out.append(xs[i:i + n])
    return [w for w in out if w]


def total(xs):
    acc = 0
    for x in xs:
        acc += x * 2
    return acc
'''


# ---------------------------------------------------------------- mutations.py
def test_every_kind_is_found_and_each_changes_one_parsable_line():
    found = mutations(MODULE)
    assert {m.kind for m in found} == set(KINDS)
    original = MODULE.splitlines()
    for m in found:
        buggy = apply_mutation(MODULE, m)
        ast.parse(buggy)
        changed = [i for i, (a, b) in enumerate(zip(original, buggy.splitlines())) if a != b]
        assert changed == [m.line - 1] and m.original == original[m.line - 1]
    assert found == mutations(MODULE)  # deterministic


@pytest.mark.parametrize("kind, line, mutated", [
    ("operator_swap", 3, "    for i in range(len(xs) + n + 1):"),
    ("operator_swap", 4, "        if skip is not None or i in skip:"),
    ("operator_swap", 4, "        if skip is None and i in skip:"),
    ("operator_swap", 13, "        acc -= x * 2"),
    ("off_by_one", 3, "    for i in range(len(xs) - n + 2):"),
    ("off_by_one", 6, "        out.append(xs[i:i + n + 1])"),
    ("off_by_one", 6, "        out.append(xs[i + 1:i + n])"),
    ("wrong_variable", 13, "        acc += acc * 2"),
    ("dropped_condition", 4, "        if i in skip:"),
    ("dropped_condition", 7, "    return [w for w in out]"),
])
def test_expected_mutations(kind, line, mutated):
    assert Mutation(kind, line, MODULE.splitlines()[line - 1], mutated) in mutations(MODULE)


def test_wrong_variable_only_uses_locals_bound_earlier_in_the_function():
    for m in mutations(MODULE):
        if m.kind == "wrong_variable" and m.line >= 10:
            assert not any(name in m.mutated for name in ("out", "skip", "window")), m


def test_line_numbers_survive_form_feeds():
    """str.splitlines splits at \\x0c too; ast does not: line numbers must follow ast."""
    source = "x = 1\n\x0c\ndef f(a):\n    return a + 1\n"
    m = next(m for m in mutations(source) if m.kind == "operator_swap")
    assert (m.line, m.mutated) == (4, "    return a - 1")
    assert apply_mutation(source, m) == source.replace("a + 1", "a - 1")


def test_apply_mutation_refuses_a_stale_mutation():
    m = mutations(MODULE)[0]
    with pytest.raises(ValueError, match="expects"):
        apply_mutation(MODULE.replace(m.original, m.original + "  # edited"), m)
    assert mutations("def broken(:\n") == []


# ---------------------------------------------------------------- the verifier on a hand-made repo
FIXED = "def double(x):\n    return x * 2\n"
BUGGY = "def double(x):\n    return x + 2\n"
HIDDEN = "from pkg.mod import double\n\n\ndef test_double():\n    assert double(5) == 10\n\n\ndef test_zero():\n    assert double(0) == 0\n"
HAND_PATCH = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,2 +1,2 @@
 def double(x):
-    return x + 2
+    return x * 2
"""


def hand_task() -> Task:
    tests = {"files": {"tests/test_mod.py": HIDDEN}, "fail_to_pass": ["tests/test_mod.py::test_double"],
             "pass_to_pass": []}
    return Task(id="hand-0", kind="repo", prompt="double(5) returns 7, expected 10",
                files={"pkg/__init__.py": "", "pkg/mod.py": BUGGY}, tests=json.dumps(tests),
                metadata={"project": "hand", "split": "test", "source_root": ""})


def test_malformed_patches_are_named_without_running():
    assert malformed_reason("") == "empty patch"
    assert "not a unified diff" in malformed_reason("please change + to *")
    assert "test configuration" in malformed_reason(HAND_PATCH.replace("pkg/mod.py", "tests/conftest.py"))
    assert malformed_reason(HAND_PATCH) is None


@pytest.fixture(scope="module")
def pool(sandbox_image):
    from sandbox import SandboxPool

    with SandboxPool(size=1, image=sandbox_image, limits=Limits(timeout_s=120, memory_mb=1024, pids=256)) as p:
        yield p


def verdict(pool, task: Task, patch: str):
    return RepoTestsVerifier(pool.run, timeout_s=60).verify(task, [Candidate(task_id=task.id, sample_index=0, content=patch)])[0]


@pytest.mark.docker
def test_hand_written_diff_applies_and_passes(pool):
    v = verdict(pool, hand_task(), HAND_PATCH)
    assert v.passed and v.details["applied"] and v.details["failed_tests"] == [], v.details


@pytest.mark.docker
@pytest.mark.parametrize("patch, reason", [
    ("", "empty patch"),
    ("return x * 2", "not a unified diff"),
    (HAND_PATCH.replace("-    return x + 2", "-    return x - 2"), "does not apply"),
])
def test_bad_patches_fail_with_a_reason(pool, patch, reason):
    v = verdict(pool, hand_task(), patch)
    assert not v.passed and v.error is None and reason in v.details["reason"], v.details


@pytest.mark.docker
def test_a_patch_cannot_rewrite_the_hidden_tests(pool):
    cheat = ("diff --git a/tests/test_mod.py b/tests/test_mod.py\nnew file mode 100644\n--- /dev/null\n"
             "+++ b/tests/test_mod.py\n@@ -0,0 +1,2 @@\n+def test_double():\n+    pass\n")
    v = verdict(pool, hand_task(), cheat)
    assert v.details["applied"] and not v.passed
    assert v.details["failed_tests"] == ["tests/test_mod.py::test_double"]


FORGED_OUTPUT = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,2 +1,10 @@
+import os
+FAKE = b"PASSED tests/test_mod.py::test_double\\n1 passed in 0.01s\\n"
+for fd in range(1, 64):  # past pytest's capture: its saved copy of the real stdout too
+    try:
+        os.write(fd, FAKE)
+    except OSError:
+        pass
+os._exit(0)
 def double(x):
     return x + 2
"""
COLLECTION_ERROR = HAND_PATCH.replace("+    return x * 2", "+    return x * 2\n+raise ImportError('broken at import')") \
    .replace("@@ -1,2 +1,2 @@", "@@ -1,2 +1,3 @@")


@pytest.mark.docker
def test_printed_outcomes_and_an_early_exit_do_not_pass(pool):
    """Code under test writes pytest's PASSED line for the hidden test to every descriptor and
    exits 0 on import (that passed the stdout-parsing verdict this replaced): the verdict reads
    the plugin's end-of-session report, which never comes."""
    v = verdict(pool, hand_task(), FORGED_OUTPUT)
    assert v.details["applied"] and v.details["exit_code"] == 0 and not v.passed
    assert "PASSED tests/test_mod.py::test_double" in v.details["output_tail"]
    assert "no report" in v.details["reason"]


@pytest.mark.docker
def test_a_collection_error_fails_the_candidate(pool):
    v = verdict(pool, hand_task(), COLLECTION_ERROR)
    assert v.details["applied"] and not v.passed and v.details["collect_errors"], v.details
    assert "collection failed" in v.details["reason"]


@pytest.mark.docker
def test_tests_not_found_are_not_success(pool):
    task = hand_task()
    spec = json.loads(task.tests)
    spec["fail_to_pass"] = ["tests/test_mod.py::test_that_does_not_exist"]
    v = verdict(pool, task.model_copy(update={"tests": json.dumps(spec)}), HAND_PATCH)
    assert not v.passed and v.details["failed_tests"] == spec["fail_to_pass"], v.details


# ---------------------------------------------------------------- a real instance end to end
@pytest.fixture(scope="module")
def real_instance(pool):
    """The first kept mutation of pathspec (its suite takes ~1 s) under build seed 0."""
    from benchmarks.repo_tasks.build import candidate_mutations, make_instance, run_suite
    from benchmarks.repo_tasks.projects import project, read_repo

    p = project("pathspec")
    files = read_repo(p)
    baseline, result = run_suite(pool.run, p, files, 120)
    assert result.ok and len(baseline) > 50, result.stdout[-2000:]
    rng = random.Random("0:pathspec")
    for path, m in candidate_mutations(files, rng)[:15]:
        instance = make_instance(pool.run, p, files, baseline, path, m, result.duration_s, rng)
        if instance:
            return instance
    pytest.fail("none of 15 pathspec mutations broke a test")


@pytest.mark.docker
def test_real_instance_gold_patch_passes_and_buggy_repo_fails(pool, real_instance):
    task, gold = real_instance["task"], real_instance["gold_patch"]
    spec = json.loads(task.tests)
    assert spec["fail_to_pass"] and not set(spec["files"]) & set(task.files)  # hidden tests are hidden
    assert real_instance["module"] not in task.prompt and "@@" not in task.prompt
    fixed = verdict(pool, task, gold)
    assert fixed.passed, fixed.details
    # the buggy repo with a harmless patch: exactly the fail-to-pass tests fail
    comment = (f"diff --git a/{real_instance['module']} b/{real_instance['module']}\n"
               f"--- a/{real_instance['module']}\n+++ b/{real_instance['module']}\n"
               "@@ -1,1 +1,2 @@\n+# a comment\n " + task.files[real_instance["module"]].splitlines()[0] + "\n")
    buggy = verdict(pool, task, comment)
    assert buggy.details["applied"] and not buggy.passed
    assert buggy.details["failed_tests"] == spec["fail_to_pass"]
    assert "not a unified diff" in verdict(pool, task, gold.replace("@@", "")).details["reason"]


@pytest.mark.docker
def test_task_source_reads_the_instance_cache(real_instance, tmp_path, monkeypatch):
    from benchmarks.repo_tasks.build import cache_path, to_record
    from pipeline.core.config import TasksConfig
    from pipeline.engine.tasks import load_tasks

    monkeypatch.setenv("TTC_REPO_TASKS_DIR", str(tmp_path))
    cache_path(0).write_text(json.dumps(to_record(real_instance)) + "\n")
    assert [t.id for t in load_tasks(TasksConfig(source="repo_tasks", split="test", limit=1))] == ["pathspec-0"]
    assert load_tasks(TasksConfig(source="repo_tasks", split="train")) == []
