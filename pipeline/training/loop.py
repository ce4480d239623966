"""The training loop: plain torch, the same on one CPU worker or a Ray Train GPU worker.

`train(config, device, rank, wrap, on_checkpoint)` loads the model, builds the method by name,
and steps AdamW on its loss; `wrap` is where Ray Train's prepare_model (DDP) comes in, and
`on_checkpoint(step, policy, tokenizer, curve)` is called every `checkpoint_every` steps and
after the last.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import torch

from pipeline.training.config import TrainConfig
from pipeline.training.registry import make_method

OnCheckpoint = Callable[[int, Any, Any, list[dict]], None]


def load_policy(path: str, device: torch.device):
    from transformers import AutoModelForCausalLM

    from pipeline.generators.hf import check_model_folder, load_tokenizer

    folder = check_model_folder(path)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device)
    return model.train(), load_tokenizer(folder)


def checkpoint_due(step: int, config: TrainConfig) -> bool:
    every = config.checkpoint_every
    return step == config.optim.steps or (every is not None and step % every == 0)


def train(config: TrainConfig, device: torch.device, rank: int = 0, wrap: Callable = lambda m: m,
          on_checkpoint: OnCheckpoint | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Runs config.optim.steps steps; returns one record per step (loss, compute spent, stats)."""
    torch.manual_seed(config.seed * 1009 + rank)
    policy, tokenizer = load_policy(config.model.path, device)
    method = make_method(config.method, config=config, policy=policy, tokenizer=tokenizer, rank=rank)
    model = wrap(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay,
                                  betas=(0.9, 0.95))
    curve, started = [], time.perf_counter()
    for step in range(1, config.optim.steps + 1):
        loss, stats = method.loss(model, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.optim.grad_clip)
        optimizer.step()
        curve.append({"step": step, "loss": round(loss.item(), 6), **stats,
                      "seconds": round(time.perf_counter() - started, 2)})
        if rank == 0 and (step % 10 == 0 or step == 1):
            log(json.dumps(curve[-1]))
        if on_checkpoint is not None and checkpoint_due(step, config):
            on_checkpoint(step, policy, tokenizer, curve)
    return curve
