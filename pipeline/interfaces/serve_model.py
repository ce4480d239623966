"""`ttc serve-model`: a local transformers model behind an OpenAI-compatible HTTP API.

Ray Serve runs one replica holding an `HFGenerator`; `/v1/completions` and
`/v1/chat/completions` accept the OpenAI request bodies (fields they do not use are ignored)
and answer as OpenAI does, with `stream: true` as server-sent events sent while the tokens are
decoded. Logprobs name tokens by their text (' s', not the BPE symbol 'Ġs'; a token holding part
of a character is 'bytes:\\xe4'), with `top_logprobs` alternatives. Concurrent requests are
batched by the generator itself: `submit` queues them and its worker merges those that arrive
within a few ms into one decode batch, so Serve's own `@serve.batch` is not needed.

Bounded by `ServeModelLimits` (`ttc serve-model --limit KEY=VALUE`): the body size is checked
from Content-Length and while reading (413); prompts, n, prompts x n, max_tokens and logprob
entries after parsing, before any tokenization (400); requests at once (429 at once, never a
queue); a body still arriving after body_timeout_s gets 408; a request past request_timeout_s is
cancelled (504), and so is one whose client goes away. Tokenizing runs off the event loop, so
/v1/models keeps answering. Binds to 127.0.0.1 by default; any other address needs an API key,
as `ttc serve` does.
"""

import asyncio
import json
import logging
import re
import time
import uuid
from bisect import bisect_right
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ray import serve
from starlette.requests import ClientDisconnect

from pipeline.core.types import Completion, SamplingParams

api = FastAPI(title="ttc model server")
log = logging.getLogger("ttc.serve_model")

# OpenAI field -> SamplingParams field, to name the client's field in error messages.
OPENAI_NAMES = {"max_new_tokens": "max_tokens"}
MAX_STOPS = 16  # each stop is searched for after every token
LOWEST_LOGPROB = -9999.0  # what OpenAI reports for "very unlikely"; JSON has no -inf


class ServeModelLimits(BaseModel):
    """Checked before any tokenization; the defaults fit one small GPU node."""

    model_config = ConfigDict(extra="forbid")
    max_body_bytes: int = Field(1_000_000, ge=1024, le=1 << 30, description="request body size; larger gets 413")
    max_prompts: int = Field(64, ge=1, le=4096, description="prompts in one /v1/completions request")
    max_n: int = Field(64, ge=1, le=4096, description="choices per prompt")
    max_choices: int = Field(256, ge=1, le=65_536, description="prompts x n in one request")
    max_tokens: int = Field(2048, ge=1, le=32_768, description="max_tokens per choice")
    max_logprob_entries: int = Field(1_000_000, ge=0, description="choices x max_tokens x (1 + top_logprobs)")
    max_concurrent: int = Field(8, ge=1, le=1024, description="requests in work at once; more get 429")
    body_timeout_s: float = Field(30.0, gt=0, le=3600, description="a body still arriving after this gets 408")
    request_timeout_s: float = Field(600.0, gt=0, le=86_400, description="longer requests are cancelled (504)")


def make_limits(items: list[str] | None) -> ServeModelLimits:
    """`--limit KEY=VALUE` options as limits; a ServeError naming the bad one."""
    from pipeline.core.config import apply_overrides, format_validation_error
    from pipeline.interfaces.serve import ServeError

    try:
        return ServeModelLimits.model_validate(apply_overrides({}, items or []))
    except ValidationError as error:
        raise ServeError(f"invalid --limit: {format_validation_error(error)}") from None


# ---------------------------------------------------------------- request bodies


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields we do not use

    model: str
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1
    stop: str | Annotated[list[str], Field(max_length=MAX_STOPS)] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        """OpenAI reads `"temperature": null` as the default; so do we."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class CompletionRequest(_Body):
    prompt: str | list[str] = Field(description="one prompt or a list; n completions each")
    logprobs: int | None = Field(None, ge=0, le=20, description="this many alternatives per token, plus the chosen one")

    kind: ClassVar[str] = "text"

    def prompt_count(self) -> int:
        return 1 if isinstance(self.prompt, str) else len(self.prompt)

    def requested_tokens(self) -> int | None:
        return self.max_tokens

    def top_logprobs_wanted(self) -> int | None:
        return self.logprobs

    def prompts(self, _tokenizer: Any) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else self.prompt


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class ChatRequest(_Body):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20, description="alternatives per token; needs logprobs")

    kind: ClassVar[str] = "chat"

    @model_validator(mode="after")
    def _top_logprobs_needs_logprobs(self) -> "ChatRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def prompt_count(self) -> int:
        return 1

    def requested_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def top_logprobs_wanted(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None

    def prompts(self, tokenizer: Any) -> list[str]:
        return [chat_prompt(tokenizer, self.messages)]


Body = CompletionRequest | ChatRequest


def sampling_params(body: _Body, max_tokens: int | None, logprobs: bool) -> SamplingParams:
    """The body's sampling fields as SamplingParams; a 400 naming the client's field if invalid."""
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    fields = dict(n=body.n, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
                  max_new_tokens=16 if max_tokens is None else max_tokens, stop=stop,
                  seed=body.seed, logprobs=logprobs)
    try:
        return SamplingParams(**fields)
    except ValidationError as error:
        problems = [f"{OPENAI_NAMES.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']} (got {e['input']!r:.80})"
                    for e in error.errors()]
        raise HTTPException(400, "; ".join(problems)) from None


def chat_prompt(tokenizer: Any, messages: list[ChatMessage]) -> str:
    from pipeline.generators.chat import render_chat

    return render_chat(tokenizer, [{"role": message.role, "content": message.text()} for message in messages])


# ---------------------------------------------------------------- checks before any work


def check_declared_size(content_length: str | None, max_bytes: int) -> None:
    if content_length and content_length.isdigit() and int(content_length) > max_bytes:
        raise HTTPException(413, f"body of {content_length} bytes exceeds this server's max_body_bytes={max_bytes}")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, cut off as soon as it passes the limit (a missing or false Content-Length too)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"body exceeds this server's max_body_bytes={max_bytes}")
    return bytes(body)


def parse_body(raw: bytes, schema: type[Body]) -> Body:
    from pipeline.core.config import format_validation_error
    from pipeline.interfaces.serve import json_object

    try:
        data = json_object(raw)
    except ValueError as bad:
        raise HTTPException(400, str(bad)) from None
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise HTTPException(422, format_validation_error(error)[:1000]) from None


def check_limits(body: Body, limits: ServeModelLimits) -> None:
    """The request's size against the limits: counts only, nothing tokenized yet."""
    prompts, n, tokens = body.prompt_count(), body.n, body.requested_tokens() or 16
    over = [(prompts, limits.max_prompts, "prompt", "prompts", "max_prompts"),
            (n, limits.max_n, "n", "choices per prompt", "max_n"),
            (prompts * n, limits.max_choices, "n", "choices (prompts x n)", "max_choices"),
            (tokens, limits.max_tokens, "max_tokens", "tokens per choice", "max_tokens")]
    top = body.top_logprobs_wanted()
    if top is not None:
        over.append((prompts * n * tokens * (1 + top), limits.max_logprob_entries, "logprobs",
                     "logprob entries (choices x max_tokens x (1 + top_logprobs))", "max_logprob_entries"))
    for value, limit, param, what, name in over:
        if value > limit:
            raise HTTPException(400, f"{param}: {value} {what} exceed this server's {name}={limit}")
    if prompts == 0:
        raise HTTPException(400, "prompt: give at least one prompt")


class Slots:
    """At most `limit` requests in work at once; one more gets 429 at once, not a place in a queue.
    Used from the replica's event loop only."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    def take(self) -> Callable[[], None]:
        """A slot, and the function that gives it back (calling it again does nothing)."""
        if self.used >= self.limit:
            raise HTTPException(429, f"server busy: max_concurrent={self.limit} requests already in work")
        self.used += 1
        returned = False

        def give_back() -> None:
            nonlocal returned
            if not returned:
                returned, self.used = True, self.used - 1

        return give_back


ERROR_TYPES = {401: "authentication_error", 404: "not_found_error", 408: "timeout", 429: "rate_limit_error",
               504: "timeout"}


def error_body(error: HTTPException) -> dict:
    kind = ERROR_TYPES.get(error.status_code, "invalid_request_error" if error.status_code < 500 else "server_error")
    return {"error": {"message": error.detail, "type": kind, "param": None, "code": error.status_code}}


def error_response(error: HTTPException) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return JSONResponse(error_body(error), status_code=error.status_code, headers=headers)


# ---------------------------------------------------------------- tokens as OpenAI names them


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet: the character each byte is written as inside a token."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    alphabet = {chr(byte): byte for byte in printable}
    others = [byte for byte in range(256) if byte not in alphabet.values()]
    alphabet.update({chr(256 + i): byte for i, byte in enumerate(others)})
    return alphabet


BYTE_LEVEL = _byte_level_alphabet()


def raw_token_bytes(symbol: str) -> bytes | None:
    """The bytes a vocabulary symbol stands for: byte-level BPE ('Ġ' is a space) or a byte
    fallback ('<0xE4>'); None for other vocabularies."""
    if match := re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", symbol):
        return bytes([int(match[1], 16)])
    if symbol and all(ch in BYTE_LEVEL for ch in symbol):
        return bytes(BYTE_LEVEL[ch] for ch in symbol)
    return None


class TokenNames:
    """A token id as OpenAI names it: its decoded text and that text's UTF-8 bytes. A token that
    holds part of a character is 'bytes:\\xe4\\xbd' with its raw bytes. Cached (bounded by the
    vocabulary)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._names: dict[int, tuple[str, list[int]]] = {}

    def __call__(self, token_id: int) -> tuple[str, list[int]]:
        if token_id not in self._names:
            self._names[token_id] = self._name(token_id)
        return self._names[token_id]

    def _name(self, token_id: int) -> tuple[str, list[int]]:
        text = self.tokenizer.decode([token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if "\ufffd" in text:
            raw = raw_token_bytes(self.tokenizer.convert_ids_to_tokens(token_id))
            if raw is not None and not _is_utf8(raw):
                return "bytes:" + "".join(f"\\x{byte:02x}" for byte in raw), list(raw)
        return text, list(text.encode())


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class ChoiceText:
    """One choice's text as its tokens arrive, and how much of it may be sent yet.

    Decodes as the hf backend's detokenizer does (a short window, waiting out split
    characters), so its token ends are those hf cuts a stop sequence by. Text is released a
    whole token at a time, never past a stop sequence it sees, and holds back
    len(longest stop) - 1 characters, where a stop sequence may still begin.
    """

    def __init__(self, tokenizer: Any, stops: list[str]):
        self.tokenizer = tokenizer
        self.stops = [stop for stop in stops if stop]
        self.hold = max(map(len, self.stops), default=1) - 1
        self.ids: list[int] = []
        self.ends: list[int] = []  # text length once token i is shown
        self.text = ""
        self.prefix = self.read = 0
        self.sent_tokens = self.sent_chars = 0

    def push(self, token_id: int) -> None:
        self.ids.append(token_id)
        shown = self._decode(self.ids[self.prefix:self.read])
        window = self._decode(self.ids[self.prefix:])
        if window.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return
        self.text += window[len(shown):]
        self.prefix, self.read = self.read, len(self.ids)
        self.ends += [len(self.text)] * (len(self.ids) - len(self.ends))

    def offset(self, token_index: int) -> int:
        """Where token i's text begins in the choice's text (its end, for a token still incomplete)."""
        if token_index == 0:
            return 0
        return self.ends[token_index - 1] if token_index <= len(self.ends) else len(self.text)

    def release(self) -> tuple[str, range]:
        """The text and the tokens that are safe to send now; they count as sent."""
        tokens = bisect_right(self.ends, self._safe_length())
        return self._send(self.text[self.sent_chars:self.ends[tokens - 1] if tokens else 0], tokens)

    def _safe_length(self) -> int:
        """Text that no stop sequence can cut: up to the first stop seen, else all but the hold."""
        start = max(0, self.sent_chars - self.hold)
        found = [i for i in (self.text.find(stop, start) for stop in self.stops) if i >= 0]
        return min(found, default=len(self.text) - self.hold)

    def finish(self, completion: Completion) -> tuple[str, range]:
        """What is left once the final completion is known: its text and tokens are the truth."""
        if not completion.text.startswith(self.text[:self.sent_chars]):
            log.warning("streamed text is not a prefix of the final text; the rest is sent as is")
        return self._send(completion.text[self.sent_chars:], max(self.sent_tokens, len(completion.token_ids)))

    def _send(self, text: str, tokens: int) -> tuple[str, range]:
        sent = range(self.sent_tokens, tokens)
        self.sent_chars += len(text)
        self.sent_tokens = tokens
        return text, sent

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def token_offsets(tokenizer: Any, token_ids: list[int]) -> list[int]:
    text = ChoiceText(tokenizer, [])
    for token_id in token_ids:
        text.push(token_id)
    return [text.offset(i) for i in range(len(token_ids))]


@dataclass
class TokenLogprobs:
    """Logprobs of a run of one choice's tokens: per token its logprob and its alternatives."""

    token_ids: list[int]
    logprobs: list[float]
    alternatives: list[tuple[tuple[int, float], ...]]
    offsets: list[int]

    def text_format(self, names: TokenNames) -> dict:
        """/v1/completions: tokens, token_logprobs, top_logprobs (the k likeliest and the chosen one)."""
        top = []
        for token_id, logprob, alternatives in zip(self.token_ids, self.logprobs, self.alternatives):
            entry = {names(alt)[0]: finite(alt_logprob) for alt, alt_logprob in alternatives}
            entry.setdefault(names(token_id)[0], finite(logprob))
            top.append(entry)
        return {"tokens": [names(token_id)[0] for token_id in self.token_ids],
                "token_logprobs": [finite(lp) for lp in self.logprobs], "top_logprobs": top,
                "text_offset": self.offsets}

    def chat_format(self, names: TokenNames) -> dict:
        """/v1/chat/completions: content[] with token, bytes, logprob and top_logprobs[]."""
        def entry(token_id: int, logprob: float) -> dict:
            name, raw = names(token_id)
            return {"token": name, "bytes": raw, "logprob": finite(logprob)}

        return {"content": [{**entry(token_id, logprob), "top_logprobs": [entry(*alt) for alt in alternatives]}
                            for token_id, logprob, alternatives in
                            zip(self.token_ids, self.logprobs, self.alternatives)]}


def finite(logprob: float) -> float:
    return max(logprob, LOWEST_LOGPROB)


# ---------------------------------------------------------------- answers


def openai_finish(completion: Completion) -> dict[str, Any]:
    """finish_reason as OpenAI says it, plus vLLM's stop_reason (null after end-of-sequence)."""
    reason = "length" if completion.finish_reason == "length" else "stop"
    return {"finish_reason": reason, "stop_reason": "stop sequence" if completion.finish_reason == "stop" else None}


def usage(results: list[list[Completion]]) -> dict[str, int]:
    prompt = sum(per_prompt[0].prompt_tokens for per_prompt in results if per_prompt)
    completion = sum(c.completion_tokens for per_prompt in results for c in per_prompt)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class Job:
    """An accepted request on its way through the generator."""

    body: Body
    params: SamplingParams
    top_logprobs: int | None  # None: no logprobs asked for
    deadline: float
    future: Future | None = None
    steps: dict[int, list] = field(default_factory=lambda: defaultdict(list))  # choice -> TokenSteps
    queue: asyncio.Queue | None = None  # streamed TokenSteps, then None once the future is done
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def chat(self) -> bool:
        return self.body.kind == "chat"

    @property
    def response_id(self) -> str:
        return f"{'chatcmpl' if self.chat else 'cmpl'}-{self.id}"

    def object(self, chunk: bool = False) -> str:
        if self.chat:
            return "chat.completion.chunk" if chunk else "chat.completion"
        return "text_completion"  # OpenAI names completion chunks so too

    def choice_index(self, prompt_index: int, sample_index: int) -> int:
        return prompt_index * self.params.n + sample_index

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def observe(self, step: Any) -> None:
        """Keeps a token's step for its choice (the generator's thread; read once it is done)."""
        self.steps[self.choice_index(step.prompt_index, step.sample_index)].append(step)


def sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


@serve.deployment(max_ongoing_requests=64)
@serve.ingress(api)
class ModelServer:
    def __init__(self, model_path: str, model_name: str, generator_options: dict[str, Any],
                 api_key_sha256: str | None = None, limits: dict[str, Any] | None = None):
        from pipeline.generators.hf import HFGenerator

        self.model_name = model_name
        self.generator = HFGenerator(model_path, **generator_options)
        self.names = TokenNames(self.generator.tokenizer)
        self.api_key_sha256 = api_key_sha256  # only the digest travels to the replica
        self.limits = ServeModelLimits.model_validate(limits or {})
        self.slots = Slots(self.limits.max_concurrent)

    def _authorize(self, header: str | None) -> None:
        from pipeline.interfaces.serve import HttpError, authorize

        try:
            authorize(header, self.api_key_sha256)
        except HttpError as error:
            raise HTTPException(error.status, error.message) from None

    @api.get("/v1/models")
    def models(self, authorization: str | None = Header(None)):
        try:
            self._authorize(authorization)
        except HTTPException as error:
            return error_response(error)
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "ttc"}]}

    @api.post("/v1/completions")
    async def completions(self, request: Request):
        return await self._serve(request, CompletionRequest)

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request):
        return await self._serve(request, ChatRequest)

    # ------------------------------------------------------------ one request

    async def _serve(self, request: Request, schema: type[Body]):
        """Checks in order of cost (key, declared size, a free slot, body, limits), then work."""
        loop = asyncio.get_running_loop()
        try:
            self._authorize(request.headers.get("authorization"))
            check_declared_size(request.headers.get("content-length"), self.limits.max_body_bytes)
            give_back = self.slots.take()
            try:
                job = await self._accept(request, schema)
            except BaseException:
                give_back()
                raise
            # the slot is held while the generator works on it, whoever stops waiting for it
            job.future.add_done_callback(lambda _future: loop.call_soon_threadsafe(give_back))
            if job.body.stream:
                return StreamingResponse(self._stream(job), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache"})
            return JSONResponse(await self._answer(job))
        except ClientDisconnect:  # gone while sending its body: nobody to answer
            return Response(status_code=400)
        except HTTPException as error:
            if error.status_code >= 500 or error.status_code in (408, 413, 429):
                where = request.client.host if request.client else "?"
                log.warning("%s %s from %s: %s", error.status_code, request.url.path, where, error.detail)
            return error_response(error)

    async def _accept(self, request: Request, schema: type[Body]) -> Job:
        try:  # a slot is held while the body arrives: a client sending it slowly must not keep it
            raw = await asyncio.wait_for(read_body(request, self.limits.max_body_bytes), self.limits.body_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(408, f"body not received within body_timeout_s="
                                     f"{self.limits.body_timeout_s:g}") from None
        body = parse_body(raw, schema)
        if body.model != self.model_name:
            raise HTTPException(404, f"model {body.model[:100]!r} is not served here; this server serves "
                                     f"{self.model_name!r}")
        check_limits(body, self.limits)
        top = body.top_logprobs_wanted()
        params = sampling_params(body, body.requested_tokens(), top is not None)
        params = params.model_copy(update={"top_k": min(params.top_k, self.generator.vocab_size)})
        job = Job(body, params, top, deadline=time.monotonic() + self.limits.request_timeout_s)
        job.future = await self._submit(job)
        return job

    async def _submit(self, job: Job) -> Future:
        """Renders and tokenizes on a worker thread, so the event loop keeps answering."""
        from pipeline.generators.hf import RequestTooLargeError

        loop = asyncio.get_running_loop()
        observer = None
        if job.body.stream:
            job.queue = asyncio.Queue()
            observer = lambda step: loop.call_soon_threadsafe(job.queue.put_nowait, step)  # noqa: E731
        elif job.top_logprobs:
            observer = job.observe

        def submit() -> Future:
            prompts = job.body.prompts(self.generator.tokenizer)
            return self.generator.submit(prompts, job.params, top_logprobs=job.top_logprobs or 0, on_token=observer)

        pending = loop.run_in_executor(None, submit)
        try:
            future = await asyncio.shield(pending)
        except (RequestTooLargeError, ValueError) as error:
            raise HTTPException(400, str(error)[:1000]) from None
        except asyncio.CancelledError:  # the client left while its prompts were tokenized
            pending.add_done_callback(lambda done: done.exception() or done.result().cancel())
            raise
        if job.queue is not None:
            future.add_done_callback(lambda _future: loop.call_soon_threadsafe(job.queue.put_nowait, None))
        return future

    async def _answer(self, job: Job) -> dict:
        try:
            results = await asyncio.wait_for(asyncio.wrap_future(job.future), job.seconds_left())
        except asyncio.TimeoutError:  # wait_for cancelled the future: its rows leave the batch
            raise HTTPException(504, f"request took longer than request_timeout_s="
                                     f"{self.limits.request_timeout_s:g}") from None
        choices = []
        for prompt_index, per_prompt in enumerate(results):
            for sample_index, completion in enumerate(per_prompt):
                index = job.choice_index(prompt_index, sample_index)
                choices.append(self._choice(job, index, completion))
        return {"id": job.response_id, "object": job.object(), "created": job.created, "model": self.model_name,
                "choices": choices, "usage": usage(results)}

    def _choice(self, job: Job, index: int, completion: Completion) -> dict:
        choice: dict[str, Any] = {"index": index}
        if job.chat:
            choice["message"] = {"role": "assistant", "content": completion.text}
        else:
            choice["text"] = completion.text
        choice.update(openai_finish(completion), token_ids=completion.token_ids, logprobs=None)
        if job.top_logprobs is not None:
            kept = len(completion.token_ids)
            steps = job.steps.get(index, [])
            alternatives = [step.top for step in steps[:kept]] if job.top_logprobs else [()] * kept
            logprobs = TokenLogprobs(completion.token_ids, completion.token_logprobs or [], alternatives,
                                     token_offsets(self.generator.tokenizer, completion.token_ids))
            choice["logprobs"] = self._logprobs_format(job, logprobs)
        return choice

    def _logprobs_format(self, job: Job, logprobs: TokenLogprobs) -> dict:
        return logprobs.chat_format(self.names) if job.chat else logprobs.text_format(self.names)

    # ------------------------------------------------------------ streaming

    async def _stream(self, job: Job) -> AsyncIterator[str]:
        """Chunks as the tokens are decoded, one choice per chunk, then the finish chunks and [DONE]."""
        choices = job.params.n * job.body.prompt_count()
        texts = [ChoiceText(self.generator.tokenizer, job.params.stop) for _ in range(choices)]
        try:
            if job.chat:  # OpenAI opens each chat choice with its role
                for index in range(choices):
                    yield self._chunk(job, index, {"delta": {"role": "assistant", "content": ""}})
            while not await self._take_steps(job, texts):
                for index, text in enumerate(texts):
                    if chunk := self._delta(job, index, text, *text.release()):
                        yield chunk
            results = job.future.result()
            for prompt_index, per_prompt in enumerate(results):
                for sample_index, completion in enumerate(per_prompt):
                    index = job.choice_index(prompt_index, sample_index)
                    yield self._delta(job, index, texts[index], *texts[index].finish(completion), completion)
            if job.body.stream_options and job.body.stream_options.include_usage:
                yield self._chunk(job, None, {"usage": usage(results)})
            yield "data: [DONE]\n\n"
        except HTTPException as error:
            yield sse(error_body(error))
        except Exception as error:  # noqa: BLE001 - the stream has begun: report it in the stream
            log.exception("generation failed while streaming")
            yield sse(error_body(HTTPException(500, f"{type(error).__name__}: {error}"[:1000])))
        finally:
            job.future.cancel()  # the client left or the stream ended: no more work for it

    async def _take_steps(self, job: Job, texts: list[ChoiceText]) -> bool:
        """Waits for the next tokens and takes all that arrived meanwhile; True once the request is done."""
        try:
            step = await asyncio.wait_for(job.queue.get(), job.seconds_left())
        except asyncio.TimeoutError:
            raise HTTPException(504, f"request took longer than request_timeout_s="
                                     f"{self.limits.request_timeout_s:g}") from None
        while step is not None:
            index = job.choice_index(step.prompt_index, step.sample_index)
            texts[index].push(step.token_id)
            if job.top_logprobs is not None:
                job.steps[index].append(step)
            if job.queue.empty():
                return False
            step = job.queue.get_nowait()
        return True

    def _delta(self, job: Job, index: int, text: ChoiceText, delta: str, tokens: range,
               completion: Completion | None = None) -> str | None:
        """A chunk with one choice's new text and its tokens' logprobs; None if there is nothing new."""
        if not delta and not tokens and completion is None:
            return None
        if job.chat:  # the closing chunk of a chat choice has an empty delta
            choice: dict[str, Any] = {"delta": {"content": delta} if delta or completion is None else {}}
        else:
            choice = {"text": delta}
        choice["logprobs"] = None
        if job.top_logprobs is not None and tokens:
            steps = job.steps[index][tokens.start:tokens.stop]
            logprobs = TokenLogprobs([s.token_id for s in steps], [s.logprob for s in steps],
                                     [s.top for s in steps], [text.offset(i) for i in tokens])
            choice["logprobs"] = self._logprobs_format(job, logprobs)
        choice.update(openai_finish(completion) if completion else {"finish_reason": None})
        return self._chunk(job, index, choice)

    def _chunk(self, job: Job, index: int | None, content: dict) -> str:
        chunk = {"id": job.response_id, "object": job.object(chunk=True), "created": job.created,
                 "model": self.model_name}
        if index is None:  # the usage chunk has no choices
            return sse({**chunk, "choices": [], **content})
        return sse({**chunk, "choices": [{"index": index, **content}]})


def build_app(model_path: str, model_name: str | None = None, device: str = "auto", dtype: str = "auto",
              max_batch_size: int = 64, memory_budget_mb: float | None = None,
              num_replicas: int = 1, num_cpus: float = 1.0, num_gpus: float | None = None,
              api_key_sha256: str | None = None, limits: ServeModelLimits | None = None):
    """The Serve application; checks the model folder here so a bad path fails before Ray starts."""
    import torch

    from pipeline.generators.hf import check_model_folder

    path = check_model_folder(model_path).resolve()
    limits = limits or ServeModelLimits()
    if num_gpus is None:  # a replica sees a GPU only if it asks Ray for one
        wants_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        num_gpus = 1.0 if wants_gpu else 0.0
    options = dict(device=device, dtype=dtype, max_batch_size=max_batch_size, memory_budget_mb=memory_budget_mb)
    # Serve lets a few more requests in than the limit, so the extra ones get our 429 (and
    # /v1/models still answers) rather than waiting in Serve's queue; that queue is bounded too.
    ongoing = limits.max_concurrent + 8
    deployment = ModelServer.options(
        num_replicas=num_replicas, ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus},
        max_ongoing_requests=ongoing, max_queued_requests=4 * ongoing)
    return deployment.bind(str(path), model_name or path.name, options, api_key_sha256, limits.model_dump())


def serve_model(model_path: str, host: str = "127.0.0.1", port: int = 8000, blocking: bool = True,
                app_name: str = "ttc-model", api_key_file: str | None = None, **options: Any) -> str:
    """Deploy `build_app(model_path, **options)` on Ray Serve at http://host:port/v1 and return that URL.

    Binds loopback by default; any other address needs an API key (TTC_API_KEY or
    `api_key_file`), as `ttc serve` does. Uses the connected Ray cluster (or starts a local
    one). With `blocking`, serves until interrupted.
    """
    from pipeline.interfaces.serve import check_bind, key_digest, resolve_api_key

    key = resolve_api_key(api_key_file)
    check_bind(host, key is not None)
    app = build_app(model_path, api_key_sha256=key_digest(key) if key else None, **options)
    serve.start(http_options={"host": host, "port": port})
    serve.run(app, name=app_name, route_prefix="/", blocking=blocking)
    return f"http://{host}:{port}/v1"
