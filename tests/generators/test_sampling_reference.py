"""sampling.py against transformers' own warpers (the reference semantics of temperature, top-k,
top-p), the sampler's token frequencies against the filtered distribution, and seeded
reproducibility with the filters on.

Already covered in test_hf.py and not repeated here: greedy output equal to `model.generate`
(test_greedy_equals_model_generate), same seed same samples on one instance and on a second
instance with another batch size (test_n_samples_are_distinct_and_reproducible,
test_samples_do_not_depend_on_batch_mates_or_batch_size), top_k=1 and a tiny top_p are greedy.
"""
from __future__ import annotations

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from pipeline.generators.sampling import filtered_sorted_probs, sample_tokens
from pipeline.core.types import SamplingParams


def random_rows(rows: int, vocab: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Logits from flat to peaky, per-row temperature, top-k (half off) and top-p (a fifth off).
    Rows with two equal logits are dropped: ties are where the two top-k rules differ (below)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=g) * (torch.rand(rows, 1, generator=g) * 8 + 0.1)
    temperature = torch.rand(rows, generator=g) * 1.7 + 0.3
    top_k = torch.randint(1, 60, (rows,), generator=g) * (torch.rand(rows, generator=g) < 0.5)
    top_p = torch.where(torch.rand(rows, generator=g) < 0.8, torch.rand(rows, generator=g).clamp(min=1e-4), 1.0)
    distinct = (logits.sort(dim=-1).values.diff(dim=-1) != 0).all(dim=-1)
    return logits[distinct], temperature[distinct], top_k[distinct], top_p[distinct]


def reference_probs(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """transformers' sampling chain for one row, in generate's order: temperature, top-k, top-p."""
    scores = TemperatureLogitsWarper(temperature)(None, logits.unsqueeze(0).clone())
    if top_k > 0:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores.softmax(dim=-1).squeeze(0)


def ours_in_vocab_order(logits, temperature, top_k, top_p) -> torch.Tensor:
    probs, order = filtered_sorted_probs(logits, temperature, top_k, top_p)
    unsorted = torch.zeros_like(probs).scatter(-1, order, probs)
    return unsorted / unsorted.sum(dim=-1, keepdim=True)


def test_filters_keep_the_same_tokens_with_the_same_probabilities_as_transformers():
    logits, temperature, top_k, top_p = random_rows(1500, 300, seed=0)
    assert len(logits) > 1400
    ours = ours_in_vocab_order(logits, temperature, top_k, top_p)
    for row in range(len(logits)):
        reference = reference_probs(logits[row], float(temperature[row]), int(top_k[row]), float(top_p[row]))
        kept = reference > 0
        assert torch.equal(ours[row] > 0, kept), (
            f"row {row}: top_k={int(top_k[row])} top_p={float(top_p[row])}: we keep "
            f"{int((ours[row] > 0).sum())} tokens, transformers {int(kept.sum())}")
        torch.testing.assert_close(ours[row], reference, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("top_p", [1e-6, 0.3, 0.9, 0.999])
def test_top_p_keeps_the_smallest_prefix_that_reaches_top_p(top_p):
    logits, *_ = random_rows(200, 50, seed=1)
    probs, _ = filtered_sorted_probs(logits, torch.ones(len(logits)), torch.zeros(len(logits), dtype=torch.long),
                                     torch.full((len(logits),), top_p))
    full = logits.softmax(dim=-1).sort(dim=-1, descending=True).values.double()
    kept = (probs > 0).sum(dim=-1)
    assert (probs[:, 0] > 0).all()  # the most likely token always stays
    for row, count in enumerate(kept.tolist()):
        assert full[row, :count].sum() >= top_p - 1e-6
        assert count == 1 or full[row, : count - 1].sum() < top_p + 1e-6
        assert (probs[row, count:] == 0).all()


def test_top_k_ties_go_to_the_lower_token_id():
    # transformers keeps every token tied with the k-th (here 4 of them); we keep exactly k,
    # broken by token id (stable sort), so a row's draw never depends on sort internals
    logits = torch.tensor([[1.0, 3.0, 2.0, 2.0, 2.0, 0.0]])
    probs, order = filtered_sorted_probs(logits, torch.ones(1), torch.tensor([2]), torch.ones(1))
    assert order[0, :2].tolist() == [1, 2] and (probs[0, 2:] == 0).all()
    assert int((reference_probs(logits[0], 1.0, 2, 1.0) > 0).sum()) == 4


def test_sampled_token_frequencies_follow_the_filtered_distribution():
    # evenly spaced uniforms: each token must be drawn round(p * draws) times, give or take one
    logits, temperature, top_k, top_p = (x[:6] for x in random_rows(50, 40, seed=2))
    draws = 20_000
    uniforms = (torch.arange(draws, dtype=torch.float64) + 0.5) / draws
    for row in range(len(logits)):
        expected = reference_probs(logits[row], float(temperature[row]), int(top_k[row]), float(top_p[row]))
        tokens = sample_tokens(logits[row].expand(draws, -1), temperature[row].expand(draws),
                               top_k[row].expand(draws), top_p[row].expand(draws), uniforms)
        counts = torch.bincount(tokens, minlength=logits.shape[1]).double()
        assert (counts[expected == 0] == 0).all()
        assert (counts - expected.double() * draws).abs().max() <= 1.5


def test_seeded_samples_with_filters_repeat_on_fresh_generators(tiny_model_dir):
    from pipeline.generators.hf import HFGenerator

    params = SamplingParams(n=5, temperature=0.8, top_p=0.9, top_k=20, max_new_tokens=12, seed=123)
    prompts = ["def add(a, b):", "The answer is"]
    runs = []
    for global_seed in (0, 1):  # the global RNG must not matter: each sample has its own stream
        torch.manual_seed(global_seed)
        with HFGenerator(str(tiny_model_dir), device="cpu") as generator:
            runs.append([[c.token_ids for c in per_prompt] for per_prompt in generator.generate(prompts, params)])
    assert runs[0] == runs[1]
    assert len({tuple(ids) for ids in runs[0][0]}) > 1  # really sampled, not greedy
