"""The transformers backend against the real tiny model (CPU)."""
from __future__ import annotations

import shutil
import threading

import pytest
import torch

from pipeline.generators import Generator, make_generator
from pipeline.generators.hf import HFGenerator, ModelNotFoundError, RequestTooLargeError, TokenizerNotFoundError
from pipeline.core.types import SamplingParams

PROMPTS = ["def add(a, b):", "The answer is", "for i in range(10):\n    print("]


def sampled(n=6, seed=7, **kw):
    return SamplingParams(**{"n": n, "temperature": 1.0, "max_new_tokens": 16, "seed": seed, **kw})


def texts(completions):
    return [[c.text for c in per_prompt] for per_prompt in completions]


def test_is_a_generator_and_registered(hf_generator, tiny_model_dir):
    assert isinstance(hf_generator, Generator)
    with make_generator("hf", model_path=str(tiny_model_dir), device="cpu") as other:
        assert isinstance(other, HFGenerator)


def test_greedy_equals_model_generate(hf_generator):
    # the three prompts decode as one left-padded batch; generate sees each one alone
    params = SamplingParams(temperature=0.0, max_new_tokens=24)
    ours = hf_generator.generate(PROMPTS, params)
    tokenizer, model = hf_generator.tokenizer, hf_generator.model
    for prompt, (completion,) in zip(PROMPTS, ours):
        inputs = tokenizer(prompt, return_tensors="pt")
        reference = model.generate(**inputs, do_sample=False, max_new_tokens=24, pad_token_id=tokenizer.pad_token_id)
        expected = reference[0, inputs["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in expected:
            expected = expected[: expected.index(tokenizer.eos_token_id)]
        assert completion.token_ids == expected
        assert completion.text == tokenizer.decode(expected, skip_special_tokens=True)
        assert completion.prompt_tokens == inputs["input_ids"].shape[1]


def test_n_samples_are_distinct_and_reproducible(hf_generator):
    first = hf_generator.generate(PROMPTS[:2], sampled())
    assert [len(per_prompt) for per_prompt in first] == [6, 6]
    for per_prompt in texts(first):
        assert len(set(per_prompt)) == 6
    assert texts(hf_generator.generate(PROMPTS[:2], sampled())) == texts(first)
    assert texts(hf_generator.generate(PROMPTS[:2], sampled(seed=8))) != texts(first)


def test_samples_do_not_depend_on_batch_mates_or_batch_size(hf_generator, tiny_model_dir):
    alone = hf_generator.generate([PROMPTS[0]], sampled(n=8))[0]
    with_others = hf_generator.generate([PROMPTS[2], PROMPTS[0]], sampled(n=8))[1]
    with HFGenerator(str(tiny_model_dir), device="cpu", max_batch_size=3) as narrow:
        split = narrow.generate([PROMPTS[0]], sampled(n=8))[0]
        assert narrow.stats["batches"] == 3  # 8 samples in rows of at most 3
    assert [c.token_ids for c in alone] == [c.token_ids for c in with_others] == [c.token_ids for c in split]


def test_top_k_one_is_greedy(hf_generator):
    greedy = hf_generator.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=12))
    top1 = hf_generator.generate(PROMPTS, SamplingParams(temperature=1.5, top_k=1, max_new_tokens=12, seed=3))
    tiny_p = hf_generator.generate(PROMPTS, SamplingParams(temperature=1.0, top_p=1e-6, max_new_tokens=12, seed=4))
    assert texts(greedy) == texts(top1) == texts(tiny_p)


def test_stop_sequence_cuts_text_and_tokens(hf_generator):
    params = sampled(n=4, seed=11)
    full = hf_generator.generate([PROMPTS[1]], params)[0]
    stop = full[2].text[5:7]  # two characters that occur in sample 2
    cut = hf_generator.generate([PROMPTS[1]], params.model_copy(update={"stop": [stop]}))[0]
    tokenizer = hf_generator.tokenizer
    for before, after in zip(full, cut):
        if stop in before.text:
            assert after.finish_reason == "stop"
            assert after.text == before.text[: before.text.index(stop)]
        else:
            assert (after.text, after.finish_reason) == (before.text, before.finish_reason)
        assert after.token_ids == before.token_ids[: len(after.token_ids)]
        assert after.text.startswith(tokenizer.decode(after.token_ids).rstrip("\ufffd"))
        assert after.completion_tokens == len(after.token_ids)
    assert cut[2].finish_reason == "stop"


def test_logits_processor_and_eos(hf_generator):
    eos = hf_generator.tokenizer.eos_token_id
    seen_widths = []

    def force_eos_after_three(input_ids, scores):
        seen_widths.append(input_ids.shape[1])
        if input_ids.shape[1] - seen_widths[0] == 3:
            scores = torch.full_like(scores, float("-inf"))
            scores[:, eos] = 0.0
        return scores

    out = hf_generator.generate([PROMPTS[0]], sampled(n=3), logits_processors=[force_eos_after_three])[0]
    assert [(c.finish_reason, c.completion_tokens) for c in out] == [("eos", 3)] * 3
    assert eos not in out[0].token_ids


def test_logprobs(hf_generator):
    (completion,), = hf_generator.generate([PROMPTS[0]], sampled(n=1, logprobs=True))
    assert len(completion.token_logprobs) == len(completion.token_ids) == 16
    assert completion.cumulative_logprob == pytest.approx(sum(completion.token_logprobs))
    assert all(lp <= 0 for lp in completion.token_logprobs)
    (without,), = hf_generator.generate([PROMPTS[0]], sampled(n=1))
    assert without.token_logprobs is None and without.token_ids == completion.token_ids


def test_concurrent_threads_get_sequential_results(hf_generator):
    jobs = [([PROMPTS[0]], sampled(n=4, seed=1)), (PROMPTS[1:], sampled(n=2, seed=2)),
            ([PROMPTS[2]], SamplingParams(temperature=0.0, max_new_tokens=9))]
    sequential = [texts(hf_generator.generate(*job)) for job in jobs]
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def call(i):
        barrier.wait()
        results[i] = texts(hf_generator.generate(*jobs[i]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == sequential


def test_requests_sent_together_share_a_batch(hf_generator):
    before = hf_generator.stats["batches"]
    futures = [hf_generator.submit([p], sampled(n=2, seed=5)) for p in PROMPTS]
    together = [f.result()[0] for f in futures]
    assert hf_generator.stats["batches"] == before + 1
    assert [[c.text for c in x] for x in together] == texts(hf_generator.generate(PROMPTS, sampled(n=2, seed=5)))


def test_empty_prompt_list(hf_generator):
    assert hf_generator.generate([], sampled()) == []


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist.*config.json.*models/"):
        HFGenerator(str(tmp_path / "nope"))


def test_folder_without_weights(tmp_path, tiny_model_dir):
    shutil.copy(tiny_model_dir / "config.json", tmp_path)
    with pytest.raises(ModelNotFoundError, match="no weights"):
        HFGenerator(str(tmp_path))


def test_missing_tokenizer_is_named(tmp_path, tiny_model_dir):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model_dir / name, tmp_path)
    with pytest.raises(TokenizerNotFoundError, match="no tokenizer.*tokenizer.json"):
        HFGenerator(str(tmp_path), device="cpu")


def test_request_over_memory_budget_fails_before_decoding(tiny_model_dir):
    with HFGenerator(str(tiny_model_dir), device="cpu", memory_budget_mb=0.1) as small:
        with pytest.raises(RequestTooLargeError, match="over the memory budget of 0.1 MB"):
            small.generate([PROMPTS[0]], SamplingParams(n=64, max_new_tokens=200))
        assert small.stats["batches"] == 0
        small.generate([PROMPTS[0]], SamplingParams(n=4, max_new_tokens=4))  # a small one still runs


def test_prompt_longer_than_context(hf_generator):
    with pytest.raises(RequestTooLargeError, match="context of 256 tokens"):
        hf_generator.generate(["word " * 400], sampled())
    (completion,), = hf_generator.generate(["word " * 40], sampled(n=1, max_new_tokens=1000))
    assert completion.finish_reason == "length" and completion.prompt_tokens + completion.completion_tokens == 256
