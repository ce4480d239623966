"""Prompt + completion token batches and their per-sequence log-probabilities (any causal LM)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pipeline.training.losses import sequence_logprobs


@dataclass(frozen=True)
class Encoded:
    """Token ids of prompt + completion, and where the completion starts."""

    ids: list[int]
    start: int


def encode(tokenizer, prompt: str, completion: str) -> Encoded:
    """The prompt as the hf generator encodes it, then the completion and eos (what a sample
    that ended by itself consists of)."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    completion_ids = tokenizer.encode(completion, add_special_tokens=False) + [tokenizer.eos_token_id]
    return Encoded(prompt_ids + completion_ids, len(prompt_ids))


def make_batch(rows: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded input ids, attention mask, and labels on the completion tokens only."""
    width = max(len(row.ids) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row.ids)] = torch.tensor(row.ids)
        labels[i, row.start : len(row.ids)] = torch.tensor(row.ids[row.start:])
        attention[i, : len(row.ids)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": attention.to(device), "labels": labels.to(device)}


def batch_logprobs(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: summed log-probability of its completion tokens, and their count."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return sequence_logprobs(logits, batch["labels"])
