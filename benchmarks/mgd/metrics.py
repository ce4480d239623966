"""Metrics of monitors4codegen on one completion: next-identifier exact match, whether the
identifier exists, and whether the completed line compiles."""
from __future__ import annotations

import codeop
import warnings
from collections import Counter

from agents.monitor_guided import leading_identifier

# A line is judged in the smallest context it can stand in: `return` needs a function,
# `elif`/`else`/`break` a loop with an `if`, `except`/`finally` a `try`.
_CONTEXTS = ("{}", "def _f():\n {}", "async def _f():\n {}", "for _ in x:\n if x:\n  pass\n {}", "try:\n pass\n{}")


def line_compiles(line: str) -> bool:
    """The completed line is valid Python so far (complete, or an open bracket / block to go on)."""
    body = line.strip()
    if not body:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning of invalid escapes etc.
        for context in _CONTEXTS:
            try:
                codeop.compile_command(context.format(body), symbol="exec")
                return True
            except (SyntaxError, ValueError, OverflowError):
                continue
    return False


def completed_line(file_prefix: str, completion: str) -> str:
    """The prefix's last line finished by the completion's first line."""
    return file_prefix[file_prefix.rfind("\n") + 1:] + completion.split("\n", 1)[0]


def score_completion(file_prefix: str, completion: str, expected: str, valid: set[str]) -> dict:
    identifier = leading_identifier(completion)
    return {"identifier": identifier, "exact_match": identifier == expected, "exists": identifier in valid,
            "compiles": line_compiles(completed_line(file_prefix, completion))}


def vote(completions: list[str]) -> int:
    """Index of the first sample whose identifier is the most common one (majority vote)."""
    identifiers = [leading_identifier(c) for c in completions]
    winner = Counter(identifiers).most_common(1)[0][0]
    return identifiers.index(winner)
