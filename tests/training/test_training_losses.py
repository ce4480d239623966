"""The training losses on hand-checked cases and on the real tiny-math model."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from pipeline.training.batches import batch_logprobs, encode, make_batch
from pipeline.training.losses import (advantages, coverage_nll, cross_entropy_loss, dco_loss, dco_weight,
                                      policy_gradient_loss)
from pipeline.training.loop import load_policy

PROMPT = "Question: Tom has 3 apples. He buys 4 more. How many apples does Tom have now?\nSolution:\n"
RIGHT, WRONG = "3 + 4 = 7\nAnswer: 7", "3 + 4 = 8\nAnswer: 8"


@pytest.fixture(scope="module")
def tiny_math():
    torch.manual_seed(0)
    return load_policy("models/tiny-math", torch.device("cpu"))


def _logprobs(model, tokenizer, completions):
    batch = make_batch([encode(tokenizer, PROMPT, c) for c in completions], tokenizer.pad_token_id,
                       torch.device("cpu"))
    return batch_logprobs(model, batch)


def test_dco_weight_by_hand():
    assert dco_weight(torch.tensor(0.5), 2).item() == pytest.approx(2 * 0.5 * 0.5 / (1 - 0.25))  # 2/3
    assert dco_weight(torch.tensor(0.3), 1).item() == pytest.approx(1.0)
    assert dco_weight(torch.tensor(1e-9), 64).item() == pytest.approx(1.0, abs=1e-6)


def test_dco_weight_falls_as_confidence_rises():
    p = torch.tensor([1e-4, 0.001, 0.01, 0.05, 0.2, 0.5, 0.9])
    weights = dco_weight(p, 64).tolist()
    assert all(a > b for a, b in zip(weights, weights[1:])), weights
    assert weights[-1] < 1e-50 and weights[0] > 0.99


def test_dco_loss_is_finite_for_unlikely_and_certain_trajectories():
    logp = torch.tensor([-200.0, -60.0, -1e-9], dtype=torch.float64, requires_grad=True)
    loss = coverage_nll(logp, 64)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logp.grad).all()
    assert loss[0].item() == pytest.approx(-math.log(64) + 200.0)  # -log(N p) when N p << 1
    assert logp.grad[0].item() == pytest.approx(-1.0) and abs(logp.grad[2].item()) < 1e-6


def test_dco_gradient_is_the_weight_times_cross_entropys():
    """d/dlogp of -log(1-(1-p)^N) over d/dlogp of -logp equals the closed-form weight."""
    for p, n in ((0.01, 64), (0.1, 16), (0.5, 2), (0.7, 1)):
        logp = torch.tensor(math.log(p), dtype=torch.float64, requires_grad=True)
        coverage_nll(logp, n).backward()
        assert logp.grad.item() / -1.0 == pytest.approx(dco_weight(torch.tensor(p, dtype=torch.float64), n).item(),
                                                        rel=1e-6)


def test_dco_with_n_1_is_cross_entropy_on_the_real_model(tiny_math):
    model, tokenizer = tiny_math
    grads = []
    for loss_of in (cross_entropy_loss, lambda lp, c: dco_loss(lp, c, 1)):
        model.zero_grad()
        seq, counts = _logprobs(model, tokenizer, [RIGHT, WRONG])
        loss = loss_of(seq, counts)
        loss.backward()
        grads.append((loss.item(), model.model.embed_tokens.weight.grad.clone()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-7)


def test_dco_scales_each_sequence_by_its_weight_on_the_real_model(tiny_math):
    model, tokenizer = tiny_math
    seq, counts = _logprobs(model, tokenizer, [RIGHT, WRONG])
    seq.retain_grad()
    dco_loss(seq, counts, 64).backward()
    ce_grad = -1.0 / counts.sum().item()  # d cross_entropy_loss / d logp_i
    expected = dco_weight(seq.detach().exp(), 64) * ce_grad
    assert torch.allclose(seq.grad, expected, rtol=1e-4)


def test_advantages_by_hand():
    assert advantages([1, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]) == pytest.approx([0.75, -0.25, -0.25, -0.25, 0, 0])
    std = math.sqrt(0.1875)
    assert advantages([1, 0, 0, 0], [0] * 4, "grpo") == pytest.approx([0.75 / std, -0.25 / std, -0.25 / std,
                                                                        -0.25 / std], rel=1e-4)
    assert advantages([1, 1], [0, 0], "grpo") == [0.0, 0.0]


def _one_pg_step(model, tokenizer, completions, sample_advantages):
    """Log-probs of `completions` before and after one SGD step on the policy-gradient loss."""
    model.zero_grad()
    before, counts = _logprobs(model, tokenizer, completions)
    policy_gradient_loss(before, counts, torch.tensor(sample_advantages)).backward()
    torch.optim.SGD(model.parameters(), lr=1e-3).step()
    with torch.no_grad():
        after, _ = _logprobs(model, tokenizer, completions)
    return before.detach(), after


def test_policy_gradient_raises_a_rewarded_sample_and_lowers_an_unrewarded_one(tiny_math):
    tokenizer = tiny_math[1]
    rewarded, unrewarded = advantages([1.0, 0.0], [0, 0])  # +0.5 and -0.5 against the task's mean 0.5
    before, after = _one_pg_step(copy.deepcopy(tiny_math[0]), tokenizer, [RIGHT], [rewarded])
    assert after[0] > before[0]
    before, after = _one_pg_step(copy.deepcopy(tiny_math[0]), tokenizer, [WRONG], [unrewarded])
    assert after[0] < before[0]
    # together: the advantage-weighted log-likelihood rises (the two share most tokens, so each
    # one's own log-prob may move either way; the margin of the right one must grow)
    before, after = _one_pg_step(copy.deepcopy(tiny_math[0]), tokenizer, [RIGHT, WRONG], [rewarded, unrewarded])
    assert (after[0] - after[1]) > (before[0] - before[1])
