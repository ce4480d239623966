import itertools
import math
import random

import pytest

from pipeline.judging.evaluation import (
    coverage_curve, diversity, expected_accuracy, held_out_split, pass_at_k, recommend_n, selector_report,
    verifier_false_positive_rate,
)
from pipeline.core.types import Candidate, Selection, Verdict


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 12])
def test_pass_at_k_matches_enumerating_every_subset(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) overflows a float; the product form does not
    assert 0 < pass_at_k(1000, 1, 500) == pytest.approx(0.5)
    assert pass_at_k(1000, 0, 500) == 0.0
    assert pass_at_k(10_000, 5, 1) == pytest.approx(5 / 10_000)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(n, c, k)


def test_coverage_curve_is_monotone_and_ends_at_the_fraction_of_solved_tasks():
    rng = random.Random(0)
    counts = [(16, rng.randint(0, 16) * rng.randint(0, 1)) for _ in range(40)]
    curve = coverage_curve(counts)
    assert list(curve) == list(range(1, 17))
    values = list(curve.values())
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(sum(c > 0 for _, c in counts) / len(counts))
    assert values[0] == pytest.approx(sum(c / n for n, c in counts) / len(counts))


def test_selector_report_separates_precision_from_accuracy():
    def pick(task, selector, abstained=False, correct=None):
        return Selection(task_id=task, selector=selector, candidate_key=None if abstained else "k",
                         abstained=abstained, correct=correct)

    selections = [
        pick("t1", "vote", correct=True), pick("t2", "vote", correct=False),
        pick("t3", "vote", abstained=True), pick("t4", "vote", abstained=True),
        pick("t1", "first", correct=True), pick("t2", "first", correct=True),
        pick("t3", "first", correct=False), pick("t4", "first", correct=False),
    ]
    counts = {"t1": (4, 1), "t2": (4, 2), "t3": (4, 0), "t4": (4, 1)}
    report = selector_report(selections, counts)
    assert report["vote"] == {"tasks": 4, "answered": 2, "correct": 1, "accuracy": 0.25, "precision": 0.5,
                              "abstention_rate": 0.5, "coverage_at_n": 0.75}
    assert report["first"]["accuracy"] == report["first"]["precision"] == 0.5
    with pytest.raises(ValueError, match="ground truth"):
        selector_report([pick("t1", "vote")])


def _verdict(task, key, passed, error=None):
    return Verdict(task_id=task, candidate_key=key, verifier="v", passed=passed, score=float(passed), error=error)


def test_false_positive_rate_counts_passed_wrong_candidates_only():
    verdicts = [_verdict("a", "right", True), _verdict("a", "wrong1", True), _verdict("a", "wrong2", False),
                _verdict("b", "wrong", False), _verdict("b", "wrong", True, error="judge crashed")]
    truth = {("a", "right"): True, ("a", "wrong1"): False, ("a", "wrong2"): False, ("b", "wrong"): False}
    assert verifier_false_positive_rate(verdicts, truth) == pytest.approx(1 / 4)
    assert verifier_false_positive_rate(verdicts, truth, task_ids=["b"]) == 0.0
    assert math.isnan(verifier_false_positive_rate(verdicts[:1], truth))
    with pytest.raises(ValueError, match="no ground truth"):
        verifier_false_positive_rate([_verdict("c", "x", True)], truth)


def test_held_out_split_is_deterministic_disjoint_and_roughly_sized():
    ids = [f"task-{i}" for i in range(400)]
    fit, held = held_out_split(ids, 0.25, seed=1)
    assert (fit, held) == held_out_split(ids, 0.25, seed=1)
    assert sorted(fit + held) == sorted(ids) and not set(fit) & set(held)
    assert 60 < len(held) < 140
    assert held_out_split(ids, 0.25, seed=2)[1] != held


def test_expected_accuracy_saturates_below_one_with_false_positives():
    p, f = 0.1, 0.05
    ceiling = p / (p + (1 - p) * f)
    assert expected_accuracy(p, 0.0, 1000) == pytest.approx(1.0)
    assert expected_accuracy(p, f, 10_000) == pytest.approx(ceiling)
    assert expected_accuracy(p, f, 1) == pytest.approx(p)  # one sample: correct (hence accepted) w.p. p
    assert expected_accuracy(0.0, f, 100) == 0.0


def test_recommend_n_stops_early_with_a_leaky_verifier_and_later_with_a_perfect_one():
    per_task_p = [0.02, 0.1, 0.3, 0.6, 0.0]
    leaky = recommend_n({1: 0.2}, 0.2, per_task_p=per_task_p, tolerance=0.01)
    perfect = recommend_n({1: 0.2}, 0.0, per_task_p=per_task_p, tolerance=0.01)
    assert leaky.n < perfect.n
    assert leaky.ceiling < perfect.ceiling == pytest.approx(0.8)
    for rec in (leaky, perfect):
        acc = rec.accuracy_at_n
        gains_after = [acc[2 * n] - acc[n] for n in acc if n >= rec.n and 2 * n in acc]
        assert all(g < 0.01 for g in gains_after) and rec.saturated


def test_recommend_n_waits_out_a_slow_start_and_reports_a_budget_cap():
    # p = 0.001: the first doublings gain < 1% each, but coverage later climbs to ~1
    rec = recommend_n({1: 0.001}, 0.0, tolerance=0.01, max_n=1 << 16)
    assert rec.n >= 1024
    capped = recommend_n({1: 0.001}, 0.0, tolerance=0.01, max_n=64)
    assert capped.n == 64 and not capped.saturated
    with pytest.raises(ValueError, match="fp_rate"):
        recommend_n({1: 0.5}, math.nan)


def test_diversity_counts_programs_and_behaviours():
    cands = [Candidate(task_id="t", sample_index=i, content=src) for i, src in
             enumerate(["return 1", "return 1  # same", "return 2", "return 1+1"])]
    fingerprints = {cands[0].key: "A", cands[2].key: "B", cands[3].key: "B"}
    assert diversity(cands, fingerprints) == {"candidates": 4, "distinct_keys": 3, "distinct_outputs": 2,
                                              "key_ratio": 0.75}
    assert diversity(cands)["distinct_outputs"] is None


def test_union_of_generator_intervals():
    from pipeline.judging.summary import union_seconds

    assert union_seconds([(0, 2), (1, 3), (5, 6)]) == (4, 6)
    assert union_seconds([(0, 1), (0.5, 0.7)]) == (1, 1)
    assert union_seconds([]) == (0.0, 0.0)


def test_verifier_quality_against_ground_truth_on_held_out_tasks():
    from pipeline.judging.evaluation import held_out_split
    from pipeline.judging.summary import verifier_quality

    task_ids = [f"t{i}" for i in range(40)]
    samples = []
    for tid in task_ids:  # per task: 2 correct (accepted), 8 wrong of which 2 accepted
        for i in range(10):
            samples.append({"task_id": tid, "sample_index": i, "passed": i < 2, "verifier_passed": i < 4})
    quality = verifier_quality(samples, task_ids)
    assert quality["held_out_tasks"] == len(held_out_split(task_ids)[1])
    assert quality["false_positive_rate"] == 0.25 and quality["true_positive_rate"] == 1.0
    assert quality["accuracy_ceiling"] < 1.0  # p / (p + (1 - p) f) = 0.2 / 0.4
    assert verifier_quality([{**s, "verifier_passed": s["passed"]} for s in samples], task_ids) is None
