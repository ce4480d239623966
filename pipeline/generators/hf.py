"""Transformers backend: any local causal LM, sampled by an own decode loop.

Why not `model.generate`: here each prompt is prefilled once and its KV cache copied to its
n samples; requests that arrive together (threads of a Ray actor, a Serve replica) share
one decode batch; finished rows leave the batch; and every sample has its own seed.
Requests that arrive while a batch decodes join the next batch (no continuous batching).

Determinism: sample i of a request draws its random numbers from `row_seed(seed, i)` only
(see sampling.py), so the same prompt, SamplingParams and seed give the same completion on
CPU, alone or next to other requests. (Kernels for other batch shapes may round a logit
differently; that changes a sample only when a draw lands on a rounding-sized boundary.)
"""
from __future__ import annotations

import inspect
import os
import queue
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from pipeline.generators.chat import Prompt, check_messages, render_chat
from pipeline.generators.confidence import LOGPROB_FLOOR, ConfidenceTracker
from pipeline.generators.sampling import find_stop, row_seed, row_uniforms, sample_tokens
from pipeline.core.types import Completion, SamplingParams

# Same shape as a transformers LogitsProcessor: (token ids so far, next-token scores) -> scores.
# It sees only its own request's running rows; token ids are the prompt, left-padded to the
# batch, then the generated tokens. Rows leave as they finish: keep state by content, not row.
LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TokenStep:
    """A token one sample kept, reported as it is decoded (streaming, top-k logprobs).

    Tokens past a stop sequence are reported too; the final Completion keeps only those before
    it. `top` holds the request's `top_logprobs` most likely (token id, logprob) pairs."""

    prompt_index: int
    sample_index: int
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


# Called on the generator's worker thread: keep it quick and thread-safe. If it raises, its
# request fails with that error and its rows leave the batch; other requests go on.
TokenObserver = Callable[[TokenStep], None]

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


class ModelNotFoundError(FileNotFoundError):
    """The model folder is missing or lacks config.json / weights."""


class TokenizerNotFoundError(FileNotFoundError):
    """The model folder has no tokenizer files."""


class RequestTooLargeError(ValueError):
    """A request cannot fit the context window or the memory budget; raised before allocating."""


# ---------------------------------------------------------------- loading


def check_model_folder(model_path: str | os.PathLike) -> Path:
    path = Path(model_path).expanduser()
    hint = "Shipped models live in the repository's models/ folder (see `ttc models list`)."
    if not path.is_dir():
        raise ModelNotFoundError(
            f"model folder {str(path)!r} does not exist; it must contain config.json and weights "
            f"(*.safetensors). {hint}")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model folder {str(path)!r} has no config.json. {hint}")
    if not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise ModelNotFoundError(
            f"model folder {str(path)!r} has no weights ({', '.join(WEIGHT_PATTERNS)}). {hint}")
    return path


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise TokenizerNotFoundError(
            f"model folder {str(path)!r} has no tokenizer: expected one of {', '.join(TOKENIZER_FILES)} "
            f"(write it with tokenizer.save_pretrained({str(path)!r}))")
    return AutoTokenizer.from_pretrained(path)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available; use 'cpu' or 'auto'")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    allowed = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in allowed:
        raise ValueError(f"dtype {dtype!r} is not one of auto, {', '.join(allowed)}")
    return allowed[dtype]


def kv_bytes_per_token(config: Any, dtype: torch.dtype) -> int:
    """Bytes of KV cache one token of one sequence takes, over all layers."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * torch.finfo(dtype).bits // 8


def default_budget_bytes(device: torch.device) -> int:
    """80% of free GPU memory, or half of the free host memory, measured after loading."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0] * 0.8)
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


# ---------------------------------------------------------------- requests


@dataclass(eq=False)
class _Request:
    params: SamplingParams
    processors: list[LogitsProcessor]
    prompt_ids: list[list[int]]
    seed: int
    results: list[list[Completion | None]]
    remaining: int
    groups: list[_Group] = field(default_factory=list)
    future: Future = field(default_factory=Future)
    top_logprobs: int = 0
    on_token: TokenObserver | None = None

    def deliver(self, prompt_index: int, sample_index: int, completion: Completion) -> None:
        if self.future.done():  # failed earlier in another batch, or cancelled by its caller
            return
        self.results[prompt_index][sample_index] = completion
        self.remaining -= 1
        if self.remaining == 0:
            self._settle(self.future.set_result, self.results)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self._settle(self.future.set_exception, error)

    def report(self, step: TokenStep) -> None:
        try:
            self.on_token(step)
        except Exception as error:  # noqa: BLE001 - the observer's failure is its request's only
            self.fail(error)

    @staticmethod
    def _settle(setter: Callable[[Any], None], value: Any) -> None:
        try:
            setter(value)
        except InvalidStateError:  # the caller cancelled it between done() and here
            pass


@dataclass(eq=False)
class _Group:
    """Samples of one prompt decoded in one batch: the prompt is prefilled once for all of them."""

    request: _Request
    prompt_index: int
    samples: list[int]
    max_new: int

    @property
    def prompt_ids(self) -> list[int]:
        return self.request.prompt_ids[self.prompt_index]


class HFGenerator:
    """`generate(prompts, params)` on a local transformers causal LM; thread-safe, batching."""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 max_batch_size: int = 64, memory_budget_mb: float | None = None,
                 batch_wait_ms: float = 5.0):
        from transformers import AutoModelForCausalLM

        path = check_model_folder(model_path)
        self.model_path = str(path)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.tokenizer = load_tokenizer(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self._set_model_facts(memory_budget_mb)
        self.stats = {"requests": 0, "batches": 0, "rows": 0}
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._pending: deque[_Group] = deque()
        self._worker = threading.Thread(target=self._serve_forever, name="hf-generator", daemon=True)
        self._worker.start()

    def _set_model_facts(self, memory_budget_mb: float | None) -> None:
        config = self.model.config
        text = config.get_text_config()
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {i for i in [*eos, self.tokenizer.eos_token_id] if i is not None}
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else min(self.eos_ids, default=0)
        self.max_positions = getattr(text, "max_position_embeddings", None)
        self.vocab_size = text.vocab_size
        self.kv_bytes_per_token = kv_bytes_per_token(config, self.dtype)
        self.budget_bytes = (int(memory_budget_mb * 2**20) if memory_budget_mb is not None
                             else default_budget_bytes(self.device))
        forward_args = inspect.signature(self.model.forward).parameters
        self.cache_kwarg = "cache" if "cache" in forward_args else "past_key_values"  # renamed in 5.x
        self.prefill_kwargs = {"logits_to_keep": 1} if "logits_to_keep" in forward_args else {}

    # ------------------------------------------------------------ public API

    def generate(self, prompts: list[Prompt], params: SamplingParams,
                 logits_processors: list[LogitsProcessor] | None = None) -> list[list[Completion]]:
        """For each prompt, `params.n` completions. Processors run per step, before sampling."""
        return self.submit(prompts, params, logits_processors).result()

    def submit(self, prompts: list[Prompt], params: SamplingParams,
               logits_processors: list[LogitsProcessor] | None = None, *,
               top_logprobs: int = 0, on_token: TokenObserver | None = None) -> Future:
        """Queue a request; the Future resolves to what `generate` returns. Checks run here.

        `on_token` sees each kept token as it is decoded, with the `top_logprobs` most likely
        alternatives. Cancelling the Future drops the request's rows from the decode batch."""
        if not 0 <= top_logprobs <= self.vocab_size:
            raise ValueError(f"top_logprobs={top_logprobs} must be between 0 and the vocabulary size {self.vocab_size}")
        request = self._plan(prompts, params, list(logits_processors or []))
        request.top_logprobs, request.on_token = top_logprobs, on_token
        if request.remaining == 0:
            request.future.set_result([])
        else:
            self._queue.put(request)
        return request.future

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join()

    def __enter__(self) -> HFGenerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ planning (caller's thread)

    def _plan(self, prompts: list[Prompt], params: SamplingParams,
              processors: list[LogitsProcessor]) -> _Request:
        if not self._worker.is_alive():
            raise RuntimeError("this HFGenerator is closed")
        prompt_ids = [self._encode(prompt) for prompt in prompts]
        seed = params.seed if params.seed is not None else random.SystemRandom().getrandbits(62)
        request = _Request(params, processors, prompt_ids, seed,
                           results=[[None] * params.n for _ in prompts], remaining=len(prompts) * params.n)
        for index, ids in enumerate(prompt_ids):
            max_new = self._new_token_cap(ids, params.max_new_tokens)
            rows = self._rows_that_fit(len(ids), max_new)
            for start in range(0, params.n, rows):
                samples = list(range(start, min(start + rows, params.n)))
                request.groups.append(_Group(request, index, samples, max_new))
        return request

    def _encode(self, prompt: Prompt) -> list[int]:
        if not isinstance(prompt, str):
            prompt = render_chat(self.tokenizer, check_messages(prompt))
        ids = self.tokenizer(prompt)["input_ids"]
        if not ids:
            raise ValueError(f"prompt {prompt[:40]!r} encodes to no tokens")
        return ids

    def _new_token_cap(self, prompt_ids: list[int], max_new_tokens: int) -> int:
        """max_new_tokens, shortened to what the context window leaves (finish_reason 'length')."""
        if self.max_positions is None:
            return max_new_tokens
        room = self.max_positions - len(prompt_ids)
        if room <= 0:
            raise RequestTooLargeError(
                f"prompt of {len(prompt_ids)} tokens does not fit the model's context of "
                f"{self.max_positions} tokens ({self.model_path})")
        return min(max_new_tokens, room)

    def _batch_bytes(self, rows: int, seq_len: int) -> int:
        """KV cache plus float32 logits and sampling temporaries (~4 copies) for one decode batch."""
        return rows * (seq_len * self.kv_bytes_per_token + self.vocab_size * 4 * 4)

    def _rows_that_fit(self, prompt_len: int, max_new: int) -> int:
        one_row = self._batch_bytes(1, prompt_len + max_new)
        if one_row > self.budget_bytes:
            raise RequestTooLargeError(
                f"one sequence of {prompt_len} prompt + {max_new} new tokens needs about "
                f"{one_row / 2**20:.1f} MB of KV cache and logits, over the memory budget of "
                f"{self.budget_bytes / 2**20:.1f} MB; lower max_new_tokens, shorten the prompt or "
                f"raise memory_budget_mb")
        return max(1, min(self.max_batch_size, self.budget_bytes // one_row))

    # ------------------------------------------------------------ batching (worker thread)

    def _serve_forever(self) -> None:
        while True:
            if not self._pending:
                first = self._queue.get()
                if first is None:
                    return
                self._accept(first)
                time.sleep(self.batch_wait_s)  # let requests sent at the same moment join
            if not self._drain_queue():
                return
            batch = self._take_batch()
            if batch:
                self._run_batch(batch)

    def _drain_queue(self) -> bool:
        """Move queued requests to the pending groups; False once closed (pending ones fail)."""
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return True
            if request is None:
                for group in self._pending:
                    group.request.fail(RuntimeError("HFGenerator closed before this request ran"))
                return False
            self._accept(request)

    def _accept(self, request: _Request) -> None:
        self.stats["requests"] += 1
        self._pending.extend(request.groups)

    def _take_batch(self) -> list[_Group]:
        batch: list[_Group] = []
        rows = prompt_len = max_new = 0
        while self._pending:
            group = self._pending[0]
            if group.request.future.done():  # its request already failed
                self._pending.popleft()
                continue
            new_rows = rows + len(group.samples)
            new_prompt, new_max = max(prompt_len, len(group.prompt_ids)), max(max_new, group.max_new)
            too_big = (new_rows > self.max_batch_size
                       or self._batch_bytes(new_rows, new_prompt + new_max) > self.budget_bytes)
            if batch and too_big:
                break
            batch.append(self._pending.popleft())
            rows, prompt_len, max_new = new_rows, new_prompt, new_max
        return batch

    def _run_batch(self, batch: list[_Group]) -> None:
        self.stats["batches"] += 1
        self.stats["rows"] += sum(len(group.samples) for group in batch)
        try:
            with torch.inference_mode():
                finished = _DecodeBatch(self, batch).run()
        except Exception as error:  # noqa: BLE001 - handed to every caller in the batch
            for request in {group.request for group in batch}:
                request.fail(error)
            return
        for row in finished:
            completion = row.completion(self.tokenizer)
            row.group.request.deliver(row.group.prompt_index, row.sample_index, completion)

    # ------------------------------------------------------------ model calls

    def prefill(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Last-position logits and the KV cache of a left-padded batch of prompts."""
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, **self.prefill_kwargs)
        return out.logits[:, -1, :], out["cache"] if "cache" in out else out["past_key_values"]

    def decode_step(self, tokens: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
        positions = mask.sum(-1, keepdim=True) - 1
        out = self.model(input_ids=tokens.unsqueeze(-1), attention_mask=mask, position_ids=positions,
                         use_cache=True, **{self.cache_kwarg: cache})
        return out.logits[:, -1, :]


class _Detokenizer:
    """Decodes token by token, re-decoding only a short window; waits out split characters."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.ends: list[int] = []  # text length once token i is shown
        self.text = ""
        self.prefix = self.read = 0

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        shown = self._decode(self.ids[self.prefix:self.read])
        window = self._decode(self.ids[self.prefix:])
        if window.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return ""
        new = window[len(shown):]
        self.prefix, self.read = self.read, len(self.ids)
        self.text += new
        self.ends += [len(self.text)] * (len(self.ids) - len(self.ends))
        return new

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


class _Row:
    """One sample being decoded: its tokens, logprobs, stop detection, confidence and finish reason."""

    def __init__(self, group: _Group, sample_index: int, tokenizer: Any):
        self.group, self.sample_index = group, sample_index
        self.params = group.request.params
        self.token_ids: list[int] = []
        self.logprobs: list[float] = []
        self.finish: str | None = None
        self.stops = [stop for stop in self.params.stop if stop]
        self.detok = _Detokenizer(tokenizer) if self.stops else None
        self.cut: int | None = None
        wanted = self.params.confidence
        self.tracker = ConfidenceTracker(wanted.window, wanted.tail, wanted.stop_below) if wanted else None

    def push(self, token: int, logprob: float, eos_ids: set[int], confidence: float | None = None) -> None:
        if token in eos_ids:
            self.finish = "eos"
            return
        self.token_ids.append(token)
        self.logprobs.append(logprob)
        too_unsure = self.tracker is not None and self.tracker.push(confidence)
        if self.detok is not None and self._hit_stop(token):
            self.finish = "stop"
        elif len(self.token_ids) >= self.group.max_new:
            self.finish = "length"
        elif too_unsure:  # a full window below the request's threshold: stop inside the decode loop
            self.finish = "low_confidence"

    def _hit_stop(self, token: int) -> bool:
        new = self.detok.push(token)
        if not new:
            return False
        text, longest = self.detok.text, max(map(len, self.stops))
        position = find_stop(text, self.stops, len(text) - len(new) - longest + 1)
        if position >= 0:
            self.cut = position
        return position >= 0

    def completion(self, tokenizer: Any) -> Completion:
        if self.cut is not None:  # keep the text before the stop and the tokens wholly inside it
            kept = sum(1 for end in self.detok.ends if end <= self.cut)
            text = self.detok.text[: self.cut]
        else:
            kept = len(self.token_ids)
            text = tokenizer.decode(self.token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        logprobs = self.logprobs[:kept]
        stopped = self.finish == "low_confidence"
        return Completion(
            text=text, token_ids=self.token_ids[:kept], cumulative_logprob=float(sum(logprobs)),
            token_logprobs=logprobs if self.params.logprobs else None, finish_reason=self.finish or "length",
            prompt_tokens=len(self.group.prompt_ids), completion_tokens=kept,
            confidence=self.tracker.measures(kept) if self.tracker else None,
            token_cap=self.group.max_new if stopped else None)


class _DecodeBatch:
    """Prefill each prompt once, copy its cache to its samples, decode all rows together."""

    def __init__(self, gen: HFGenerator, groups: list[_Group]):
        self.gen = gen
        self.rows = [_Row(group, sample, gen.tokenizer) for group in groups for sample in group.samples]
        self.finished: list[_Row] = []
        self.steps = max(group.max_new for group in groups)
        device = gen.device
        ids, mask = left_pad([group.prompt_ids for group in groups], gen.pad_id, device)
        logits, self.cache = gen.prefill(ids, mask)
        row_group = torch.tensor([g for g, group in enumerate(groups) for _ in group.samples], device=device)
        self.cache.batch_select_indices(row_group)  # n copies of each prompt's cache
        self.logits, self.mask, self.seq = logits[row_group], mask[row_group], ids[row_group]
        params = [row.params for row in self.rows]
        self.temperature = torch.tensor([p.temperature for p in params], device=device)
        self.top_k = torch.tensor([p.top_k for p in params], device=device)
        self.top_p = torch.tensor([p.top_p for p in params], device=device)
        self.uniforms = torch.stack([self._uniforms(row) for row in self.rows]).to(device)

    def _uniforms(self, row: _Row) -> torch.Tensor:
        drawn = row_uniforms(row_seed(row.group.request.seed, row.sample_index), row.group.max_new)
        return torch.nn.functional.pad(drawn, (0, self.steps - len(drawn)))

    def run(self) -> list[_Row]:
        for step in range(self.steps):
            tokens, logprobs, alternatives, confidences = self._choose(step)
            for i, (row, token, logprob) in enumerate(zip(self.rows, tokens.tolist(), logprobs.tolist())):
                row.push(token, logprob, self.gen.eos_ids, confidences[i])
                if row.group.request.on_token is not None and token not in self.gen.eos_ids:
                    row.group.request.report(TokenStep(row.group.prompt_index, row.sample_index,
                                                       token, logprob, alternatives[i]))
            # rows of a failed or cancelled request leave at once; their results are not delivered
            active = [i for i, row in enumerate(self.rows)
                      if row.finish is None and not row.group.request.future.done()]
            self.finished += [row for row in self.rows if row.finish is not None]
            if not active:
                break
            tokens = self._keep(active, tokens)
            self.mask = torch.cat([self.mask, self.mask.new_ones(len(active), 1)], dim=-1)
            self.seq = torch.cat([self.seq, tokens.unsqueeze(-1)], dim=-1)
            self.logits = self.gen.decode_step(tokens, self.mask, self.cache)
        return self.finished + [row for row in self.rows if row.finish is None]

    def _choose(self, step: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple], list[float | None]]:
        scores = self._apply_processors(self.logits.float())
        tokens = sample_tokens(scores, self.temperature, self.top_k, self.top_p, self.uniforms[:, step])
        all_logprobs = scores.log_softmax(dim=-1)
        logprobs = all_logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        return tokens, logprobs, self._alternatives(all_logprobs), self._confidences(all_logprobs)

    def _confidences(self, all_logprobs: torch.Tensor) -> list[float | None]:
        """Per row, minus the mean of its top-k logprobs (pipeline/generators/confidence.py);
        None for rows whose request asked for no confidence. One small transfer per step."""
        wanted = [row.params.confidence.top_k if row.params.confidence else 0 for row in self.rows]
        if not any(wanted):
            return [None] * len(self.rows)
        k = torch.tensor([max(1, min(w, all_logprobs.shape[-1])) for w in wanted], device=all_logprobs.device)
        top = all_logprobs.topk(int(k.max()), dim=-1).values.clamp(min=LOGPROB_FLOOR)
        means = (-top.cumsum(dim=-1).gather(-1, (k - 1).unsqueeze(-1)).squeeze(-1) / k).clamp(min=0.0)
        return [value if w else None for value, w in zip(means.tolist(), wanted)]

    def _alternatives(self, all_logprobs: torch.Tensor) -> list[tuple[tuple[int, float], ...]]:
        """Per row, its request's `top_logprobs` most likely (token id, logprob); () if none asked."""
        wanted = [row.group.request.top_logprobs for row in self.rows]
        if not any(wanted):
            return [()] * len(self.rows)
        values, ids = all_logprobs.topk(max(wanted), dim=-1)
        return [tuple(zip(row_ids[:k], row_values[:k]))
                for row_ids, row_values, k in zip(ids.tolist(), values.tolist(), wanted)]

    def _apply_processors(self, scores: torch.Tensor) -> torch.Tensor:
        """Each request's processors see only its own running rows (token ids include left padding)."""
        by_request: dict[_Request, list[int]] = {}
        for i, row in enumerate(self.rows):
            if row.group.request.processors:
                by_request.setdefault(row.group.request, []).append(i)
        for request, indices in by_request.items():
            index = torch.tensor(indices, device=scores.device)
            part = scores[index]
            for processor in request.processors:
                part = processor(self.seq[index], part)
            scores[index] = part
        return scores

    def _keep(self, active: list[int], tokens: torch.Tensor) -> torch.Tensor:
        """Drop finished rows from the cache and every per-row tensor."""
        if len(active) == len(self.rows):
            return tokens
        index = torch.tensor(active, device=tokens.device)
        self.cache.batch_select_indices(index)
        self.rows = [self.rows[i] for i in active]
        for name in ("mask", "seq", "temperature", "top_k", "top_p", "uniforms"):
            setattr(self, name, getattr(self, name)[index])
        return tokens[index]


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask, padded on the left so every prompt ends at the last column."""
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[i, width - len(seq):] = 1
    return ids.to(device), mask.to(device)
