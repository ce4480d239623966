"""Evaluation math: unbiased pass@k, coverage curves, selector precision vs coverage, the
verifier's false-positive rate and the sample count beyond which resampling stops paying
(Inference Scaling fLaws). Plain Python; inputs are counts, Selections and Verdicts.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from pipeline.core.types import Candidate, Selection, Verdict


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021): 1 - C(n-c, k) / C(n, k), the chance that k of
    the n samples, drawn without replacement, contain at least one of the c correct ones.
    Computed as 1 - prod_{i=n-c+1..n} (1 - k/i): no huge binomials, no overflow."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def coverage_curve(per_task_counts: list[tuple[int, int]], ks: Iterable[int] | None = None) -> dict[int, float]:
    """k -> mean pass@k over tasks; `per_task_counts` holds (samples n, correct c) per task.
    ks defaults to 1..min(n)."""
    if not per_task_counts:
        raise ValueError("coverage_curve needs at least one task's (n, c)")
    ks = list(ks) if ks is not None else list(range(1, min(n for n, _ in per_task_counts) + 1))
    return {k: sum(pass_at_k(n, c, k) for n, c in per_task_counts) / len(per_task_counts) for k in ks}


def selector_report(selections: list[Selection], per_task_counts: dict[str, tuple[int, int]] | None = None
                    ) -> dict[str, dict[str, float | int | None]]:
    """Per selector: accuracy (correct / tasks), precision (correct / answered), abstention
    rate and, given per-task (n, c), coverage at N (tasks with any correct sample), the
    ceiling every selector is measured against."""
    by_selector: dict[str, list[Selection]] = defaultdict(list)
    for selection in selections:
        by_selector[selection.selector].append(selection)
    return {name: _one_selector(picks, per_task_counts) for name, picks in sorted(by_selector.items())}


def _one_selector(picks: list[Selection], per_task_counts: dict[str, tuple[int, int]] | None) -> dict:
    answered = [s for s in picks if not s.abstained]
    unjudged = [s.task_id for s in answered if s.correct is None]
    if unjudged:
        raise ValueError(f"selections of {picks[0].selector!r} lack ground truth (correct=None) "
                         f"for tasks {unjudged[:5]}")
    correct = sum(bool(s.correct) for s in answered)
    report = {
        "tasks": len(picks), "answered": len(answered), "correct": correct,
        "accuracy": correct / len(picks),
        "precision": correct / len(answered) if answered else None,
        "abstention_rate": 1 - len(answered) / len(picks),
    }
    if per_task_counts is not None:
        report["coverage_at_n"] = sum(per_task_counts[s.task_id][1] > 0 for s in picks) / len(picks)
    return report


def verifier_false_positive_rate(verdicts: list[Verdict], ground_truth: dict[tuple[str, str], bool],
                                 task_ids: Iterable[str] | None = None) -> float:
    """Fraction of truly-wrong candidates (one per sample, so duplicates count as resampling
    would) that the verifier passed. `ground_truth` maps (task_id, candidate_key) -> correct.
    Restrict to held-out tasks with `task_ids` (see `held_out_split`). NaN when no wrong ones."""
    keep = set(task_ids) if task_ids is not None else None
    wrong_passed = wrong = 0
    for verdict in verdicts:
        if keep is not None and verdict.task_id not in keep:
            continue
        truth_key = (verdict.task_id, verdict.candidate_key)
        if truth_key not in ground_truth:
            raise ValueError(f"no ground truth for candidate {verdict.candidate_key!r} of task {verdict.task_id!r}")
        if not ground_truth[truth_key]:
            wrong += 1
            wrong_passed += verdict.accepted
    return wrong_passed / wrong if wrong else math.nan


def held_out_split(task_ids: Iterable[str], held_out_fraction: float = 0.5,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """(fit, held_out): a deterministic split by hash of (seed, task id), stable when tasks
    are added. Estimate the false-positive rate on held_out, tune thresholds on fit."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    fit, held_out = [], []
    for task_id in task_ids:
        digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
        (held_out if int.from_bytes(digest[:8], "big") / 2**64 < held_out_fraction else fit).append(task_id)
    return fit, held_out


def expected_accuracy(p: float, fp_rate: float, n: int) -> float:
    """Accuracy of resample-until-accept with at most n samples (Inference Scaling fLaws):
    each sample is correct with probability p, a wrong one is accepted with probability f
    (correct ones always are), so a sample is accepted with a = p + (1 - p) f and
        P(answer correct) = p / a * (1 - (1 - a)^n).
    The first factor, p / (p + (1 - p) f), is a ceiling no n can lift when f > 0."""
    accept = p + (1 - p) * fp_rate
    return 0.0 if accept == 0 else p / accept * (1 - (1 - accept) ** n)


@dataclass
class NRecommendation:
    n: int  # samples per task worth paying for
    ceiling: float  # expected accuracy as n -> infinity: mean of p / (p + (1 - p) f)
    accuracy_at_n: dict[int, float] = field(default_factory=dict)  # the modelled curve, n = 1, 2, 4, ...
    saturated: bool = True  # False: doubling still paid at max_n, so n = max_n is a budget cap


def recommend_n(coverage: dict[int, float], fp_rate: float, *, per_task_p: list[float] | None = None,
                tolerance: float = 0.01, max_n: int = 1024) -> NRecommendation:
    """Smallest N (a power of two) beyond which doubling N raises the expected selection
    accuracy of resample-until-accept by less than `tolerance`, for every later doubling too
    (the gain from doubling is not monotone when p is small: 1-(1-p)^N is S-shaped in log N).

    Accuracy per task is `expected_accuracy(p_i, f, N)`, averaged over tasks. Pass per-task
    correct rates `per_task_p` (c_i / n_i) when known: tasks differ, and a single mean p
    overstates how fast coverage grows. Without them p = coverage[1] (= mean pass@1).
    With f = 0 the curve is the expected coverage itself; with f > 0 it flattens at the ceiling.
    """
    if not 0 <= fp_rate <= 1:
        raise ValueError(f"fp_rate must be in [0, 1], got {fp_rate} (NaN means it could not be estimated)")
    ps = per_task_p if per_task_p is not None else [coverage[1]]
    ns = [2**i for i in range(max_n.bit_length()) if 2**i <= max_n]
    accuracy = {n: sum(expected_accuracy(p, fp_rate, n) for p in ps) / len(ps) for n in ns + [2 * ns[-1]]}
    still_paying = [n for n in ns if accuracy[2 * n] - accuracy[n] >= tolerance]
    n = 2 * still_paying[-1] if still_paying else 1
    ceiling = sum(p / (p + (1 - p) * fp_rate) if p + (1 - p) * fp_rate > 0 else 0.0 for p in ps) / len(ps)
    return NRecommendation(n=min(n, ns[-1]), ceiling=ceiling, accuracy_at_n={k: accuracy[k] for k in ns},
                           saturated=n <= ns[-1])


def diversity(candidates: list[Candidate], fingerprints: dict[str, str] | None = None) -> dict[str, int | float | None]:
    """How different the samples are: distinct programs/answers (keys) and, given output
    fingerprints, distinct behaviours. Low diversity caps what more samples can add."""
    keys = {c.key for c in candidates}
    outputs = {fingerprints.get(c.key, c.key) for c in candidates} if fingerprints is not None else None
    return {
        "candidates": len(candidates), "distinct_keys": len(keys),
        "distinct_outputs": len(outputs) if outputs is not None else None,
        "key_ratio": len(keys) / len(candidates) if candidates else None,
    }
