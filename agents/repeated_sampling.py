"""Repeated sampling (Large Language Monkeys): N independent samples of the same prompt.

Coverage (any sample correct) grows roughly log-linearly with N; a selector then has to find
the correct sample among them. Each trace's confidence (DeepConf) is recorded on its candidate
for `confidence_vote`; `early_stop: confidence` is DeepConf online (agents/confidence_stop.py):
warm-up traces set a threshold, later traces stop once their window confidence falls below it,
and the engine stops the task once the confidence-weighted vote cannot be overturned
(`ballot_weight`).
"""
from __future__ import annotations

import time
from typing import Literal

from pydantic import model_validator

from agents.base import Generate, Tools, candidate_content, task_params, task_prompt
from agents.confidence_stop import Calibrations
from agents.options import StrategyOptions, option
from pipeline.generators.confidence import valid_measures
from pipeline.core.types import Candidate, ConfidenceParams, SamplingParams, Task, Trajectory


class RepeatedSamplingOptions(StrategyOptions):
    chat: bool = option(False, "send the task's chat messages, for instruct models")
    confidence: bool = option(True, "record each trace's confidence from its top-k logprobs (for confidence_vote)")
    confidence_top_k: int = option(5, "logprobs averaged per token", ge=1, le=20)
    confidence_window: int = option(16, "tokens per sliding window (group confidence)", ge=1, le=32768)
    confidence_tail: int = option(16, "last tokens of the tail measure", ge=1, le=32768)
    early_stop: Literal["none", "confidence"] = option("none", "confidence: DeepConf online early stopping")
    warmup: int = option(8, "warm-up traces per task that set the threshold (early_stop: confidence)",
                         ge=1, le=4096)
    keep_percent: float = option(90.0, "early stop keeps traces above the (100 - keep_percent)th percentile of "
                                 "the warm-up traces' lowest window confidence", gt=0, le=100)

    @model_validator(mode="after")
    def _stop_needs_confidence(self) -> RepeatedSamplingOptions:
        if self.early_stop == "confidence" and not self.confidence:
            raise ValueError("confidence: early_stop: confidence needs confidence: true")
        return self


class RepeatedSampling:
    """`chat=True`: send the task's chat messages (metadata "chat", else the prompt as one user
    turn) so an instruct model answers inside its chat template."""

    name = "repeated_sampling"
    Options = RepeatedSamplingOptions

    def __init__(self, chat: bool = False, confidence: bool = True, confidence_top_k: int = 5,
                 confidence_window: int = 16, confidence_tail: int = 16, early_stop: str = "none",
                 warmup: int = 8, keep_percent: float = 90.0):
        RepeatedSamplingOptions(chat=chat, confidence=confidence, confidence_top_k=confidence_top_k,
                                confidence_window=confidence_window, confidence_tail=confidence_tail,
                                early_stop=early_stop, warmup=warmup, keep_percent=keep_percent)
        self.chat = chat
        self.confidence = (ConfidenceParams(top_k=confidence_top_k, window=confidence_window, tail=confidence_tail)
                           if confidence else None)
        self.warmup = warmup
        self.calibrations = Calibrations(warmup, keep_percent) if early_stop == "confidence" else None
        # the engine weighs a task's ballots with it when it is set (Engine.is_settled)
        self.ballot_weight = self._confidence_weight if self.calibrations else None

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        started = time.perf_counter()
        prompt, params = task_prompt(task, self.chat), task_params(task, params, self.chat)
        if self.confidence is not None:
            params = params.model_copy(update={"confidence": self.confidence})
        sample = lambda p: generate([prompt], p)[0]  # noqa: E731
        if self.calibrations is None:
            completions = sample(params)
        elif start_index < self.warmup:
            completions = self.calibrations.of(task.id).warm_up(start_index, lambda: sample(params))
        else:
            bar = self.calibrations.of(task.id).threshold()
            completions = sample(params.model_copy(update={
                "confidence": self.confidence.model_copy(update={"stop_below": bar})}))
        seconds = (time.perf_counter() - started) / max(len(completions), 1)
        return [Trajectory(task_id=task.id, sample_index=start_index + i, completion=c,
                           seed=params.seed, generation_s=seconds)
                for i, c in enumerate(completions)]

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        """A trace stopped for low confidence is unfinished: it has no answer to judge (its last
        number or half-written program is not one); its text stays in the trajectory."""
        completion = trajectory.completion
        stopped = completion.finish_reason == "low_confidence"
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index,
                         content="" if stopped else candidate_content(task, completion.text, self.chat),
                         confidence=completion.confidence, stopped_early=stopped)

    def _confidence_weight(self, candidate: Candidate) -> float | None:
        """A ballot's weight: its lowest window confidence; None (no ballot) for a trace stopped
        early or one without a valid confidence."""
        if candidate.stopped_early or not valid_measures(candidate.confidence):
            return None
        return candidate.confidence["lowest_window"]
