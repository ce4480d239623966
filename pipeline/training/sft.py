"""Learning from a run's verified samples: cross-entropy (`sft_verified`, rejection-sampling
fine-tuning / STaR) or direct coverage optimisation (`dco`), on the same batches."""
from __future__ import annotations

import random

import torch

from pipeline.training.batches import Encoded, batch_logprobs, encode, make_batch
from pipeline.training.config import TrainConfig
from pipeline.training.data import verified_examples
from pipeline.training.losses import cross_entropy_loss, dco_loss, dco_weight


class VerifiedBatches:
    """Batches of the run's passing samples, one shuffled pass after another (seeded per rank)."""

    def __init__(self, config: TrainConfig, tokenizer, rank: int):
        examples = verified_examples(config.data.run_dir, config.data.max_examples)
        self.rows = [encode(tokenizer, e.prompt, e.completion) for e in examples]
        self.batch_size, self.pad_id = config.optim.batch_size, tokenizer.pad_token_id
        self.rng = random.Random(config.seed * 1009 + rank)
        self.order: list[Encoded] = []

    def next(self, device: torch.device) -> dict[str, torch.Tensor]:
        picked = []
        while len(picked) < self.batch_size:
            if not self.order:
                self.order = self.rng.sample(self.rows, len(self.rows))
            picked.append(self.order.pop())
        return make_batch(picked, self.pad_id, device)


def _device(policy) -> torch.device:
    return next(policy.parameters()).device


class VerifiedSFT:
    """Cross-entropy on the passing samples of `data.run_dir`."""

    def __init__(self, config: TrainConfig, policy, tokenizer, rank: int = 0):
        self.batches, self.device = VerifiedBatches(config, tokenizer, rank), _device(policy)

    def loss(self, model, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        seq_logprobs, counts = batch_logprobs(model, self.batches.next(self.device))
        return cross_entropy_loss(seq_logprobs, counts), {
            "samples_drawn": 0, "train_tokens": int(counts.sum()),
            "mean_seq_prob": float(seq_logprobs.detach().exp().mean())}


class CoverageFineTune:
    """DCO (`dco.n` = N) on the passing samples of `data.run_dir`: each trajectory's gradient is
    cross-entropy's times dco_weight(p, N), which falls as the model's probability p of it rises."""

    def __init__(self, config: TrainConfig, policy, tokenizer, rank: int = 0):
        self.batches, self.device, self.n = VerifiedBatches(config, tokenizer, rank), _device(policy), config.dco.n

    def loss(self, model, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        seq_logprobs, counts = batch_logprobs(model, self.batches.next(self.device))
        weights = dco_weight(seq_logprobs.detach().exp(), self.n)
        return dco_loss(seq_logprobs, counts, self.n), {
            "samples_drawn": 0, "train_tokens": int(counts.sum()),
            "mean_seq_prob": float(seq_logprobs.detach().exp().mean()), "mean_dco_weight": float(weights.mean())}
