"""Quiet-STaR backend: decodes a Quiet-STaR checkpoint with thoughts before every visible token.

At each step the model thinks n thoughts of L tokens after the last text position (in parallel,
pipeline/generators/quiet_star_model.py), mixes each post-thought prediction with the base one through its
mixing head, averages the n mixed distributions and samples the next visible token from that
with the request's SamplingParams (same sampler and per-sample seeds as the hf backend).

Thought tokens never appear in the text. `completion_tokens` counts the compute: visible tokens
plus n * (L + 2) thought tokens (start, L sampled, end) for every decoding step.

The samples of one prompt decode together (up to max_batch_size rows, each row thinking n
thoughts); calls are served one at a time (a lock), so concurrent actor threads queue up.
"""
from __future__ import annotations

import random
import threading
from dataclasses import replace

import torch

from pipeline.generators.chat import check_messages, render_chat
from pipeline.generators.hf import check_model_folder, pick_device, pick_dtype
from pipeline.generators.sampling import find_stop, row_seed, row_uniforms, sample_tokens
from pipeline.core.types import Completion, SamplingParams


class QuietStarGenerator:
    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", max_batch_size: int = 64):
        from pipeline.generators.quiet_star_model import QuietStarModel

        path = check_model_folder(model_path)
        self.device = pick_device(device)
        self.model, self.tokenizer = QuietStarModel.load(path, self.device, pick_dtype(dtype, self.device))
        self.max_batch_size = max_batch_size
        eos = self.model.lm.generation_config.eos_token_id
        self.eos_ids = {i for i in [*(eos if isinstance(eos, list) else [eos]), self.tokenizer.eos_token_id]
                        if i is not None}
        self.max_positions = getattr(self.model.lm.config.get_text_config(), "max_position_embeddings", None)
        self._lock = threading.Lock()

    @property
    def settings(self) -> dict:
        """The checkpoint's default thought settings."""
        from dataclasses import asdict

        return asdict(self.model.settings)

    def generate(self, prompts: list[str], params: SamplingParams,
                 logits_processors: list | None = None) -> list[list[Completion]]:
        """Completions with the checkpoint's own thought settings."""
        return self.generate_with_thoughts(prompts, params, logits_processors=logits_processors)

    def generate_with_thoughts(self, prompts: list[str], params: SamplingParams, n_thoughts: int | None = None,
                               thought_length: int | None = None,
                               logits_processors: list | None = None) -> list[list[Completion]]:
        """For each prompt, params.n completions; None settings keep the checkpoint's."""
        settings = replace(self.model.settings, **{k: v for k, v in
                                                   (("n_thoughts", n_thoughts), ("thought_length", thought_length))
                                                   if v is not None})
        seed = params.seed if params.seed is not None else random.SystemRandom().getrandbits(62)
        with self._lock, torch.inference_mode():
            return [self._complete(prompt, params, settings, seed, list(logits_processors or []))
                    for prompt in prompts]

    def _complete(self, prompt, params: SamplingParams, settings, seed: int, processors: list) -> list[Completion]:
        if not isinstance(prompt, str):  # chat messages
            prompt = render_chat(self.tokenizer, check_messages(prompt))
        prompt_ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        if not prompt_ids:
            raise ValueError(f"prompt {prompt[:40]!r} encodes to no tokens")
        max_new = self._new_token_cap(len(prompt_ids), params.max_new_tokens, settings.thought_length)
        completions: list[Completion] = []
        for start in range(0, params.n, self.max_batch_size):
            samples = list(range(start, min(start + self.max_batch_size, params.n)))
            decode = _ThinkingDecode(self, prompt_ids, samples, params, settings, seed, max_new, processors)
            completions += decode.run()
        return completions

    def _new_token_cap(self, prompt_len: int, max_new_tokens: int, thought_length: int) -> int:
        if self.max_positions is None:
            return max_new_tokens
        room = self.max_positions - prompt_len - thought_length - 2  # a thought's positions run past the text
        if room <= 0:
            raise ValueError(f"prompt of {prompt_len} tokens plus a thought of {thought_length + 2} tokens does "
                             f"not fit the model's context of {self.max_positions} tokens")
        return min(max_new_tokens, room)


class _ThinkingDecode:
    """The samples of one prompt, decoded together; finished rows leave the batch."""

    def __init__(self, gen: QuietStarGenerator, prompt_ids: list[int], samples: list[int], params: SamplingParams,
                 settings, seed: int, max_new: int, processors: list):
        self.gen, self.params, self.settings, self.max_new = gen, params, settings, max_new
        self.prompt_ids, self.samples, self.processors = prompt_ids, samples, processors
        device = gen.device
        self.rows = list(range(len(samples)))  # indices of rows still decoding
        self.tokens: list[list[int]] = [[] for _ in samples]
        self.logprobs: list[list[float]] = [[] for _ in samples]
        self.steps = [0] * len(samples)
        self.finish: list[str | None] = [None] * len(samples)
        self.cut: list[int | None] = [None] * len(samples)
        self.uniforms = torch.stack([row_uniforms(row_seed(seed, i), max_new) for i in samples]).to(device)
        self.thought_rng = torch.Generator(device=device).manual_seed(row_seed(seed, samples[0]) ^ 0x7468)
        self.seq = torch.tensor([prompt_ids] * len(samples), device=device)
        hidden, self.cache = gen.model.read_text(self.seq)
        self.last = hidden[:, -1]

    def run(self) -> list[Completion]:
        p = self.params
        for step in range(self.max_new):
            scores, _ = self.gen.model.next_token_scores(self.cache, self.last, self.settings, self.thought_rng)
            for processor in self.processors:
                scores = processor(self.seq, scores)
            rows = len(self.rows)
            tokens = sample_tokens(scores, torch.full((rows,), p.temperature, device=scores.device),
                                   torch.full((rows,), p.top_k, device=scores.device),
                                   torch.full((rows,), p.top_p, device=scores.device), self.uniforms[self.rows, step])
            logprobs = scores.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
            for row, token, logprob in zip(self.rows, tokens.tolist(), logprobs.tolist()):
                self._push(row, token, logprob)
            if not self._advance(tokens):
                break
        return [self._completion(row) for row in range(len(self.samples))]

    def _push(self, row: int, token: int, logprob: float) -> None:
        self.steps[row] += 1
        if token in self.gen.eos_ids:
            self.finish[row] = "eos"
            return
        self.tokens[row].append(token)
        self.logprobs[row].append(logprob)
        stops = [s for s in self.params.stop if s]
        if stops:
            text = self._text(self.tokens[row])
            at = find_stop(text, stops)
            if at >= 0:
                self.finish[row], self.cut[row] = "stop", at
                return
        if len(self.tokens[row]) >= self.max_new:
            self.finish[row] = "length"

    def _advance(self, tokens: torch.Tensor) -> bool:
        """Drop finished rows, feed the new tokens; False when no row is left."""
        keep = [i for i, row in enumerate(self.rows) if self.finish[row] is None]
        if not keep:
            return False
        if len(keep) < len(self.rows):
            index = torch.tensor(keep, device=tokens.device)
            self.cache.batch_select_indices(index)
            self.seq, tokens = self.seq[index], tokens[index]
            self.rows = [self.rows[i] for i in keep]
        self.seq = torch.cat([self.seq, tokens.unsqueeze(-1)], dim=-1)
        hidden, _ = self.gen.model.read_text(tokens.unsqueeze(-1), self.cache)
        self.last = hidden[:, -1]
        return True

    def _text(self, ids: list[int]) -> str:
        return self.gen.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _completion(self, row: int) -> Completion:
        ids, text = self.tokens[row], self._text(self.tokens[row])
        if self.cut[row] is not None:  # keep the text before the stop and the tokens wholly inside it
            text = text[: self.cut[row]]
            while ids and len(self._text(ids)) > len(text):
                ids = ids[:-1]
        logprobs = self.logprobs[row][: len(ids)]
        thought_tokens = self.steps[row] * self.settings.n_thoughts * (self.settings.thought_length + 2)
        return Completion(text=text, token_ids=ids, cumulative_logprob=float(sum(logprobs)),
                          token_logprobs=logprobs if self.params.logprobs else None,
                          finish_reason=self.finish[row] or "length", prompt_tokens=len(self.prompt_ids),
                          completion_tokens=len(ids) + thought_tokens)
