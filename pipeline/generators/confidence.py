"""Trace confidence from token logprobs (DeepConf): plain Python, shared by every backend.

Token confidence is minus the mean of the step's top-k logprobs: a peaked distribution (one
likely token, the others far below) gives a high value, a flat one a low value. A trace's group
confidences are the means over each sliding window of `window` tokens (one group, the whole
trace, when it is shorter). Measures of a trace:

  mean           mean token confidence
  lowest_window  the lowest group confidence (DeepConf's "lowest group" / min window)
  tail           mean token confidence of the last `tail` tokens
  bottom_10      mean of the lowest 10% of group confidences (at least one group)

Logprobs are floored at LOGPROB_FLOOR, so every backend reports on one finite scale and a
confidence is always within [0, CONFIDENCE_MAX]: a value outside it was not computed here.
"""
from __future__ import annotations

import math
from collections import deque

from pipeline.core.types import CONFIDENCE_MAX, CONFIDENCE_MEASURES as MEASURES

LOGPROB_FLOOR = -CONFIDENCE_MAX  # e^-100: nothing a sampler can tell from zero
BOTTOM_FRACTION = 0.1
# the likeliest token of any vocabulary up to e^20 (~5e8) entries has logprob >= -20
LOWEST_TOP_LOGPROB = -20.0


class BadLogprobs(ValueError):
    """Logprobs no real distribution has (positive, NaN, more than all the mass, a top token
    less likely than the one sampled): a server's report that cannot be trusted."""


def token_confidence(top_logprobs: list[float], k: int) -> float:
    """Minus the mean of the k largest logprobs of one step (all of them when fewer)."""
    if not top_logprobs:
        raise BadLogprobs("no top logprobs for a token")
    top = sorted((max(lp, LOGPROB_FLOOR) for lp in top_logprobs), reverse=True)[:k]
    return max(0.0, -sum(top) / len(top))  # a logprob rounded a hair above 0 must not make it negative


def check_step(top_logprobs: list[float], chosen: float | None = None) -> None:
    """Raise BadLogprobs unless these can be one step's top logprobs (and the sampled token's)."""
    if not top_logprobs or any(not isinstance(lp, (int, float)) or math.isnan(lp) for lp in top_logprobs):
        raise BadLogprobs(f"top logprobs {top_logprobs[:5]} are missing or not numbers")
    if max(top_logprobs) > 1e-6 or sum(math.exp(min(lp, 0.0)) for lp in top_logprobs) > 1 + 1e-3:
        raise BadLogprobs(f"top logprobs {top_logprobs[:5]} hold more than all the probability")
    if max(top_logprobs) < LOWEST_TOP_LOGPROB:
        raise BadLogprobs(f"the likeliest token has logprob {max(top_logprobs):g} (below {LOWEST_TOP_LOGPROB:g})")
    if chosen is not None and (math.isnan(chosen) or chosen > max(top_logprobs) + 1e-4):
        raise BadLogprobs(f"the sampled token's logprob {chosen:g} is above the likeliest token's")


def window_means(confidences: list[float], window: int) -> list[float]:
    """Mean of each full sliding window (stride 1); the whole trace when it is shorter."""
    if not confidences:
        return []
    if len(confidences) <= window:
        return [sum(confidences) / len(confidences)]
    prefix = [0.0]
    for value in confidences:
        prefix.append(prefix[-1] + value)
    return [(prefix[i + window] - prefix[i]) / window for i in range(len(confidences) - window + 1)]


def trace_measures(confidences: list[float], window: int, tail: int) -> dict[str, float] | None:
    """Every measure of MEASURES for one trace's token confidences; None for an empty trace."""
    if not confidences:
        return None
    groups = sorted(window_means(confidences, window))
    bottom = groups[:max(1, int(len(groups) * BOTTOM_FRACTION))]
    last = confidences[-tail:]
    return {"mean": sum(confidences) / len(confidences), "lowest_window": groups[0],
            "tail": sum(last) / len(last), "bottom_10": sum(bottom) / len(bottom)}


def valid_measures(confidence: object) -> bool:
    """A measures dict as trace_measures makes it: every measure, each a number in range."""
    if not isinstance(confidence, dict) or set(confidence) != set(MEASURES):
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= CONFIDENCE_MAX
               for v in confidence.values())


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ConfidenceTracker:
    """One trace's token confidences as they are decoded, and its current window's mean."""

    def __init__(self, window: int, tail: int, stop_below: float | None = None):
        self.window, self.tail, self.stop_below = window, tail, stop_below
        self.confidences: list[float] = []
        self._recent: deque[float] = deque(maxlen=window)
        self._recent_sum = 0.0

    def push(self, confidence: float) -> bool:
        """Record one token; True when a full window's mean is below `stop_below` (stop it)."""
        if len(self._recent) == self.window:
            self._recent_sum -= self._recent[0]
        self._recent.append(confidence)
        self._recent_sum += confidence
        self.confidences.append(confidence)
        return (self.stop_below is not None and len(self._recent) == self.window
                and self._recent_sum / self.window < self.stop_below)

    def measures(self, kept: int | None = None) -> dict[str, float] | None:
        """The measures over the first `kept` tokens (the ones the completion keeps)."""
        kept = len(self.confidences) if kept is None else kept
        return trace_measures(self.confidences[:kept], self.window, self.tail)
