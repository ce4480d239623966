"""The final pick among a search's paths, as search-and-learn makes it: the best path by the
PRM's last, min or product step score, or a vote over answers weighted by that score."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from agents.prm_search.paths import Path
from pipeline.judging.prm import AGGREGATIONS, aggregate

SELECTIONS = (*AGGREGATIONS, "weighted_vote")


def ranked(paths: list[Path], how: str, weight_by: str, answer_of: Callable[[Path], str | None]) -> list[int]:
    """Indices of `paths`, the pick first; then by score, ties to the earlier path."""
    by_score = sorted(range(len(paths)), key=lambda i: (-aggregate(list(paths[i].scores), how if how in AGGREGATIONS
                                                                    else weight_by), i))
    if how != "weighted_vote":
        return by_score
    weights: dict[str, float] = defaultdict(float)
    for i in by_score:
        answer = answer_of(paths[i])
        if answer is not None:
            weights[answer] += aggregate(list(paths[i].scores), weight_by)
    if not weights:
        return by_score
    best = max(weights, key=weights.get)  # ties to the answer whose best path ranks higher (seen first)
    pick = next(i for i in by_score if answer_of(paths[i]) == best)  # the winning answer's best path
    return [pick] + [i for i in by_score if i != pick]
