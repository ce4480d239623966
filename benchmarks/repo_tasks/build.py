"""Build repository-task instances: inject a bug, keep it if the project's own tests catch it.

    python -m benchmarks.repo_tasks.build [--seed 0] [--per-project 8] [--projects toolz ...]

For each project (benchmarks/repo_tasks/projects.py) its test suite runs in the sandbox on the
original source (the baseline). Then single-location mutations of its non-test modules
(agents/codemonkeys/mutations.py), in a seeded order that alternates bug kinds and modules, are tried one by one:
a mutation is kept when 1..MAX_FAIL_TO_PASS baseline-passing tests fail on it, nothing breaks
at import/collection, and the gold patch (buggy -> original), applied by the repo_tests verifier
with `git apply` in the sandbox, makes every listed test pass again. Each kept mutation becomes an
instance: a Task (contract: /tmp/repo_task_format.md, summarised in the README) and its gold
patch, appended to a JSONL cache (~/.cache/ttc/repo_tasks/instances.jsonl for seed 0).
Prints one JSON line per project. Same seed, same instances (the suites are deterministic).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agents.codemonkeys.mutations import KINDS, Mutation, apply_mutation, mutations
from benchmarks.repo_tasks.projects import PROJECTS, RepoProject, read_repo, source_modules
from pipeline.judging.repo_verifier import RepoTestsVerifier, is_test_file, parse_pytest_report
from pipeline.core.types import Candidate, Limits, Task

PER_PROJECT = 8
MAX_ATTEMPTS = 60  # mutations tried per project at most
MAX_FAIL_TO_PASS = 10  # more failing tests than this: a crash, not a bug worth an issue
MAX_PASS_TO_PASS = 30
MIN_LINES_APART = 20  # between two kept bugs of one module
SKIPPED_MODULES = ("_version.py", "version.py")  # nothing a test checks
BUILD_LIMITS = Limits(timeout_s=300, memory_mb=1024, tmpfs_mb=64, pids=256)
ISSUE_LINES, ISSUE_LINE_CHARS = 40, 300


def cache_path(seed: int = 0) -> Path:
    root = Path(os.environ.get("TTC_REPO_TASKS_DIR", Path.home() / ".cache" / "ttc" / "repo_tasks"))
    return root / ("instances.jsonl" if seed == 0 else f"instances-seed{seed}.jsonl")


# ---------------------------------------------------------------- running a suite
def pytest_command(p: RepoProject, ids: list[str] = (), tb: str = "no") -> list[str]:
    return ["env", f"PYTHONPATH={p.source_root or '.'}", "python3", "-m", "pytest", "-q", "-p",
            "no:cacheprovider", "-rpfE", f"--tb={tb}", "--", *ids]


def run_suite(execute, p: RepoProject, files: dict[str, str], timeout_s: float, ids: list[str] = (),
              tb: str = "no"):
    """(outcomes by node id, ExecutionResult)."""
    result = execute(pytest_command(p, list(ids), tb), files, timeout_s=timeout_s)
    return parse_pytest_report(result.stdout), result


def collection_broke(outcomes: dict[str, str]) -> bool:
    """An ERROR on a whole module (no `::`) means it did not even import."""
    return any(status == "ERROR" and "::" not in test for test, status in outcomes.items())


# ---------------------------------------------------------------- choosing mutations
def candidate_mutations(files: dict[str, str], rng: random.Random) -> list[tuple[str, Mutation]]:
    """Every mutation of every source module, shuffled, then interleaved by kind so that each
    kind is tried about equally often (wrong_variable sites would dominate otherwise)."""
    by_kind: dict[str, list[tuple[str, Mutation]]] = defaultdict(list)
    for path in source_modules(files):
        if not path.endswith(SKIPPED_MODULES):
            for m in mutations(files[path]):
                by_kind[m.kind].append((path, m))
    queues = [by_kind[k] for k in KINDS if by_kind[k]]
    for queue in queues:
        rng.shuffle(queue)
    order = []
    for i in range(max(map(len, queues), default=0)):
        order += [queue[i] for queue in queues if i < len(queue)]
    return order


# ---------------------------------------------------------------- one instance
def gold_patch(path: str, buggy: str, original: str) -> str:
    """Unified diff buggy -> original with git's a/ b/ prefixes."""
    lines = [f"diff --git a/{path} b/{path}\n"]
    for line in difflib.unified_diff(buggy.splitlines(True), original.splitlines(True), f"a/{path}", f"b/{path}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def failure_excerpt(output: str, test_id: str) -> list[str]:
    """The `--tb=short` section of one failing test, keeping test-file frames and `E` lines only
    (library frames would point at the bug)."""
    name = test_id.split("::", 1)[1].replace("::", ".")
    output = re.split(r"^=+ short test summary info =+$", output, flags=re.M)[0]
    parts = re.split(r"^_{3,} (.+?) _{3,}$", output, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2]))
    body = sections.get(name) or next(iter(sections.values()), "")
    kept, keep_frame = [], True
    for line in body.splitlines():
        frame = re.match(r"^(\S+?\.py):\d+: in ", line)
        if frame:
            keep_frame = is_test_file(frame.group(1))
        if line.startswith("E ") or (keep_frame and line.strip() and not line.startswith("=")):
            kept.append(re.sub(r"\b0x[0-9a-f]{6,}\b", "0x...", line)[:ISSUE_LINE_CHARS])  # ids vary by run
    return kept[:ISSUE_LINES]


def issue_text(p: RepoProject, fail_to_pass: list[str], output: str) -> str:
    first = fail_to_pass[0]
    excerpt = failure_excerpt(output, first) or ["(the test fails; no assertion output)"]
    lines = [f"{p.name} {p.sdist.version}: `{first.split('::')[-1]}` fails", "",
             f"Running the project's test `{first}` gives:", "", "```", *excerpt, "```", ""]
    others = fail_to_pass[1:]
    if others:
        shown = ", ".join(f"`{t}`" for t in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        lines += [f"These fail too: {shown}{more}.", ""]
    lines.append("The tests state the intended behaviour; the library currently returns or raises "
                 "something else, as shown above. Please fix the library (not the tests).")
    return "\n".join(lines)


def make_instance(execute, p: RepoProject, files, baseline, path: str, m: Mutation, suite_s: float,
                  rng: random.Random) -> dict | None:
    """The instance of one mutation, or None. A mutant whose suite runs much slower than the
    original's is dropped (far from the timeout, so that the choice does not depend on load)."""
    timeout_s = 10 * suite_s + 30
    buggy_files = {**files, path: apply_mutation(files[path], m)}
    outcomes, result = run_suite(execute, p, buggy_files, timeout_s)
    if result.error or result.timed_out or collection_broke(outcomes) or result.duration_s > 3 * suite_s + 5:
        return None
    fail_to_pass = sorted(t for t, s in baseline.items() if s == "PASSED" and outcomes.get(t) != "PASSED")
    if not 1 <= len(fail_to_pass) <= MAX_FAIL_TO_PASS:
        return None
    hidden = sorted({t.split("::")[0] for t in fail_to_pass})
    pass_to_pass = sorted(t for t, s in outcomes.items() if s == "PASSED" and baseline.get(t) == "PASSED"
                          and t.split("::")[0] in hidden)
    pass_to_pass = sorted(rng.sample(pass_to_pass, min(MAX_PASS_TO_PASS, len(pass_to_pass))))
    rerun, report = run_suite(execute, p, buggy_files, timeout_s, fail_to_pass, tb="short")
    if any(rerun.get(t) == "PASSED" for t in fail_to_pass):  # flaky: passes when run alone
        return None
    task = Task(id=f"{p.name}-0", kind="repo", prompt=issue_text(p, fail_to_pass, report.stdout),
                files={k: v for k, v in buggy_files.items() if k not in hidden},
                tests=json.dumps({"files": {k: buggy_files[k] for k in hidden},
                                  "fail_to_pass": fail_to_pass, "pass_to_pass": pass_to_pass}),
                metadata={"project": p.name, "version": p.sdist.version, "split": p.split,
                          "source_root": p.source_root, "bug_kind": m.kind})
    return {"task": task, "gold_patch": gold_patch(path, buggy_files[path], files[path]),
            "module": path, "line": m.line}


def gold_passes(verifier: RepoTestsVerifier, instance: dict) -> bool:
    task = instance["task"]
    verdict = verifier.verify(task, [Candidate(task_id=task.id, sample_index=0, content=instance["gold_patch"])])[0]
    return verdict.accepted


# ---------------------------------------------------------------- a project, all projects
def build_project(execute, p: RepoProject, seed: int, per_project: int = PER_PROJECT) -> tuple[list[dict], dict]:
    started = time.monotonic()
    files = read_repo(p)
    baseline, result = run_suite(execute, p, files, BUILD_LIMITS.timeout_s)
    if not result.ok:
        raise RuntimeError(f"{p.name}: the original test suite fails in the sandbox: {result.stdout[-1500:]}")
    suite_s = result.duration_s
    rng = random.Random(f"{seed}:{p.name}")
    verifier = RepoTestsVerifier(execute, timeout_s=max(60.0, 4 * suite_s), parallel=1)
    kept, attempts = [], 0
    for path, m in candidate_mutations(files, rng)[:MAX_ATTEMPTS]:
        if len(kept) >= per_project:
            break
        if any(path == k["module"] and abs(m.line - k["line"]) < MIN_LINES_APART for k in kept):
            continue  # one bug per site: a second nearby would be nearly the same task
        attempts += 1
        tried = time.monotonic()
        instance = make_instance(execute, p, files, baseline, path, m, suite_s, rng)
        if instance and gold_passes(verifier, instance):
            instance["task"] = instance["task"].model_copy(update={"id": f"{p.name}-{len(kept)}"})
            kept.append(instance)
        print(f"  {p.name} {path}:{m.line} {m.kind} kept={bool(instance)} {time.monotonic() - tried:.1f}s",
              file=sys.stderr, flush=True)
    stats = {"project": p.name, "version": p.sdist.version, "split": p.split, "instances": len(kept),
             "attempts": attempts, "tests": len(baseline), "suite_s": round(suite_s, 2),
             "build_s": round(time.monotonic() - started, 1),
             "kinds": dict(sorted(_count(i["task"].metadata["bug_kind"] for i in kept).items()))}
    return kept, stats


def _count(items) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def to_record(instance: dict) -> dict:
    return {**instance, "task": instance["task"].model_dump(mode="json")}


def build(seed: int = 0, projects=PROJECTS, per_project: int = PER_PROJECT, pool_size: int = 2,
          out: Path | None = None) -> list[dict]:
    """Build every project's instances and write them (atomically) to the cache; returns records."""
    from sandbox import SandboxPool

    def one(p: RepoProject) -> list[dict]:
        kept, stats = build_project(pool.run, p, seed, per_project)
        print(json.dumps(stats), flush=True)
        return [to_record(i) for i in kept]

    with SandboxPool(size=pool_size, limits=BUILD_LIMITS) as pool, ThreadPoolExecutor(pool_size) as threads:
        records = [r for kept in threads.map(one, projects) for r in kept]  # projects in order
    out = out or cache_path(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(out)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-project", type=int, default=PER_PROJECT)
    parser.add_argument("--projects", nargs="*", help="only these (default: all)")
    parser.add_argument("--out", type=Path, help="JSONL to write (default: the cache for --seed)")
    args = parser.parse_args(argv)
    chosen = [p for p in PROJECTS if not args.projects or p.name in args.projects]
    started = time.monotonic()
    records = build(args.seed, chosen, args.per_project, out=args.out)
    print(json.dumps({"instances": len(records), "build_s": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
