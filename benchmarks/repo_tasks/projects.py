"""The real projects repository tasks are made from, and how to read one into a file dict.

Each is a pinned pure-Python sdist (name, version, sha256 pinned in models/code_corpus.py),
fetched with `pip download --no-deps --no-binary :all:` into ~/.cache/ttc/sdists once, whose
own test suite runs in the sandbox image with only the standard library and pytest 7.2.
Only the package source and its tests go into a repository (no docs, data or configs: the
sandbox workspace is a small tmpfs, and a config's pytest plugins would not be installed).
The split is by project: train projects feed models/tiny-fixer, test projects are held out
(they are the monitor-guided decoding benchmark's held-out projects too).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.code_corpus import HELD_OUT, TRAIN, Project, fetch, project_root
from pipeline.judging.repo_verifier import is_test_file

SKIPPED_DIRS = {"__pycache__", ".pytest_cache"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".so", ".c")


@dataclass(frozen=True)
class RepoProject:
    sdist: Project
    split: str  # "train" | "test"
    include: tuple[str, ...]  # paths inside the sdist that make the repository
    source_root: str = ""  # the import root inside the repository ("" or "src")

    @property
    def name(self) -> str:
        return self.sdist.name


def _pinned(name: str) -> Project:
    return next(p for p in TRAIN + HELD_OUT if p.name == name)


PROJECTS = (
    RepoProject(_pinned("toolz"), "train", ("toolz", "tlz")),
    RepoProject(_pinned("more-itertools"), "train", ("more_itertools", "tests")),
    RepoProject(_pinned("boltons"), "train", ("boltons", "tests")),
    RepoProject(_pinned("cachetools"), "test", ("src/cachetools", "tests"), source_root="src"),
    RepoProject(_pinned("pathspec"), "test", ("pathspec", "tests")),
    RepoProject(_pinned("mistune"), "test", ("src/mistune", "tests"), source_root="src"),
)
SPLITS = ("train", "test")


def project(name: str) -> RepoProject:
    for p in PROJECTS:
        if p.name == name:
            return p
    raise KeyError(f"unknown repo-task project {name!r}; known: {', '.join(p.name for p in PROJECTS)}")


def read_repo(p: RepoProject) -> dict[str, str]:
    """{relative path: text} of the project's repository (fetched and verified once)."""
    root = project_root(fetch(p.sdist))
    files: dict[str, str] = {}
    for part in p.include:
        base = root / part
        if not base.exists():
            raise FileNotFoundError(f"{p.name}=={p.sdist.version}: the sdist has no {part!r}")
        for path in sorted(base.rglob("*")) if base.is_dir() else [base]:
            if _wanted(path, root):
                files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return files


def _wanted(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return path.is_file() and not (set(parts) & SKIPPED_DIRS) and not path.name.endswith(SKIPPED_SUFFIXES)


def source_modules(files: dict[str, str]) -> list[str]:
    """The non-test Python modules of a repository: where bugs are injected."""
    return sorted(path for path in files if path.endswith(".py") and not is_test_file(path))
