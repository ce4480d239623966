"""prm: a process reward model as a verifier, scoring every step of a solution.

The candidate is a solution written step by step (steps split by `separator`, default a
newline: tiny-math writes one step a line). The model reads `task.prompt + step_1 + sep + ... +
step_k + sep` once and its token-classification head (one logit) gives, at the last token of
each separator, P(the solution is still right after this step). A causal model's score of step
i depends on steps 0..i only, so one pass over a whole solution also scores all its prefixes,
and partial solutions of a search are scored as they are (a batch per call).

Verdict: `details["step_scores"]` per step; score = the steps' aggregate (`last`, `min` or
`prod`, as in search-and-learn); passed = score >= threshold. What the model cannot score (no
steps, a text past its context) is an error verdict, never a pass.
"""
from __future__ import annotations

import math
import threading
from typing import Any

from pipeline.core.types import Candidate, Task, Verdict
from pipeline.judging.sandboxed import verify_distinct

AGGREGATIONS = ("last", "min", "prod")


def aggregate(step_scores: list[float], how: str) -> float:
    """One score for a solution from its step scores; 0 for no steps."""
    if not step_scores:
        return 0.0
    if how == "last":
        return step_scores[-1]
    if how == "min":
        return min(step_scores)
    if how == "prod":
        return math.prod(step_scores)
    raise ValueError(f"aggregation {how!r} is not one of {AGGREGATIONS}")


def split_steps(text: str, separator: str) -> list[str]:
    """The steps of a solution: non-empty pieces between separators, stripped."""
    return [s.strip() for s in text.split(separator) if s.strip()]


def scored_text(prompt: str, steps: list[str], separator: str) -> tuple[str, list[int]]:
    """The text the model reads and the character index of the last character of each step's separator."""
    text, ends = prompt, []
    for step in steps:
        text += step + separator
        ends.append(len(text) - 1)
    return text, ends


def step_token_indices(offsets: list, ends: list[int]) -> list[int]:
    """The index of the token holding each character index of `ends` (tokenizer offsets)."""
    token_at = {}
    for index, (start, stop) in enumerate(offsets):
        for char in range(start, stop):
            token_at[char] = index
    return [token_at[end] for end in ends]


class ProcessRewardModel:
    """A transformers token-classification model with one logit; `step_scores` batches texts."""

    def __init__(self, model_path: str, device: str = "auto", max_length: int | None = None):
        self.model_path, self.device, self.max_length = model_path, device, max_length
        self._model = self._tokenizer = None
        self._lock = threading.Lock()  # one load; the tokenizer is not thread-safe

    def step_scores(self, items: list[tuple[str, list[str]]], separator: str) -> list[list[float] | None]:
        """For each (prompt, steps): a score per step, or None when the text is past the context."""
        import torch

        texts, ends = zip(*(scored_text(p, s, separator) for p, s in items)) if items else ((), ())
        with self._lock:
            model, tokenizer = self._load()
            batch = tokenizer(list(texts), padding=True, return_offsets_mapping=True, return_tensors="pt")
            offsets = batch.pop("offset_mapping").tolist()
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            inputs = {k: v[:, : self.max_length].to(model.device) for k, v in batch.items()}  # past it: no score
            with torch.no_grad():
                probs = torch.sigmoid(model(**inputs).logits[..., 0].float()).cpu().tolist()
        return [self._pick(p, o, e, n) for p, o, e, n in zip(probs, offsets, ends, lengths)]

    def _pick(self, probs: list[float], offsets: list, ends: list[int], length: int) -> list[float] | None:
        if length > self.max_length:
            return None
        return [probs[i] for i in step_token_indices(offsets[:length], ends)]

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch
            from transformers import AutoModelForTokenClassification, AutoTokenizer

            device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            if self._tokenizer.pad_token is None:
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._model = AutoModelForTokenClassification.from_pretrained(self.model_path).to(device).eval()
            self.max_length = self.max_length or self._model.config.max_position_embeddings
        return self._model, self._tokenizer


class PRMVerifier:
    """The `prm` verifier: per-step scores of a process reward model (see the module docstring)."""

    name = "prm"

    def __init__(self, model_path: str, separator: str = "\n", aggregation: str = "last", threshold: float = 0.5,
                 batch_size: int = 64, device: str = "auto", max_length: int | None = None):
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"prm: aggregation {aggregation!r} is not one of {AGGREGATIONS}")
        if not separator:
            raise ValueError("prm: separator must not be empty")
        self.separator, self.aggregation, self.threshold, self.batch_size = separator, aggregation, threshold, batch_size
        self.model = ProcessRewardModel(model_path, device, max_length)

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return verify_distinct(candidates, lambda firsts: self._judge(task, firsts))

    def _judge(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        steps = [split_steps(c.content, self.separator) for c in candidates]
        scorable = [i for i, s in enumerate(steps) if s]
        scores: dict[int, list[float] | None] = {}
        for start in range(0, len(scorable), self.batch_size):
            chunk = scorable[start : start + self.batch_size]
            found = self.model.step_scores([(task.prompt, steps[i]) for i in chunk], self.separator)
            scores.update(zip(chunk, found))
        return [self._verdict(task, c, scores[i] if i in scores else "no steps to score")
                for i, c in enumerate(candidates)]

    def _verdict(self, task: Task, candidate: Candidate, step_scores: list[float] | str | None) -> Verdict:
        about = dict(task_id=task.id, candidate_key=candidate.key, verifier=self.name)
        if not isinstance(step_scores, list):
            return Verdict(**about, passed=False, error=step_scores or "solution longer than the model's context")
        score = aggregate(step_scores, self.aggregation)
        return Verdict(**about, passed=score >= self.threshold, score=score,
                       details={"step_scores": step_scores, "aggregation": self.aggregation})
