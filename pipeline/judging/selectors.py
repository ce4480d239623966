"""Selectors: pick one candidate per task from its candidates and their verdicts, or abstain.

Following Inference Scaling fLaws, abstaining is a first-class result: with an imperfect
verifier, answering only when the vote or score is convincing trades coverage for precision
(pipeline.judging.evaluation reports both). Selectors never see ground truth; the runner fills
Selection.correct. Ties always go to the group holding the lowest sample index.

Several verdicts for one candidate key (several verifiers) combine as: passed = all passed
and none errored, score = mean score with errored verdicts scoring 0.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from pipeline.generators.confidence import MEASURES, percentile, valid_measures
from pipeline.judging.answers import normalise_answer
from pipeline.core.registry import build
from pipeline.core.types import Candidate, Selection, Task, Verdict


class Selector(Protocol):
    name: str

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection: ...


@dataclass(frozen=True)
class Judged:
    passed: bool
    score: float


def combine_verdicts(verdicts: list[Verdict]) -> dict[str, Judged]:
    """candidate key -> combined judgement (see module docstring)."""
    grouped: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        grouped[verdict.candidate_key].append(verdict)
    return {key: Judged(passed=all(v.accepted for v in vs),
                        score=sum(0.0 if v.error else v.score for v in vs) / len(vs))
            for key, vs in grouped.items()}


def vote_key(task: Task, candidate: Candidate, fingerprints: dict[str, str] | None) -> str:
    """What counts as 'the same answer': the normalised answer (math/text), the behaviour
    fingerprint of a program when given, else the program's own key."""
    if task.kind != "code":
        return normalise_answer(candidate.content)
    return (fingerprints or {}).get(candidate.key, candidate.key)


def chosen(task: Task, name: str, winner: Candidate | None, margin: float, abstain: bool) -> Selection:
    if winner is None or abstain:
        return Selection(task_id=task.id, selector=name, abstained=True, margin=margin)
    return Selection(task_id=task.id, selector=name, candidate_key=winner.key, content=winner.content, margin=margin)


def ranked_groups(weights: dict[str, float], first_index: dict[str, int]) -> list[str]:
    """Group keys by weight, heaviest first; ties to the group seen first."""
    return sorted(weights, key=lambda group: (-weights[group], first_index[group]))


class _VoteSelector:
    """Groups candidates by vote key and picks the group with the largest weight; its
    lowest-index member is the selection. Abstains when the winner's share of the total
    weight is below `abstain_below`, its lead over the runner-up is below `min_margin`, or
    no candidate carries any weight (nothing voted, or every score was 0)."""

    name = "vote"

    def __init__(self, abstain_below: float | None = None, min_margin: float | None = None, only_passed: bool = False):
        self.abstain_below, self.min_margin, self.only_passed = abstain_below, min_margin, only_passed

    def weight(self, judged: Judged | None) -> float:
        raise NotImplementedError

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection:
        judged = combine_verdicts(verdicts)
        pool = [c for c in sorted(candidates, key=lambda c: c.sample_index)
                if not self.only_passed or (c.key in judged and judged[c.key].passed)]
        weights: dict[str, float] = defaultdict(float)
        members: dict[str, Candidate] = {}
        for candidate in pool:
            group = vote_key(task, candidate, fingerprints)
            weights[group] += self.weight(judged.get(candidate.key))
            members.setdefault(group, candidate)
        return self._decide(task, weights, members)

    def _decide(self, task: Task, weights: dict[str, float], members: dict[str, Candidate]) -> Selection:
        order = ranked_groups(weights, {g: c.sample_index for g, c in members.items()})
        total = sum(weights.values())
        shares = [weights[g] / total if total > 0 else 0.0 for g in order]
        share = shares[0] if shares else 0.0
        margin = share - (shares[1] if len(shares) > 1 else 0.0)
        abstain = (total <= 0 or (self.abstain_below is not None and share < self.abstain_below)
                   or (self.min_margin is not None and margin < self.min_margin))
        return chosen(task, self.name, members[order[0]] if order else None, margin, abstain)


class MajorityVote(_VoteSelector):
    """One vote per candidate (self-consistency; over program outputs it is AlphaCode-style
    clustering). With only_passed=True, only candidates the verifier passed vote."""

    name = "majority_vote"

    def weight(self, judged: Judged | None) -> float:
        return 1.0


class WeightedVote(_VoteSelector):
    """Each candidate votes with its verifier score."""

    name = "weighted_vote"

    def weight(self, judged: Judged | None) -> float:
        return judged.score if judged else 0.0


class ConfidenceVote(_VoteSelector):
    """DeepConf's offline vote: among the candidates that give an answer and ran to their end,
    keep the `keep_percent`% most confident by `measure` (those at or above the
    (100 - keep_percent)th percentile) and vote among them, each weighted by that confidence.

    The confidence is the one the generator measured (Candidate.confidence). A voter without a
    valid one, missing or outside what a backend computes, makes the selector abstain: a forged
    value must not win, and leaving the voter out would let a missing one pass unnoticed."""

    name = "confidence_vote"

    def __init__(self, keep_percent: float = 10.0, measure: str = "lowest_window",
                 abstain_below: float | None = None, min_margin: float | None = None):
        if isinstance(keep_percent, bool) or not isinstance(keep_percent, (int, float)) or not 0 < keep_percent <= 100:
            raise ValueError(f"selector_options.confidence_vote.keep_percent: {keep_percent!r} must be a number "
                             f"above 0 and at most 100 (the share of candidates that votes)")
        if measure not in MEASURES:
            raise ValueError(f"selector_options.confidence_vote.measure: {measure!r} is not one of {', '.join(MEASURES)}")
        super().__init__(abstain_below, min_margin)
        self.keep_percent, self.measure = float(keep_percent), measure

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection:
        voters = [c for c in sorted(candidates, key=lambda c: c.sample_index)
                  if not c.stopped_early and c.content.strip()]
        if not voters or not all(valid_measures(c.confidence) for c in voters):
            return chosen(task, self.name, None, 0.0, True)
        scores = [c.confidence[self.measure] for c in voters]
        cut = percentile(scores, 100 - self.keep_percent)
        weights: dict[str, float] = defaultdict(float)
        members: dict[str, Candidate] = {}
        for candidate, score in zip(voters, scores):
            if score >= cut:
                group = vote_key(task, candidate, fingerprints)
                weights[group] += score
                members.setdefault(group, candidate)
        return self._decide(task, weights, members)


class BestScore:
    """The highest-scoring candidate; abstains when that score is below `abstain_below`.
    margin = best score minus the best score of a different candidate key."""

    name = "best_score"

    def __init__(self, abstain_below: float | None = None):
        self.abstain_below = abstain_below

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection:
        judged = combine_verdicts(verdicts)
        scores = {c.key: judged[c.key].score for c in candidates if c.key in judged}
        first = {c.key: c for c in sorted(candidates, key=lambda c: c.sample_index, reverse=True)}
        order = ranked_groups(scores, {k: c.sample_index for k, c in first.items()})
        if not order:
            return chosen(task, self.name, None, 0.0, True)
        best = scores[order[0]]
        margin = best - (scores[order[1]] if len(order) > 1 else 0.0)
        abstain = self.abstain_below is not None and best < self.abstain_below
        return chosen(task, self.name, first[order[0]], margin, abstain)


class FirstPassing:
    """The lowest-index candidate the verifier passed (resample-until-accept, the setting of
    Inference Scaling fLaws); abstains when none passed, or its score is below `abstain_below`."""

    name = "first_passing"

    def __init__(self, abstain_below: float | None = None):
        self.abstain_below = abstain_below

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection:
        judged = combine_verdicts(verdicts)
        passing = [c for c in sorted(candidates, key=lambda c: c.sample_index)
                   if c.key in judged and judged[c.key].passed]
        if not passing:
            return chosen(task, self.name, None, 0.0, True)
        score = judged[passing[0].key].score
        return chosen(task, self.name, passing[0], 0.0, self.abstain_below is not None and score < self.abstain_below)


class AgentPick:
    """The strategy's own choice: the task's lowest-index candidate. Strategies that select
    inside the agent (CodeMonkeys' test vote and selection trajectory) put their pick first;
    abstains when that candidate is empty (the agent produced nothing to submit)."""

    name = "agent_pick"

    def select(self, task: Task, candidates: list[Candidate], verdicts: list[Verdict],
               fingerprints: dict[str, str] | None = None) -> Selection:
        first = min(candidates, key=lambda c: c.sample_index, default=None)
        return chosen(task, self.name, first, 0.0, first is None or not first.content.strip())


SELECTORS: dict[str, Callable[..., Selector]] = {
    "majority_vote": MajorityVote,
    "weighted_vote": WeightedVote,
    "best_score": BestScore,
    "first_passing": FirstPassing,
    "agent_pick": AgentPick,
    "confidence_vote": ConfidenceVote,
}


def make_selector(name: str, **options: Any) -> Selector:
    return build(SELECTORS, name, "selector", **options)
