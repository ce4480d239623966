"""Sampling helpers: small pure functions on a batch of next-token logits.

Every row carries its own temperature, top-k, top-p and uniform random number, so
rows from different requests share one decode batch without influencing each other.
Sampling is by inverse CDF over the probabilities sorted by logit (stable sort): the
token a row gets depends only on that row's logits and its own uniform, never on
which other rows happen to be in the batch.
"""
from __future__ import annotations

import hashlib

import torch


def row_seed(seed: int, sample_index: int) -> int:
    """A 63-bit seed for sample `sample_index` of a request seeded with `seed`."""
    digest = hashlib.blake2b(f"{seed}:{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def row_uniforms(seed: int, steps: int) -> torch.Tensor:
    """`steps` uniforms in [0, 1) from a CPU generator: same seed, same numbers on any device."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(steps, generator=generator, dtype=torch.float64)


def filtered_sorted_probs(
    logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities in descending-logit order after temperature, top-k and top-p, and that order.

    top_k == 0 and top_p == 1 disable their filter; the most likely token always stays.
    """
    vocab = logits.shape[-1]
    sorted_logits, order = logits.float().sort(dim=-1, descending=True, stable=True)
    scaled = sorted_logits / temperature.clamp(min=1e-5).unsqueeze(-1)
    ranks = torch.arange(vocab, device=logits.device).unsqueeze(0)
    keep_k = torch.where(top_k > 0, top_k, vocab).unsqueeze(-1)
    probs = scaled.masked_fill(ranks >= keep_k, float("-inf")).softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    outside_p = (mass_before >= top_p.unsqueeze(-1)) & (top_p < 1.0).unsqueeze(-1)
    return probs.masked_fill(outside_p, 0.0), order


def inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Index i per row with cdf[i-1] <= u * total < cdf[i]; never an index of zero probability."""
    cdf = probs.double().cumsum(dim=-1)
    targets = (uniforms.to(cdf) * cdf[:, -1]).unsqueeze(-1)
    index = torch.searchsorted(cdf, targets, right=True).squeeze(-1)
    return index.clamp(max=probs.shape[-1] - 1)


def sample_tokens(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    uniforms: torch.Tensor,
) -> torch.Tensor:
    """Next token per row; rows with temperature 0 take the argmax (greedy)."""
    probs, order = filtered_sorted_probs(logits, temperature, top_k, top_p)
    picked = order.gather(-1, inverse_cdf(probs, uniforms).unsqueeze(-1)).squeeze(-1)
    return torch.where(temperature == 0, logits.argmax(dim=-1), picked)


def find_stop(text: str, stops: list[str], start: int = 0) -> int:
    """Position of the earliest stop sequence that begins at or after `start`, or -1."""
    found = [i for i in (text.find(stop, max(start, 0)) for stop in stops if stop) if i >= 0]
    return min(found, default=-1)
