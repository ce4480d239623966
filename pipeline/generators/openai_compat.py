"""OpenAI-compatible backend: any `/v1/completions` or `/v1/chat/completions` server
(a vLLM deployment, `ttc serve-model`, ...).

One HTTP request per prompt asks for all n samples through the `n` field; a server that
returns fewer gets the rest as separate n=1 requests (seeded seed+k when a seed is set).
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff; other
4xx fail at once with the server's message. At most `concurrency` requests are in flight.

Confidence (`params.confidence`): the request asks for the top-k logprobs per token, and each
completion gets the trace measures of pipeline/generators/confidence.py; logprobs no real
distribution has (a server's forgery or bug) give no confidence rather than a made-up one. With
`stop_below`, each sample is its own streamed n=1 request, closed as soon as its window
confidence falls below the threshold (finish_reason low_confidence).
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from pipeline.generators.chat import Prompt, check_messages
from pipeline.generators.confidence import BadLogprobs, ConfidenceTracker, check_step, token_confidence
from pipeline.core.types import Completion, ConfidenceParams, SamplingParams

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class OpenAICompatError(RuntimeError):
    """The server refused a request, or stayed unreachable through all retries."""


class OpenAICompatGenerator:
    def __init__(self, model: str, base_url: str, api_key: str | None = None, timeout_s: float = 60.0,
                 max_retries: int = 3, concurrency: int = 8, chat: bool = False, backoff_s: float = 0.5,
                 api_key_env: str | None = None):
        self.model, self.chat = model, chat
        if api_key_env:  # a config names the variable, so the key never lands in a run directory
            api_key = api_key or _key_from_env(api_key_env)
        self.base_url = base_url.rstrip("/")
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-compat")
        self._local = threading.local()  # one requests.Session per pool thread

    def generate(self, prompts: list[Prompt], params: SamplingParams,
                 logits_processors: list | None = None) -> list[list[Completion]]:
        if logits_processors:
            raise ValueError("logits processors run inside the decode loop; an OpenAI-compatible server cannot take them "
                             "(use the `hf` backend for this strategy)")
        if params.confidence is not None and params.confidence.stop_below is not None:
            return self._streamed(prompts, params)
        results = list(self._pool.map(lambda p: self._request(p, params, params.n, params.seed), prompts))
        missing = [(i, k) for i, got in enumerate(results) for k in range(len(got), params.n)]
        extra = self._pool.map(lambda ik: self._request(prompts[ik[0]], params, 1, _shifted(params.seed, ik[1])),
                               missing)
        for (i, _), completions in zip(missing, extra):
            results[i].extend(completions[:1])
        return results

    def _streamed(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """One streamed n=1 request per sample (seed+k), each stopped on its own."""
        jobs = [(prompt, k) for prompt in prompts for k in range(params.n)]
        done = list(self._pool.map(lambda job: self._stream(job[0], params, _shifted(params.seed, job[1])), jobs))
        return [done[i * params.n:(i + 1) * params.n] for i in range(len(prompts))]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> OpenAICompatGenerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ one request

    def _request(self, prompt: Prompt, params: SamplingParams, n: int, seed: int | None) -> list[Completion]:
        path = "/chat/completions" if self.chat else "/completions"
        data = self._post(path, self._body(prompt, params, n, seed))
        choices = sorted(data.get("choices") or [], key=lambda choice: choice.get("index", 0))
        if not choices:
            raise OpenAICompatError(f"{self.base_url}{path} returned no choices: {str(data)[:300]}")
        usage = data.get("usage") or {}
        completions = [self._completion(choice, usage.get("prompt_tokens", 0), params) for choice in choices]
        return _count_from_usage(completions, usage.get("completion_tokens") or 0)

    def _stream(self, prompt: Prompt, params: SamplingParams, seed: int | None) -> Completion:
        """One sample streamed; the connection is closed once its window confidence is too low,
        which tells the server to stop decoding it."""
        path = "/chat/completions" if self.chat else "/completions"
        wanted = params.confidence
        tracker = ConfidenceTracker(wanted.window, wanted.tail, wanted.stop_below)
        text, logprobs, finish, trusted = "", [], "length", True
        with self._open_stream(path, {**self._body(prompt, params, 1, seed), "stream": True}) as response:
            for choice in _stream_choices(response):
                text += ((choice.get("delta") or {}).get("content") or "") if self.chat else choice.get("text", "")
                for chosen, top in _steps(choice.get("logprobs"), self.chat):
                    logprobs.append(chosen)
                    trusted = trusted and _trusted(chosen, top)
                    if trusted and tracker.push(token_confidence(top, wanted.top_k)):
                        finish = "low_confidence"
                if finish == "low_confidence":
                    break
                if choice.get("finish_reason"):
                    finish = _finish_reason(choice)
        stopped = finish == "low_confidence"
        return Completion(text=text, cumulative_logprob=sum(logprobs), finish_reason=finish,
                          token_logprobs=logprobs if params.logprobs else None, completion_tokens=len(logprobs),
                          confidence=tracker.measures() if trusted else None,
                          token_cap=params.max_new_tokens if stopped else None)

    def _body(self, prompt: Prompt, params: SamplingParams, n: int, seed: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "n": n, "max_tokens": params.max_new_tokens,
                                "temperature": params.temperature, "top_p": params.top_p}
        if isinstance(prompt, str):
            body.update({"messages": [{"role": "user", "content": prompt}]} if self.chat else {"prompt": prompt})
        elif not self.chat:
            raise ValueError("a chat prompt (list of messages) needs the chat endpoint: set chat=True")
        else:
            body["messages"] = check_messages(prompt)
            if prompt[-1]["role"] == "assistant":  # a prefill: continue it (vLLM's extension)
                body.update(add_generation_prompt=False, continue_final_message=True)
        # logprobs always, so cumulative_logprob is filled as the other backends fill it;
        # optional fields only when set: strict servers reject ones they do not know
        top = params.confidence.top_k if params.confidence else 1
        body["logprobs"] = True if self.chat else top
        if self.chat and params.confidence:
            body["top_logprobs"] = top
        optional = {"stop": params.stop or None, "seed": seed, "top_k": params.top_k or None}
        body.update({key: value for key, value in optional.items() if value is not None})
        return body

    def _completion(self, choice: dict[str, Any], prompt_tokens: int, params: SamplingParams) -> Completion:
        text = (choice["message"].get("content") or "") if self.chat else choice.get("text", "")
        logprobs = _token_logprobs(choice.get("logprobs"), self.chat)
        token_ids = list(choice.get("token_ids") or [])
        confidence = None
        if params.confidence is not None:
            confidence = _measured(_steps(choice.get("logprobs"), self.chat), params.confidence)
        return Completion(
            text=text, token_ids=token_ids, cumulative_logprob=sum(logprobs or []),
            token_logprobs=logprobs if params.logprobs else None, finish_reason=_finish_reason(choice),
            prompt_tokens=prompt_tokens, completion_tokens=len(token_ids) or len(logprobs or []),
            confidence=confidence)

    # ------------------------------------------------------------ HTTP with retries

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send(path, body, stream=False).json()

    def _open_stream(self, path: str, body: dict[str, Any]) -> requests.Response:
        """The streamed response, once the server has accepted the request."""
        return self._send(path, body, stream=True)

    def _send(self, path: str, body: dict[str, Any], stream: bool) -> requests.Response:
        """The server's accepted response; connection errors and RETRY_STATUS answers are retried."""
        url = f"{self.base_url}{path}"
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._backoff(attempt))
            try:
                response = self._session().post(url, json=body, headers=self.headers, timeout=self.timeout_s,
                                                stream=stream)
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = f"{type(error).__name__}: {error}"
                continue
            if response.ok:
                return response
            problem = f"HTTP {response.status_code}: {response.text[:500]}"
            response.close()
            if response.status_code not in RETRY_STATUS:
                raise OpenAICompatError(f"{url} refused the request: {problem}")
            self._local.retry_after = response.headers.get("Retry-After")
        raise OpenAICompatError(f"{url} failed {self.max_retries + 1} times; last error: {problem}")

    def _backoff(self, attempt: int) -> float:
        """backoff_s * 2^(attempt-1) with jitter, at most 30 s; a server's Retry-After wins if longer."""
        delay = min(30.0, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        retry_after = getattr(self._local, "retry_after", None)
        self._local.retry_after = None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        return delay

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session


def _key_from_env(name: str) -> str:
    key = os.environ.get(name)
    if not key:
        raise OpenAICompatError(f"api_key_env names {name!r}, but that environment variable is not set")
    return key


def _count_from_usage(completions: list[Completion], total: int) -> list[Completion]:
    """Token counts from `usage` for choices that carry neither token ids nor logprobs (servers
    that ignore `logprobs`, e.g. `transformers serve`), so budgets do not see zero tokens. The
    total is per response: shared evenly among such choices, the remainder to the first."""
    if not total or any(c.completion_tokens for c in completions):
        return completions
    share, extra = divmod(total, len(completions))
    return [c.model_copy(update={"completion_tokens": share + (i < extra)}) for i, c in enumerate(completions)]


def _shifted(seed: int | None, k: int) -> int | None:
    return None if seed is None else seed + k


def _token_logprobs(logprobs: dict[str, Any] | None, chat: bool) -> list[float] | None:
    if not logprobs:
        return None
    if chat:
        return [float(entry["logprob"]) for entry in logprobs.get("content") or []]
    return [float(lp) for lp in logprobs.get("token_logprobs") or [] if lp is not None]


def _stream_choices(response: requests.Response):
    """The choice of each server-sent event of a streamed n=1 response, until [DONE]."""
    for line in response.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data:"):
            continue
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            return
        event = json.loads(payload)
        if "error" in event:
            raise OpenAICompatError(f"the server failed while streaming: {str(event['error'])[:300]}")
        yield from (event.get("choices") or [])[:1]


def _steps(logprobs: dict[str, Any] | None, chat: bool) -> list[tuple[float, list[float]]]:
    """Per token: the sampled token's logprob and the top logprobs the server returned."""
    if not logprobs:
        return []
    if chat:
        return [(float(entry["logprob"]), [float(alt["logprob"]) for alt in entry.get("top_logprobs") or []])
                for entry in logprobs.get("content") or []]
    tops = logprobs.get("top_logprobs") or []
    chosen = logprobs.get("token_logprobs") or []
    return [(float(lp), [float(v) for v in (top or {}).values()]) for lp, top in zip(chosen, tops) if lp is not None]


def _trusted(chosen: float, top: list[float]) -> bool:
    try:
        check_step(top, chosen)
    except BadLogprobs:
        return False
    return True


def _measured(steps: list[tuple[float, list[float]]], wanted: ConfidenceParams) -> dict[str, float] | None:
    """The trace measures, or None when there are no top logprobs or any step's are not believable."""
    if not steps or not all(_trusted(chosen, top) for chosen, top in steps):
        return None
    tracker = ConfidenceTracker(wanted.window, wanted.tail)
    for _, top in steps:
        tracker.push(token_confidence(top, wanted.top_k))
    return tracker.measures()


def _finish_reason(choice: dict[str, Any]) -> str:
    """OpenAI says 'stop' for both; a vLLM-style `stop_reason: null` means end-of-sequence."""
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if reason == "stop" and "stop_reason" in choice and choice["stop_reason"] is None:
        return "eos"
    return "stop"
