"""Context: which files (and which windows of them) an issue is about.

BM25 over identifier-aware tokens is always there: `snake_case` and `CamelCase` names count
as themselves and as their parts, so an issue that says `parse_row` finds `def parse_row`.
A model may rerank the lexical shortlist (`model_rerank`): each shortlisted window is shown to
the generator in the editing prompt and scored by the mean log-probability of the edit it
writes greedily, i.e. how sure the model is that it sees something to fix there. The generator
protocol returns logprobs of generated tokens only, so the log-likelihood of the issue given a
file cannot be read through `generate`; this is the model signal that `generate` does give.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from pipeline.judging.repo_verifier import is_test_file

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = {"the", "a", "an", "of", "to", "in", "is", "it", "and", "or", "for", "on", "with", "be", "as",
         "self", "def", "return", "if", "else", "import", "from", "not", "none", "true", "false", "this"}


@dataclass(frozen=True)
class Window:
    path: str
    start: int  # 0-based first line
    text: str


def tokens(text: str) -> list[str]:
    """Lower-cased identifiers and their snake/camel parts, without stop words."""
    out = []
    for word in _WORD.findall(text):
        parts = [p for piece in word.split("_") for p in _CAMEL.findall(piece)]
        for token in {word, *parts} if len(parts) > 1 else {word}:
            token = token.lower()
            if len(token) > 1 and token not in _STOP:
                out.append(token)
    return out


def bm25_scores(query: str, documents: list[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of `query` against each document."""
    docs = [Counter(tokens(d)) for d in documents]
    lengths = [sum(d.values()) for d in docs]
    average = sum(lengths) / max(len(docs), 1) or 1.0
    frequency = Counter(t for d in docs for t in d)
    scores = []
    for doc, length in zip(docs, lengths):
        score = 0.0
        for term in set(tokens(query)):
            if term in doc:
                idf = math.log(1 + (len(docs) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                tf = doc[term]
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
        scores.append(score)
    return scores


def source_files(files: dict[str, str]) -> dict[str, str]:
    """The Python files that may hold the bug (not tests)."""
    return {p: t for p, t in files.items() if p.endswith(".py") and not is_test_file(p)}


def rank_files(issue: str, files: dict[str, str]) -> list[tuple[str, float]]:
    """Source files by BM25 score against the issue, best first (ties by path)."""
    candidates = source_files(files)
    paths = sorted(candidates)
    scores = bm25_scores(issue, [f"{p}\n{candidates[p]}" for p in paths])
    return sorted(zip(paths, scores), key=lambda item: (-item[1], item[0]))


def select_files(issue: str, files: dict[str, str], char_budget: int = 60_000) -> list[str]:
    """Top-ranked files whose texts fit in `char_budget` characters together (at least one)."""
    chosen, used = [], 0
    for path, _ in rank_files(issue, files):
        if chosen and used + len(files[path]) > char_budget:
            continue
        chosen.append(path)
        used += len(files[path])
    return chosen


def windows_of(path: str, text: str, size: int, stride: int) -> list[Window]:
    lines = text.splitlines(keepends=True)
    starts = range(0, max(len(lines) - size, 0) + 1, stride)
    found = [Window(path, s, "".join(lines[s:s + size])) for s in starts]
    if lines and found[-1].start + size < len(lines):  # the tail the stride skipped
        found.append(Window(path, len(lines) - size, "".join(lines[-size:])))
    return [w for w in found if w.text.strip()]


def rank_windows(issue: str, files: dict[str, str], paths: list[str], size: int = 16,
                 stride: int = 8) -> list[Window]:
    """Windows of `size` lines of the chosen files, by BM25 against the issue, best first."""
    every = [w for path in paths for w in windows_of(path, files[path], size, stride)]
    scores = bm25_scores(issue, [w.text for w in every])
    order = sorted(range(len(every)), key=lambda i: (-scores[i], paths.index(every[i].path), every[i].start))
    return [every[i] for i in order]


def model_rerank(windows: list[Window], score) -> list[Window]:
    """`windows` reordered by `score(window) -> float` (higher first); stable among equals."""
    scored = [(score(w), i) for i, w in enumerate(windows)]
    return [windows[i] for _, i in sorted(scored, key=lambda item: (-item[0], item[1]))]
