"""confidence_vote (DeepConf offline): the hostile cases first, then keep-top-eta% on a hand-made set."""
from __future__ import annotations

import math

import pytest

from pipeline.core.types import Candidate, Task
from pipeline.judging.selectors import SELECTORS, make_selector

MATH = Task(id="m", kind="math", prompt="2+2?", answer="4")


def conf(lowest: float, mean: float = 5.0) -> dict[str, float]:
    return {"mean": mean, "lowest_window": lowest, "tail": mean, "bottom_10": lowest}


def cand(i: int, answer: str, confidence: dict | None, stopped: bool = False) -> Candidate:
    return Candidate(task_id="m", sample_index=i, content=answer, confidence=confidence, stopped_early=stopped)


def honest_pool() -> list[Candidate]:
    return [cand(0, "4", conf(3.0)), cand(1, "4", conf(3.1)), cand(2, "5", conf(2.0))]


@pytest.mark.parametrize("forged", [math.inf, 1e9, math.nan, -1.0, True])
def test_a_forged_confidence_makes_it_abstain_rather_than_win(forged):
    # model_construct skips the Candidate's own validation, as a strategy that builds it loosely might
    liar = Candidate.model_construct(task_id="m", sample_index=3, content="7", key="liar",
                                     confidence=conf(forged), stopped_early=False)
    pick = make_selector("confidence_vote", keep_percent=100).select(MATH, honest_pool() + [liar], [])
    assert pick.abstained and pick.content is None


def test_a_missing_confidence_makes_it_abstain_not_vote_without_it():
    for missing in (None, {"lowest_window": 99.0}):  # none, or not the measures a backend records
        odd = Candidate.model_construct(task_id="m", sample_index=3, content="7", key="odd",
                                        confidence=missing, stopped_early=False)
        assert make_selector("confidence_vote", keep_percent=100).select(MATH, honest_pool() + [odd], []).abstained


def test_a_stopped_trace_does_not_vote_however_confident():
    cut = cand(3, "7", conf(90.0), stopped=True)  # its "answer" is whatever it had written when stopped
    pick = make_selector("confidence_vote", keep_percent=100).select(MATH, honest_pool() + [cut], [])
    assert pick.content == "4"
    assert make_selector("confidence_vote").select(MATH, [cut], []).abstained  # nothing left to vote


def test_it_keeps_only_the_top_percent_and_weighs_them_by_confidence():
    # four confident traces say 9, six less confident ones say 4: a plain majority says 4
    pool = ([cand(i, "4", conf(2.0 + i / 10)) for i in range(6)]
            + [cand(6 + i, "9", conf(5.0 + i / 10)) for i in range(4)])
    assert make_selector("majority_vote").select(MATH, pool, []).content == "4"
    top = make_selector("confidence_vote", keep_percent=40).select(MATH, pool, [])
    assert top.content == "9" and top.margin == pytest.approx(1.0)  # only the four 9s are kept
    # all kept, weighted: 4 -> 6*2 + 1.5 = 13.5 against 9 -> 4*5 + 0.6 = 20.6
    assert make_selector("confidence_vote", keep_percent=100).select(MATH, pool, []).content == "9"
    # by another measure the 4s are the confident ones
    by_mean = [cand(c.sample_index, c.content, conf(c.confidence["lowest_window"], mean=9.0 if c.content == "4" else 1.0))
               for c in pool]
    assert make_selector("confidence_vote", keep_percent=40, measure="mean").select(MATH, by_mean, []).content == "4"


def test_it_counts_ties_at_the_cut_and_leaves_empty_answers_out():
    pool = [cand(0, "", conf(9.0)), cand(1, "3", conf(4.0)), cand(2, "8", conf(4.0)), cand(3, "8", conf(1.0))]
    pick = make_selector("confidence_vote", keep_percent=10).select(MATH, pool, [])
    assert pick.content == "3"  # the two at 4.0 tie at the cut: both kept, the lowest index wins the tie


@pytest.mark.parametrize("options, field", [({"keep_percent": 0}, "keep_percent"), ({"keep_percent": 150}, "keep_percent"),
                                            ({"keep_percent": "ten"}, "keep_percent"), ({"measure": "median"}, "measure")])
def test_bad_options_fail_in_one_line_naming_the_field(options, field):
    with pytest.raises(ValueError, match=f"selector_options.confidence_vote.{field}") as error:
        make_selector("confidence_vote", **options)
    assert "\n" not in str(error.value)


def test_it_is_registered():
    assert SELECTORS["confidence_vote"]().name == "confidence_vote"
