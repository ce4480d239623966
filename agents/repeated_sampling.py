"""Repeated sampling (Large Language Monkeys): N independent samples of the same prompt.

Coverage (any sample correct) grows roughly log-linearly with N; a selector then has to find
the correct sample among them.
"""
from __future__ import annotations

import time

from agents.base import Generate, Tools, candidate_content, task_params, task_prompt
from agents.options import StrategyOptions, option
from pipeline.core.types import Candidate, SamplingParams, Task, Trajectory


class RepeatedSamplingOptions(StrategyOptions):
    chat: bool = option(False, "send the task's chat messages, for instruct models")


class RepeatedSampling:
    """`chat=True`: send the task's chat messages (metadata "chat", else the prompt as one user
    turn) so an instruct model answers inside its chat template."""

    name = "repeated_sampling"
    Options = RepeatedSamplingOptions

    def __init__(self, chat: bool = False):
        self.chat = chat

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        started = time.perf_counter()
        completions = generate([task_prompt(task, self.chat)], task_params(task, params, self.chat))[0]
        seconds = (time.perf_counter() - started) / max(len(completions), 1)
        return [Trajectory(task_id=task.id, sample_index=start_index + i, completion=c,
                           seed=params.seed, generation_s=seconds)
                for i, c in enumerate(completions)]

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index,
                         content=candidate_content(task, trajectory.completion.text, self.chat))
