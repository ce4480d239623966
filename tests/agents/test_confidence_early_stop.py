"""repeated_sampling with early_stop: confidence (DeepConf online) on the real tiny-math model:
warm-up traces set the threshold, later ones stop at it, the task's vote settles by confidence."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import agents.confidence_stop as confidence_stop
from agents import make_agent
from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.types import Candidate, SamplingParams
from pipeline.engine.task_state import TaskState
from pipeline.generators.confidence import percentile
from pipeline.judging.summary import confidence_stop_savings

TINY_MATH = str(Path(__file__).resolve().parents[2] / "models" / "tiny-math")
TASK = make_tasks("test", 1)[0]
PARAMS = SamplingParams(n=8, temperature=1.0, max_new_tokens=64)
OPTIONS = dict(early_stop="confidence", warmup=8, keep_percent=50, confidence_window=8, confidence_tail=8)


@pytest.fixture(scope="module")
def generate():
    from pipeline.generators.hf import HFGenerator

    with HFGenerator(TINY_MATH, device="cpu") as generator:
        yield generator.generate


def chunk(agent, generate, start: int):
    return agent.run(TASK, generate, PARAMS.model_copy(update={"seed": 100 + start}), start_index=start)


def test_warm_up_sets_the_bar_and_later_traces_stop_at_it(generate):
    agent = make_agent("repeated_sampling", **OPTIONS)
    warm = chunk(agent, generate, 0)
    assert all(t.completion.finish_reason != "low_confidence" for t in warm)  # warm-up runs unstopped
    bar = percentile([t.completion.confidence["lowest_window"] for t in warm], 50)
    assert agent.calibrations.of(TASK.id).threshold() == pytest.approx(bar)
    later = chunk(agent, generate, 8)
    free = chunk(make_agent("repeated_sampling", confidence_window=8, confidence_tail=8), generate, 8)
    stopped = [t for t in later if t.completion.finish_reason == "low_confidence"]
    assert stopped and sum(t.completion.completion_tokens for t in later) < sum(
        t.completion.completion_tokens for t in free)
    for t in stopped:
        candidate = agent.candidate(TASK, t)
        assert candidate.stopped_early and candidate.content == ""  # unfinished: no answer to judge
        assert agent.ballot_weight(candidate) is None  # and no ballot in the engine's vote


def test_a_later_chunk_that_starts_first_waits_for_the_warm_up(generate):
    """The threshold, and so every sample, depends on the seed alone, not on which thread ran first."""
    in_order = make_agent("repeated_sampling", **OPTIONS)
    chunk(in_order, generate, 0)
    expected = [t.completion for t in chunk(in_order, generate, 8)]
    agent = make_agent("repeated_sampling", **OPTIONS)
    got: dict = {}
    later = threading.Thread(target=lambda: got.update(later=chunk(agent, generate, 8)))
    later.start()
    time.sleep(0.3)  # the later chunk is waiting before the warm-up has begun
    chunk(agent, generate, 0)
    later.join(timeout=120)
    assert [t.completion for t in got["later"]] == expected


def test_without_a_warm_up_in_this_process_it_runs_unstopped(generate, monkeypatch):
    """A resumed run finds its warm-up on disk: nothing to wait for, so no threshold."""
    monkeypatch.setattr(confidence_stop, "WAIT_GRACE_S", 0.2)
    agent = make_agent("repeated_sampling", **OPTIONS)
    assert all(t.completion.finish_reason != "low_confidence" for t in chunk(agent, generate, 8))


def test_a_failed_warm_up_fails_the_later_chunks_too(generate):
    agent = make_agent("repeated_sampling", **OPTIONS)

    def broken(prompts, params, logits_processors=None):
        raise RuntimeError("generator actor died")

    with pytest.raises(RuntimeError, match="died"):
        chunk(agent, broken, 0)
    with pytest.raises(confidence_stop.WarmupFailed):
        chunk(agent, generate, 8)


def test_bad_options_fail_naming_the_field():
    with pytest.raises(ValueError, match="strategy_options.keep_percent"):
        make_agent("repeated_sampling", early_stop="confidence", keep_percent=0)
    with pytest.raises(ValueError, match="strategy_options.early_stop"):
        make_agent("repeated_sampling", early_stop="sometimes")
    with pytest.raises(ValueError, match="needs confidence: true"):
        make_agent("repeated_sampling", early_stop="confidence", confidence=False)


# ------------------------------------------------------------------ the task's weighted vote

def voter(i: int, answer: str, lowest: float, stopped: bool = False) -> Candidate:
    confidence = {"mean": lowest, "lowest_window": lowest, "tail": lowest, "bottom_10": lowest}
    return Candidate(task_id="m", sample_index=i, content=answer, confidence=confidence, stopped_early=stopped)


def test_the_confidence_weighted_vote_settles_once_no_sample_to_come_can_overturn_it():
    weight = make_agent("repeated_sampling", early_stop="confidence").ballot_weight
    vote = lambda c: c.content or None  # noqa: E731
    state = TaskState(make_tasks("test", 1)[0].model_copy(update={"id": "m"}), target=6)
    state.add([voter(0, "4", 3.0), voter(1, "4", 3.0), voter(2, "5", 1.0)], tokens=0)
    # lead 6 - 1 = 5, three samples to come at up to 3.0 each: 9 could still overturn it
    assert not state.settled(False, vote, weight)
    state.add([voter(3, "4", 3.0), voter(4, "", 50.0, stopped=True)], tokens=0)
    # lead 9 - 1 = 8 over one sample to come at 3.0 (the stopped trace neither votes nor weighs)
    assert state.settled(False, vote, weight)
    # unweighted, the same ballots: lead 3 - 1 = 2 > 1 to come
    assert state.settled(False, vote)


def test_summary_counts_the_stopped_traces_and_the_tokens_they_saved():
    def sample(tokens: int, reason: str, cap: int | None = None) -> dict:
        return {"trajectory": {"completion": {"completion_tokens": tokens, "finish_reason": reason,
                                              "token_cap": cap, "confidence": {"mean": 1.0}}}}

    saved = confidence_stop_savings([sample(30, "eos"), sample(10, "low_confidence", 64), sample(20, "low_confidence", 64)])
    assert saved == {"samples_with_confidence": 3, "traces_stopped": 2, "tokens_generated": 60,
                     "tokens_saved_at_most": 98, "tokens_without_stopping_at_most": 158,
                     "saved_fraction_at_most": pytest.approx(98 / 158)}


def test_a_forged_confidence_casts_no_ballot_in_the_engines_vote():
    weight = make_agent("repeated_sampling", early_stop="confidence").ballot_weight
    forged = Candidate.model_construct(task_id="m", sample_index=0, content="7", key="k", stopped_early=False,
                                       confidence={"mean": 1.0, "lowest_window": float("inf"), "tail": 1.0,
                                                   "bottom_10": 1.0})
    assert weight(forged) is None
    assert weight(voter(1, "7", 2.5)) == 2.5
