"""HFGenerator's per-token hook (`on_token`, `top_logprobs`) and cancellation, on the tiny model (CPU)."""
from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest
import torch

from pipeline.core.types import SamplingParams
from pipeline.generators.hf import TokenStep

PROMPT = "def add(a, b):"


def collect(generator, prompts, params, **kwargs):
    steps: list[TokenStep] = []
    future = generator.submit(prompts, params, on_token=steps.append, **kwargs)
    return future.result(timeout=60), steps


def no_eos(generator):
    """A logits processor that bans end-of-sequence, so rows run to max_new_tokens."""
    banned = sorted(generator.eos_ids)

    def ban(_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores[:, banned] = float("-inf")
        return scores

    return ban


def test_steps_report_each_kept_token_with_its_logprob(hf_generator):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=10, seed=4, logprobs=True)
    (completions,), steps = collect(hf_generator, [PROMPT], params)
    for sample, completion in enumerate(completions):
        mine = [s for s in steps if s.sample_index == sample]
        assert [s.token_id for s in mine] == completion.token_ids
        assert [s.logprob for s in mine] == pytest.approx(completion.token_logprobs)
        assert all(s.top == () for s in mine)  # no alternatives unless asked


def test_top_logprobs_are_the_models_most_likely_tokens(hf_generator):
    params = SamplingParams(temperature=0.0, max_new_tokens=6)
    (completions,), steps = collect(hf_generator, [PROMPT], params, top_logprobs=4)
    assert [s.token_id for s in steps] == completions[0].token_ids
    ids = torch.tensor([hf_generator.tokenizer(PROMPT)["input_ids"]])
    with torch.inference_mode():
        first = hf_generator.model(input_ids=ids).logits[0, -1].float().log_softmax(-1)
    values, expected = first.topk(4)
    assert [token for token, _ in steps[0].top] == expected.tolist()
    assert [lp for _, lp in steps[0].top] == pytest.approx(values.tolist(), abs=1e-4)
    for step in steps:  # greedy: the chosen token is the most likely one
        assert len(step.top) == 4
        assert step.top[0] == (step.token_id, pytest.approx(step.logprob))


def test_tokens_past_a_stop_sequence_are_reported_but_not_kept(hf_generator):
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=20, seed=2, stop=["e"])
    (completions,), steps = collect(hf_generator, [PROMPT], params)
    stopped = [c for c in completions if c.finish_reason == "stop"]
    assert stopped
    for sample, completion in enumerate(completions):
        reported = [s.token_id for s in steps if s.sample_index == sample]
        assert reported[: len(completion.token_ids)] == completion.token_ids
        if completion.finish_reason == "stop":
            assert len(reported) >= len(completion.token_ids)


def test_cancelling_a_running_request_drops_its_rows(hf_generator):
    params = SamplingParams(n=4, temperature=1.0, max_new_tokens=60, seed=1)
    processors = [no_eos(hf_generator)]
    full = hf_generator.submit([PROMPT], params, processors, on_token=lambda _s: None).result(timeout=120)
    assert all(c.completion_tokens == 60 for c in full[0])

    steps: list[TokenStep] = []
    holder: dict = {}
    submitted = threading.Event()

    def cancel_on_first(step: TokenStep) -> None:
        submitted.wait(10)  # runs on the worker thread, possibly before submit has returned
        steps.append(step)
        holder["future"].cancel()

    holder["future"] = future = hf_generator.submit([PROMPT], params, processors, on_token=cancel_on_first)
    submitted.set()
    with pytest.raises(CancelledError):
        future.result(timeout=60)
    assert future.cancelled()
    # the worker survived, and the next request (queued behind the cancelled batch) is answered
    assert hf_generator.generate([PROMPT], SamplingParams(max_new_tokens=3, seed=0))[0][0].completion_tokens <= 3
    assert len(steps) <= 4  # the step that cancelled it, then nothing


def test_a_failing_observer_fails_only_its_own_request(hf_generator):
    def explode(_step: TokenStep) -> None:
        raise RuntimeError("observer broke")

    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=8, seed=3)
    broken = hf_generator.submit([PROMPT], params, on_token=explode)
    healthy = hf_generator.submit([PROMPT], params)
    with pytest.raises(RuntimeError, match="observer broke"):
        broken.result(timeout=60)
    assert len(healthy.result(timeout=60)[0]) == 2


def test_top_logprobs_outside_the_vocabulary_is_refused(hf_generator):
    with pytest.raises(ValueError, match="top_logprobs"):
        hf_generator.submit([PROMPT], SamplingParams(), top_logprobs=hf_generator.vocab_size + 1)
