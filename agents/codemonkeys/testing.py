"""The testing trajectory: the model writes a reproduction test for the issue; it is run in the
sandbox on the buggy repository and kept only if it fails there (it reproduces the issue).

Also the sandbox helpers the editing and selection steps share: run pytest on a repository
(optionally patched) and read which test files passed.
"""
from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass, field

from agents.base import parse_python
from agents.codemonkeys.context import rank_files
from agents.codemonkeys.prompts import test_prompt
from pipeline.judging.repo_verifier import is_test_file, parse_pytest_report
from pipeline.core.types import SamplingParams, Task

TEST_TIMEOUT_S = 60.0


@dataclass
class TestRun:
    exit_code: int | None
    output: str
    file_passed: dict[str, bool] = field(default_factory=dict)  # test file -> every test in it passed
    error: str | None = None


def pytest_command(source_root: str, test_paths: list[str]) -> str:
    """pytest on `test_paths` with the package importable; the project's addopts are dropped
    (they may name plugins the sandbox does not have)."""
    root = source_root.strip("/") or "."
    paths = " ".join(shlex.quote(p) for p in test_paths)
    return f"PYTHONPATH={shlex.quote(root)} python3 -m pytest -q -rA -p no:cacheprovider -o addopts='' {paths}"


def run_tests(execute, files: dict[str, str], source_root: str, tests: dict[str, str],
              timeout_s: float = TEST_TIMEOUT_S) -> TestRun:
    """Run the test files `tests` (path -> text) against `files` in one sandbox execution."""
    result = execute(pytest_command(source_root, sorted(tests)), {**files, **tests}, timeout_s)
    output = (result.stdout + result.stderr)[-20_000:]
    if result.error or result.timed_out:
        return TestRun(result.exit_code, output, {p: False for p in tests},
                       error=result.error or f"timed out after {timeout_s:.0f}s")
    return TestRun(result.exit_code, output, per_file_outcome(output, list(tests)))


def per_file_outcome(output: str, test_paths: list[str]) -> dict[str, bool]:
    """A test file passed when pytest reported at least one PASSED and no FAILED/ERROR in it."""
    seen: dict[str, set[str]] = {p: set() for p in test_paths}
    for node, outcome in parse_pytest_report(output).items():
        path = node.split("::", 1)[0]
        if path in seen:
            seen[path].add(outcome)
    return {p: "PASSED" in found and not found & {"FAILED", "ERROR"} for p, found in seen.items()}


def clean_test(text: str) -> str | None:
    """The model's test file cut at the next section; None if it does not parse or has no test."""
    code = text.split("\n### ", 1)[0].split("```", 1)[0]
    try:
        tree = parse_python(code)
    except SyntaxError:
        return None
    has_test = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
                   for n in ast.walk(tree))
    return code if has_test else None


def module_names(task: Task, limit: int = 6) -> list[str]:
    """Importable module names of the files most related to the issue (shown to the test writer)."""
    root = task.metadata.get("source_root", "").strip("/")
    names = []
    for path, _ in rank_files(task.prompt, task.files)[:limit]:
        rel = path[len(root) + 1:] if root and path.startswith(root + "/") else path
        names.append(rel[:-3].replace("/", ".").removesuffix(".__init__"))
    return names


def testing_trajectory(task: Task, generate, params: SamplingParams, execute, attempts: int,
                       seed: int, steps: list[dict], prompt_chars: int = 10_000) -> dict[str, str]:
    """Reproduction tests (file name -> text) that fail on the buggy repository; each attempt
    is logged in `steps`."""
    prompt = test_prompt(task.prompt, module_names(task), prompt_chars)
    kept: dict[str, str] = {}
    source_root = task.metadata.get("source_root", "")
    for attempt in range(attempts):
        one = params.model_copy(update={"n": 1, "seed": seed + attempt, "stop": ["\n### "]})
        completion = generate([prompt], one)[0][0]
        code = clean_test(completion.text)
        step = {"kind": "test", "attempt": attempt, "text": completion.text[:2000],
                "tokens": completion.completion_tokens}
        if code is None or code in kept.values():
            reason = "not a parsable pytest file with a test function" if code is None else "a duplicate"
            steps.append(step | {"kept": False, "reason": reason})
            continue
        name = f"test_repro_{seed % 100_000}_{attempt}.py"
        run = run_tests(execute, task.files, source_root, {name: code})
        reproduces = run.error is None and run.exit_code == 1 and not run.file_passed[name] and "FAILED" in run.output
        if reproduces:
            kept[name] = code
        steps.append(step | {"kept": reproduces, "exit_code": run.exit_code, "output": run.output[-1500:],
                             "reason": "fails on the buggy repository" if reproduces else "does not fail as a test"})
    return kept


def regression_suite(task: Task, execute, steps: list[dict]) -> dict[str, str]:
    """The repository's visible test files that pass on the buggy repository: a patch that makes
    one of them fail broke something (the selection vote's regression filter)."""
    visible = {p: t for p, t in task.files.items() if p.endswith(".py") and p.rsplit("/", 1)[-1].startswith("test")
               and is_test_file(p)}
    if not visible:
        return {}
    run = run_tests(execute, task.files, task.metadata.get("source_root", ""), visible)
    kept = {p: visible[p] for p, ok in run.file_passed.items() if ok}
    steps.append({"kind": "regression", "files": len(visible), "passing": len(kept), "exit_code": run.exit_code})
    return kept
