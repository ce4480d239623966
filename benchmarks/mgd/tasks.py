"""Completion tasks for monitor-guided decoding from held-out real repositories.

A task is the prefix of one of a HELD_OUT project's files (models/code_corpus.py) up to a
dereference `obj.` whose member is defined in that repository (a def, a class or an assigned
name or attribute somewhere in its files); the expected answer is that member's name. The
prompt is the prefix's tail that fits the model's context; the monitor sees the whole prefix.
"""
from __future__ import annotations

import ast
import random
from pathlib import Path

from pipeline.core.types import Task

TEST_PARTS = {"test", "tests", "testing"}


def defined_names(trees: list[ast.AST]) -> set[str]:
    """Names a repository defines: functions, classes, assigned names and assigned attributes."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {name for name in names if not (name.startswith("__") and name.endswith("__"))}


def dereference_offsets(text: str, tree: ast.AST, members: set[str]) -> list[tuple[int, str]]:
    """(character offset where the member starts, member) for each `expr.member` load of a repo member."""
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in members):
            continue
        if node.end_lineno is None or node.end_lineno != node.value.end_lineno:
            continue
        line = text[line_starts[node.end_lineno - 1]: line_starts[node.end_lineno]]
        end = len(line.encode()[: node.end_col_offset].decode(errors="ignore"))  # ast offsets count UTF-8 bytes
        start = end - len(node.attr)
        if start > 0 and line[start - 1] == "." and line[start:end] == node.attr:
            found.append((line_starts[node.end_lineno - 1] + start, node.attr))
    return sorted(found)


def prompt_tail(prefix: str, fits) -> str:
    """The longest tail of `prefix` starting at a line start that `fits` (a token budget check)."""
    starts = [0] + [i + 1 for i, char in enumerate(prefix) if char == "\n"]
    low, high = 0, len(starts) - 1  # binary search the first line start whose tail fits
    while low < high:
        mid = (low + high) // 2
        if fits(prefix[starts[mid]:]):
            high = mid
        else:
            low = mid + 1
    tail = prefix[starts[low]:]
    return tail if fits(tail) else prefix[-200:]


def project_files(root: Path) -> list[Path]:
    from models.code_corpus import python_files

    return [p for p in python_files(root) if not {part.lower() for part in p.relative_to(root).parts} & TEST_PARTS]


def parse_all(files: list[Path]) -> dict[Path, tuple[str, ast.AST]]:
    parsed = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            parsed[path] = (text, ast.parse(text))
        except SyntaxError:
            continue
    return parsed


def project_tasks(name: str, root: Path, rng: random.Random, per_file: int, fits) -> list[Task]:
    parsed = parse_all(project_files(root))
    members = defined_names([tree for _, tree in parsed.values()])
    tasks = []
    for path, (text, tree) in parsed.items():
        spots = dereference_offsets(text, tree, members)
        for offset, member in sorted(rng.sample(spots, min(per_file, len(spots)))):
            prefix = text[:offset]
            relative = str(path.relative_to(root))
            line = prefix.count("\n") + 1
            task_id = f"{name}:{relative.replace('/', '.')}:{line}:{offset}"  # a task id holds no '/'
            tasks.append(Task(
                id=task_id, kind="text", prompt=prompt_tail(prefix, fits),
                answer=member, metadata={"repo_root": str(root), "file_path": relative, "file_prefix": prefix,
                                         "project": name, "stop": ["\n"]}))
    return tasks


def token_budget(tokenizer_path: str | None, max_prompt_tokens: int):
    if tokenizer_path is None:
        return lambda text: len(text) <= max_prompt_tokens * 3
    from transformers import AutoTokenizer

    from agents.monitor_guided import absolute_model_path

    tokenizer = AutoTokenizer.from_pretrained(absolute_model_path(tokenizer_path))
    return lambda text: len(tokenizer(text)["input_ids"]) <= max_prompt_tokens


def make_tasks(limit: int | None = None, seed: int = 0, per_file: int = 3, per_project: int = 24,
               tokenizer_path: str | None = "models/tiny-py", max_prompt_tokens: int = 200, projects=None) -> list[Task]:
    """Tasks from every held-out project, interleaved project by project so a limit keeps them mixed."""
    from models.code_corpus import HELD_OUT, fetch, project_root

    rng = random.Random(seed)
    fits = token_budget(tokenizer_path, max_prompt_tokens)
    groups = []
    for project in projects or HELD_OUT:
        tasks = project_tasks(project.name, project_root(fetch(project)), rng, per_file, fits)
        rng.shuffle(tasks)
        groups.append(tasks[:per_project])
    mixed = [task for group in _interleave(groups) for task in group]
    return mixed[:limit] if limit else mixed


def _interleave(groups: list[list[Task]]):
    for i in range(max(map(len, groups), default=0)):
        yield [group[i] for group in groups if i < len(group)]
