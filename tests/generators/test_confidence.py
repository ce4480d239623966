"""Trace confidence (DeepConf): the math on hand-checked numbers, and the hf decode loop measuring
it and stopping a trace at the threshold, on the real tiny-math model."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.tasks.arith_word import STOP_SEQUENCES, make_tasks
from pipeline.core.types import Candidate, ConfidenceParams, SamplingParams
from pipeline.generators.confidence import (
    BadLogprobs, ConfidenceTracker, check_step, percentile, token_confidence, trace_measures, window_means)

TINY_MATH = str(Path(__file__).resolve().parents[2] / "models" / "tiny-math")


def test_token_confidence_is_minus_the_mean_of_the_top_k_logprobs():
    # top-2 of [-0.1, -2.3, -4.0] (given unsorted): -(-0.1 - 2.3) / 2 = 1.2
    assert token_confidence([-2.3, -0.1, -4.0], k=2) == pytest.approx(1.2)
    assert token_confidence([-0.5], k=5) == pytest.approx(0.5)  # fewer than k: all of them
    assert token_confidence([-0.0, -math.inf], k=2) == pytest.approx(50.0)  # floored at -100, never inf


def test_trace_measures_on_a_hand_checked_trace():
    confidences = [4.0, 2.0, 6.0, 1.0, 3.0, 8.0]
    # windows of 3: (4+2+6)/3=4, (2+6+1)/3=3, (6+1+3)/3=10/3, (1+3+8)/3=4
    assert window_means(confidences, 3) == pytest.approx([4.0, 3.0, 10 / 3, 4.0])
    measures = trace_measures(confidences, window=3, tail=2)
    assert measures == pytest.approx({"mean": 4.0, "lowest_window": 3.0, "tail": 5.5, "bottom_10": 3.0})
    short = trace_measures([2.0, 4.0], window=3, tail=8)  # shorter than a window: one group, the whole trace
    assert short == pytest.approx({"mean": 3.0, "lowest_window": 3.0, "tail": 3.0, "bottom_10": 3.0})
    # 20 windows of 1: the lowest 10% are the 2 smallest, 0 and 1
    assert trace_measures([float(i) for i in range(20)], window=1, tail=1)["bottom_10"] == pytest.approx(0.5)
    assert trace_measures([], 3, 3) is None


def test_the_tracker_stops_only_once_a_full_window_is_below_the_threshold():
    tracker = ConfidenceTracker(window=2, tail=2, stop_below=2.5)
    assert [tracker.push(c) for c in (1.0, 5.0, 3.0, 1.0)] == [False, False, False, True]
    # the first token alone is below 2.5 but is no full window; (5+3)/2 = 4, (3+1)/2 = 2 < 2.5
    assert tracker.measures()["lowest_window"] == pytest.approx(2.0)


def test_percentile_is_numpys_linear_default():
    assert percentile([1.0, 2.0, 3.0, 4.0], 10) == pytest.approx(1.3)
    assert percentile([5.0], 90) == 5.0


@pytest.mark.parametrize("top, chosen", [
    ([0.5, -1.0], None),           # a positive logprob
    ([-0.1, -0.2], None),          # more than all the probability (0.90 + 0.82)
    ([math.nan], None),
    ([-25.0, -30.0], None),        # a likeliest token no vocabulary makes that unlikely
    ([-1.0, -2.0], -0.5),          # the sampled token above the likeliest
    ([], None),
])
def test_logprobs_no_distribution_has_are_refused(top, chosen):
    with pytest.raises(BadLogprobs):
        check_step(top, chosen)


def test_a_candidate_cannot_carry_a_confidence_no_backend_computes():
    good = {"mean": 1.0, "lowest_window": 0.5, "tail": 1.0, "bottom_10": 0.5}
    Candidate(task_id="t", sample_index=0, content="1", confidence=good)
    for forged in ({**good, "lowest_window": math.inf}, {**good, "mean": math.nan}, {**good, "tail": -1.0},
                   {**good, "bottom_10": 1e9}, {"lowest_window": 3.0}):
        with pytest.raises(ValueError, match="confidence"):
            Candidate(task_id="t", sample_index=0, content="1", confidence=forged)


# ------------------------------------------------------------------ the hf decode loop

@pytest.fixture(scope="module")
def tiny_math():
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(TINY_MATH, device="cpu") as generator:
        yield generator


def params(**confidence) -> SamplingParams:
    return SamplingParams(n=8, temperature=1.0, max_new_tokens=64, seed=3, stop=STOP_SEQUENCES,
                          confidence=ConfidenceParams(window=8, tail=8, **confidence))


def test_hf_confidence_is_the_one_its_token_steps_give(tiny_math):
    """The measures the loop records equal those recomputed from the top-k logprobs it reports."""
    prompt = make_tasks("test", 1)[0].prompt
    steps: dict[int, list[float]] = {}
    observe = lambda step: steps.setdefault(step.sample_index, []).append(  # noqa: E731
        token_confidence([lp for _, lp in step.top], k=5))
    completions = tiny_math.submit([prompt], params(), top_logprobs=5, on_token=observe).result()[0]
    for i, completion in enumerate(completions):
        kept = steps[i][:completion.completion_tokens]  # the tokens before a stop sequence
        assert completion.confidence == pytest.approx(trace_measures(kept, window=8, tail=8), rel=1e-5)
        assert completion.finish_reason in ("eos", "stop", "length") and completion.token_cap is None


def test_hf_stops_a_trace_mid_decode_once_its_window_falls_below_the_threshold(tiny_math):
    prompt = make_tasks("test", 1)[0].prompt
    free = tiny_math.generate([prompt], params())[0]
    lowest = sorted(c.confidence["lowest_window"] for c in free)
    bar = (lowest[3] + lowest[4]) / 2  # half the traces dip below it, none lies on it
    capped = tiny_math.generate([prompt], params(stop_below=bar))[0]
    stopped = [(f, c) for f, c in zip(free, capped) if c.finish_reason == "low_confidence"]
    assert stopped, "some trace's window fell below the bar"
    for f, c in zip(free, capped):
        dipped = f.confidence["lowest_window"] < bar and f.completion_tokens >= 8  # a full window below it
        assert (c.finish_reason == "low_confidence") == dipped
    # stopped inside the loop: fewer tokens (or as many, when the last window before eos dipped)
    assert any(c.completion_tokens < f.completion_tokens for f, c in stopped)
    for f, c in stopped:
        assert 8 <= c.completion_tokens <= f.completion_tokens < 64
        assert c.token_ids == f.token_ids[:c.completion_tokens]  # the same trace, cut: seeds per sample
        assert c.token_cap == 64
        assert c.confidence["lowest_window"] < bar
