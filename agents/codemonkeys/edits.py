"""Search/replace edit blocks: parse them from model output, apply them, diff the result.

The block format (one or more per answer; the path line may be left out when the prompt
showed a single file):

    path/to/module.py
    <<<<<<< SEARCH
    the exact lines to find
    =======
    the lines to put there instead
    >>>>>>> REPLACE

A SEARCH text must occur exactly once in its file; when the exact text is absent, a match
that differs only in leading/trailing whitespace per line is accepted and the replacement is
re-indented by the same offset (small models often get the indentation wrong). Anything else is
rejected with a reason, never guessed.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_BLOCK = re.compile(
    r"(?:^(?P<path>[^\n<=>]*?)[ \t]*\n)?^<<<<<<< SEARCH[ \t]*\n(?P<search>.*?)^=======[ \t]*\n"
    r"(?P<replace>.*?)^>>>>>>> REPLACE[ \t]*$",
    re.MULTILINE | re.DOTALL)


class EditError(ValueError):
    """An edit that cannot be applied; the message says which and why."""


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


def format_edit(edit: Edit) -> str:
    """The text of one block (what the model is trained to write)."""
    return f"{edit.path}\n{SEARCH}\n{_with_newline(edit.search)}{DIVIDER}\n{_with_newline(edit.replace)}{REPLACE}\n"


def parse_edits(text: str, default_path: str | None = None) -> list[Edit]:
    """Every complete block in `text`; EditError when there is none or one is half-written."""
    edits = []
    for match in _BLOCK.finditer(text):
        path = (match.group("path") or "").strip().strip("`").strip() or default_path
        if not path:
            raise EditError("an edit block names no file and the prompt had no single default file")
        edits.append(Edit(path=path, search=match.group("search"), replace=match.group("replace")))
    if not edits:
        reason = "an unfinished block (SEARCH without REPLACE)" if SEARCH in text else "no SEARCH/REPLACE block"
        raise EditError(f"the answer holds {reason}")
    return edits


def apply_edits(files: dict[str, str], edits: list[Edit], shown: tuple[str, int, int] | None = None) -> dict[str, str]:
    """The files that the edits change, with their new text (the input is not modified).
    `shown` = (path, first line, line count) of the window the model saw: a SEARCH text that
    occurs several times in that file but once inside the window means the one in the window."""
    changed: dict[str, str] = {}
    for edit in edits:
        if edit.path not in files:
            raise EditError(f"edit names {edit.path!r}, which is not a file of the repository")
        if not edit.search.strip():
            raise EditError(f"edit of {edit.path!r} has an empty SEARCH text")
        text = changed.get(edit.path, files[edit.path])
        window = shown[1:] if shown and shown[0] == edit.path else None
        changed[edit.path] = replace_in(text, edit, window)
    if not any(text != files[path] for path, text in changed.items()):
        raise EditError("the edits change nothing (REPLACE equals SEARCH)")
    return {path: text for path, text in changed.items() if text != files[path]}


def replace_in(text: str, edit: Edit, window: tuple[int, int] | None) -> str:
    try:
        return replace_once(text, edit.search, edit.replace, edit.path)
    except EditError:
        if window is None:
            raise
    lines = text.splitlines(keepends=True)
    start, count = window
    inside = replace_once("".join(lines[start:start + count]), edit.search, edit.replace, edit.path)
    return "".join(lines[:start]) + inside + "".join(lines[start + count:])


def replace_once(text: str, search: str, replace: str, path: str = "<file>") -> str:
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise EditError(f"SEARCH text occurs {count} times in {path!r}; it must pick one place")
    return replace_loose(text, search, replace, path)


def replace_loose(text: str, search: str, replace: str, path: str) -> str:
    """Match line by line ignoring surrounding whitespace; re-indent the replacement."""
    lines, wanted = text.splitlines(keepends=True), search.splitlines()
    stripped = [line.strip() for line in lines]
    target = [line.strip() for line in wanted]
    hits = [i for i in range(len(lines) - len(target) + 1) if stripped[i:i + len(target)] == target]
    if not hits:
        raise EditError(f"SEARCH text not found in {path!r}: {wanted[0].strip()[:60]!r}")
    if len(hits) > 1:
        raise EditError(f"SEARCH text (ignoring indentation) occurs {len(hits)} times in {path!r}")
    start = hits[0]
    shift = _indent(lines[start]) - _indent(wanted[0])
    new = [_reindent(line, shift) for line in _with_newline(replace).splitlines(keepends=True)] if replace else []
    return "".join(lines[:start] + new + lines[start + len(target):])


def unified_diff(old: dict[str, str], new: dict[str, str]) -> str:
    """A `git apply`-able diff from `old` to `new` (paths present in both; a/ b/ prefixes)."""
    parts = []
    for path in sorted(new):
        if new[path] == old[path]:
            continue
        body = difflib.unified_diff(_diff_lines(old[path]), _diff_lines(new[path]),
                                    fromfile=f"a/{path}", tofile=f"b/{path}", n=3)
        parts.append(f"diff --git a/{path} b/{path}\n" + "".join(body))
    return "".join(parts)


def patch_from(files: dict[str, str], answer: str, shown: tuple[str, int, int] | None = None) -> tuple[dict[str, str], str]:
    """(the changed files, their unified diff) for the edit blocks of a model `answer`."""
    changed = apply_edits(files, parse_edits(answer, default_path=shown[0] if shown else None), shown)
    return changed, unified_diff(files, changed)


def _diff_lines(text: str) -> list[str]:
    """Lines with newlines; a last line without one gets git's marker so the diff applies."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _reindent(line: str, shift: int) -> str:
    if not line.strip():
        return line
    if shift >= 0:
        return " " * shift + line
    return line[min(-shift, _indent(line)):]
