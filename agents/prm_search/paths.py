"""Partial solutions of a search: a path of steps, the PRM's score of each, and how it ended.

Plain data and the bookkeeping every search method shares (`Search`): expanding paths by
sampled next steps, scoring the new ones in one batch, counting generated tokens, and a trace
of what each round kept. Nothing here knows about generators or verifiers: `expand` and
`score` are given, so a test can hand-write both.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from typing import Callable

from pipeline.judging.prm import aggregate


@dataclass(frozen=True)
class StepSample:
    """One sampled next step: its text (before the separator), tokens, and why it ended."""
    text: str
    tokens: int
    finish: str  # "stop": the separator (the path goes on); "eos"/"length": the model ended or ran out


@dataclass(frozen=True)
class Path:
    steps: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()  # the PRM's score of each step
    done: bool = False
    tokens: int = 0  # generated along this path
    finish: str = "length"

    def text(self, separator: str) -> str:
        return separator.join(self.steps)


# expand([(path, k), ...], seed) -> k next steps for each path; score(paths) -> step scores per path
Expand = Callable[[list[tuple[Path, int]], int], list[list[StepSample]]]
Score = Callable[[list[Path]], list[tuple[float, ...]]]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from a run seed and positions in the search (depth, subtree, ...)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class Search:
    """What a search method is given, and what it counts while it runs."""
    expand: Expand
    score: Score
    aggregation: str = "last"
    max_steps: int = 8
    seed: int = 0
    separator: str = "\n"
    answer_marker: str = "Answer:"
    tokens: int = 0
    calls: int = 0
    trace: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def value(self, path: Path) -> float:
        return aggregate(list(path.scores), self.aggregation)

    def sampled(self, requests: list[tuple[Path, int]], seed: int) -> list[list[StepSample]]:
        """`expand`, counted."""
        samples = self.expand(requests, seed)
        with self._lock:
            self.tokens += sum(s.tokens for group in samples for s in group)
            self.calls += 1
        return samples

    def children(self, requests: list[tuple[Path, int]], seed: int) -> list[list[Path]]:
        """The children of each requested path (k each), the new steps scored in one batch."""
        samples = self.sampled(requests, seed)
        kids = [[self.extended(path, s) for s in group] for (path, _), group in zip(requests, samples)]
        return self.scored(kids)

    def extended(self, path: Path, sample: StepSample) -> Path:
        step = sample.text.strip()
        tokens = path.tokens + sample.tokens
        if not step:  # an empty step (two separators, or the model's end): the path ends here
            return replace(path, done=True, tokens=tokens, finish=sample.finish)
        steps = path.steps + (step,)
        ended = (sample.finish != "stop" or len(steps) >= self.max_steps
                 or bool(self.answer_marker and self.answer_marker in step))
        return Path(steps, path.scores, ended, tokens, "stop" if ended and sample.finish == "stop" else sample.finish)

    def scored(self, groups: list[list[Path]]) -> list[list[Path]]:
        """Every path that gained a step gets its step scores (one call for all of them)."""
        fresh = [p for group in groups for p in group if len(p.scores) != len(p.steps)]
        scores = dict(zip(map(id, fresh), self.score(fresh))) if fresh else {}
        return [[replace(p, scores=scores[id(p)]) if id(p) in scores else p for p in group] for group in groups]

    def top(self, paths: list[Path], k: int) -> list[Path]:
        """The k best by value; ties to the earlier path."""
        order = sorted(range(len(paths)), key=lambda i: (-self.value(paths[i]), i))
        return [paths[i] for i in order[:k]]

    def note(self, **event) -> None:
        with self._lock:
            self.trace.append(event)
