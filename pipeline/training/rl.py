"""`rl_verifier`: policy gradient on fresh samples, rewarded by the task's verifier.

Each step draws `rl.samples_per_prompt` samples for each of `rl.prompts_per_step` train-split
tasks with the hf generator's own decode loop, running on the very weights being trained (its
model is the policy: one copy of the weights, sampled between optimiser steps). The verifier
(`exact_answer` for arithmetic, no sandbox) gives reward 1 or 0; the advantage is the reward
minus the task's mean (REINFORCE with a per-task baseline) or that over the task's std (GRPO).
Samples with advantage 0 carry no gradient and are not forwarded.
"""
from __future__ import annotations

import random

import torch

from agents.base import candidate_content, task_params
from pipeline.core.types import Candidate, Completion, SamplingParams, Task
from pipeline.generators.hf import HFGenerator
from pipeline.judging.verifiers import make_verifier
from pipeline.training.batches import Encoded, batch_logprobs, make_batch
from pipeline.training.config import TrainConfig
from pipeline.training.data import train_tasks_of
from pipeline.training.losses import advantages, policy_gradient_loss


def sampled_sequence(prompt_ids: list[int], completion: Completion, eos_id: int) -> Encoded:
    """The tokens the policy actually drew (eos included when it ended on eos)."""
    tail = [eos_id] if completion.finish_reason == "eos" else []
    return Encoded(prompt_ids + completion.token_ids + tail, len(prompt_ids))


class VerifierPolicyGradient:
    def __init__(self, config: TrainConfig, policy, tokenizer, rank: int = 0):
        self.rl, self.seed, self.rank = config.rl, config.seed, rank
        self.tasks = train_tasks_of(config.rl.tasks, "rl.tasks")
        self.verifier = make_verifier(config.rl.verifier, **config.rl.verifier_options)
        device = next(policy.parameters()).device
        self.generator = HFGenerator(config.model.path, device=str(device), dtype="float32",
                                     max_batch_size=config.rl.prompts_per_step * config.rl.samples_per_prompt)
        self.generator.model = policy  # sample from the weights being trained, not the copy it loaded
        self.tokenizer, self.device = tokenizer, device
        self.rng = random.Random(config.seed * 1009 + rank)

    def loss(self, model, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        tasks = self.rng.sample(self.tasks, min(self.rl.prompts_per_step, len(self.tasks)))
        completions = self._sample(tasks, step)
        rewards = [r for task, group in zip(tasks, completions) for r in self._rewards(task, group)]
        groups = [g for g, group in enumerate(completions) for _ in group]
        sample_advantages = advantages(rewards, groups, self.rl.advantage)
        rows, kept = self._rows(tasks, completions, sample_advantages)
        if not rows:  # every group all right or all wrong: a zero-weight forward keeps DDP workers in step
            rows, kept = [sampled_sequence(self.tokenizer(tasks[0].prompt)["input_ids"], completions[0][0],
                                           self.tokenizer.eos_token_id)], [0.0]
        seq_logprobs, counts = batch_logprobs(model, make_batch(rows, self.tokenizer.pad_token_id, self.device))
        loss = policy_gradient_loss(seq_logprobs, counts, torch.tensor(kept, device=self.device))
        return loss, {"samples_drawn": len(rewards), "reward_mean": sum(rewards) / len(rewards),
                      "train_tokens": int(counts.sum()), "trained_samples": sum(a != 0 for a in kept)}

    def _sample(self, tasks: list[Task], step: int) -> list[list[Completion]]:
        base = SamplingParams(n=self.rl.samples_per_prompt, temperature=self.rl.temperature,
                              max_new_tokens=self.rl.max_new_tokens)
        futures = [self.generator.submit([task.prompt], task_params(task, base).model_copy(
            update={"seed": (self.seed * 1_000_003 + step) * 1009 + self.rank * 97 + i}))
            for i, task in enumerate(tasks)]  # submitted together, they share one decode batch
        return [future.result()[0] for future in futures]

    def _rewards(self, task: Task, group: list[Completion]) -> list[float]:
        candidates = [Candidate(task_id=task.id, sample_index=i, content=candidate_content(task, c.text))
                      for i, c in enumerate(group)]
        distinct = list({c.key: c for c in candidates}.values())  # judge each distinct answer once
        passed = {v.candidate_key: v.passed for v in self.verifier.verify(task, distinct)}
        return [float(passed[c.key]) for c in candidates]

    def _rows(self, tasks: list[Task], completions: list[list[Completion]],
              sample_advantages: list[float]) -> tuple[list[Encoded], list[float]]:
        rows, kept, index = [], [], 0
        for task, group in zip(tasks, completions):
            prompt_ids = self.tokenizer(task.prompt)["input_ids"]
            for completion in group:
                if sample_advantages[index] != 0:
                    rows.append(sampled_sequence(prompt_ids, completion, self.tokenizer.eos_token_id))
                    kept.append(sample_advantages[index])
                index += 1
        return rows, kept
