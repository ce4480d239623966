"""The search methods: each turns a Search and a budget of N paths into N final paths.

- beam: N samples of the first step; then keep the N/M best open paths and expand each by M,
  until N paths have ended or none is open (search-and-learn's beam search).
- dvts: N/M independent subtrees (diverse verifier tree search), each a greedy beam: expand
  its one path by M, go on with the best child. Each subtree has its own seeds and prunes only
  itself; they run side by side, so the generator batches their requests.
- particle_filter: N particles; each round they are resampled in proportion to the softmax of
  their scores (seeded) and the open ones take one more step (Puri et al., particle filtering
  for inference-time scaling).
- best_of_n: N whole solutions, scored once (the baseline the others are measured against).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from agents.prm_search.paths import Path, Search, derive_seed
from pipeline.judging.prm import split_steps

ROOT = Path()


def beam(search: Search, n: int, width: int) -> list[Path]:
    keep = max(1, n // width)
    candidates = search.children([(ROOT, n)], derive_seed(search.seed, 0))[0]
    finished: list[Path] = []
    for depth in range(1, search.max_steps + 1):
        finished += [c for c in candidates if c.done]
        open_paths = [c for c in candidates if not c.done]
        if len(finished) >= n or not open_paths:
            break
        frontier = search.top(open_paths, keep)
        search.note(depth=depth, kept=[p.steps for p in frontier], values=[search.value(p) for p in frontier])
        groups = search.children([(p, width) for p in frontier], derive_seed(search.seed, depth))
        candidates = [c for group in groups for c in group]
    return fill(search.top(finished, n), n)


def dvts(search: Search, n: int, width: int) -> list[Path]:
    subtrees = max(1, n // width)
    with ThreadPoolExecutor(max_workers=subtrees, thread_name_prefix="dvts") as pool:
        results = list(pool.map(lambda j: greedy_subtree(search, j, width), range(subtrees)))
    return fill(search.top([p for paths in results for p in paths], n), n)


def greedy_subtree(search: Search, subtree: int, width: int) -> list[Path]:
    """One subtree: a greedy beam of one path; returns its `width` best ended paths."""
    path, ended = ROOT, []
    for depth in range(search.max_steps):
        children = search.children([(path, width)], derive_seed(search.seed, subtree, depth))[0]
        ended += [c for c in children if c.done]
        path = search.top(children, 1)[0]
        search.note(subtree=subtree, depth=depth + 1, kept=[path.steps], values=[search.value(path)])
        if path.done:
            break
    return search.top(ended or [path], width)


def particle_filter(search: Search, n: int, temperature: float) -> list[Path]:
    rng = random.Random(derive_seed(search.seed, "resample"))
    particles = search.children([(ROOT, n)], derive_seed(search.seed, 0))[0]
    for depth in range(1, search.max_steps + 1):
        if all(p.done for p in particles):
            break
        weights = softmax([search.value(p) / temperature for p in particles])
        particles = rng.choices(particles, weights=weights, k=n)
        search.note(depth=depth, kept=[p.steps for p in particles], values=[search.value(p) for p in particles])
        particles = step_open(search, particles, derive_seed(search.seed, depth))
    return particles


def step_open(search: Search, particles: list[Path], seed: int) -> list[Path]:
    """One more step for each open particle; copies of one path get distinct samples (one
    request of k for k copies), ended particles stay as they are."""
    copies = Counter(p for p in particles if not p.done)
    if not copies:  # the draw kept only ended particles
        return particles
    groups = search.children(list(copies.items()), seed)
    children = {path: iter(group) for path, group in zip(copies, groups)}
    return [p if p.done else next(children[p]) for p in particles]


def best_of_n(search: Search, n: int) -> list[Path]:
    """N whole solutions (the caller's expand does not stop at the separator), split into
    steps and scored once."""
    samples = search.sampled([(ROOT, n)], derive_seed(search.seed, 0))[0]
    paths = [Path(tuple(split_steps(s.text, search.separator))[: search.max_steps], (), True, s.tokens, s.finish)
             for s in samples]
    return search.scored([paths])[0]


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def fill(paths: list[Path], n: int) -> list[Path]:
    """Exactly n paths: the best repeated in order when the search ended fewer."""
    return [paths[i % len(paths)] for i in range(n)] if paths else []
