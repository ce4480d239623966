"""Monitors: at an identifier position, which names does static analysis (Jedi) allow?

Two triggers, both answered by Jedi over the repository's files and the file's text so far:
- dereference (monitors4codegen's type-consistent dereference monitor): the code ends with
  `expr.` plus perhaps a partial name; allowed = the members Jedi infers for `expr`;
- from-import: the code ends inside `from module import a, b`; allowed = the names `module` has.
No trigger, or nothing inferred (an unknown type), means no constraint: the monitor lets go.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

_PARTIAL = re.compile(r"[^\W\d]\w*$|$")
_FROM_IMPORT = re.compile(r"(?m)^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]+(\(\s*)?([\w \t]+,\s*)*$")
_NUMBER_BEFORE_DOT = re.compile(r"(?<![\w.])\d[\d_]*$")


@dataclass(frozen=True)
class Trigger:
    kind: str  # "dereference" | "from_import"
    anchor: str  # the code up to where the identifier starts (what Jedi completes at)
    partial: str  # what is typed of the identifier so far


def _outside_comment_and_string(line: str) -> bool:
    """A cheap check on the current line: no '#' and balanced quotes before the cursor."""
    plain = re.sub(r"'(\\.|[^'\\])*'|\"(\\.|[^\"\\])*\"", "", line)
    return "#" not in plain and "'" not in plain and '"' not in plain


def find_trigger(code: str) -> Trigger | None:
    """The identifier position `code` ends at, if a monitor should constrain it."""
    partial = _PARTIAL.search(code[-256:]).group()  # the tail only: a file prefix can be long
    anchor = code[: len(code) - len(partial)]
    line = anchor[anchor.rfind("\n") + 1:]
    if not _outside_comment_and_string(line):
        return None
    if anchor.endswith(".") and len(anchor) > 1:
        before = anchor[:-1]
        if (before[-1].isalnum() or before[-1] in "_)]") and not _NUMBER_BEFORE_DOT.search(before) \
                and not re.search(r"(?m)^[ \t]*(from|import)[ \t]", line):
            return Trigger("dereference", anchor, partial)
        return None
    if _FROM_IMPORT.search(line):
        return Trigger("from_import", anchor, partial)
    return None


@lru_cache(maxsize=64)
def _project(repo_root: str):
    import jedi

    return jedi.Project(repo_root, smart_sys_path=True, load_unsafe_extensions=False)


_JEDI_LOCK = threading.Lock()  # Jedi's caches are not thread-safe; the generator may run threads


def jedi_names(anchor: str, repo_root: str, file_path: str | None = None) -> list[str]:
    """Names Jedi completes at the end of `anchor` (the file's text so far) within the repository."""
    import jedi

    lines = anchor.split("\n")
    with _JEDI_LOCK:
        script = jedi.Script(anchor, path=file_path, project=_project(repo_root))
        completions = script.complete(len(lines), len(lines[-1]))
    return sorted({c.name for c in completions if c.type != "keyword" and c.name.isidentifier()})


class JediMonitor:
    """Allowed names at the trigger `code` ends at; None means unconstrained. Answers are cached
    by anchor, so n samples that share a prefix ask Jedi once."""

    def __init__(self, repo_root: str, file_path: str | None = None, triggers: tuple[str, ...] = ("dereference", "from_import")):
        self.repo_root, self.file_path, self.triggers = repo_root, file_path, tuple(triggers)
        self._cache: dict[str, tuple[str, ...]] = {}
        self.calls = self.errors = 0
        self.seconds = 0.0

    def allowed(self, code: str) -> tuple[Trigger, tuple[str, ...]] | None:
        trigger = find_trigger(code)
        if trigger is None or trigger.kind not in self.triggers:
            return None
        names = self._names(trigger.anchor)
        if not any(name.startswith(trigger.partial) for name in names):
            return None  # nothing inferred (or nothing fits what is typed): let go
        return trigger, names

    def _names(self, anchor: str) -> tuple[str, ...]:
        if anchor not in self._cache:
            import time

            started = time.perf_counter()
            self.calls += 1
            try:
                self._cache[anchor] = tuple(jedi_names(anchor, self.repo_root, self.file_path))
            except Exception:  # noqa: BLE001 - an analyzer crash must not kill decoding: no constraint
                self.errors += 1
                self._cache[anchor] = ()
            self.seconds += time.perf_counter() - started
        return self._cache[anchor]
