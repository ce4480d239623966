"""`ttc serve-model`: a local transformers model behind an OpenAI-compatible HTTP API.

Ray Serve runs one replica holding an `HFGenerator`; `/v1/completions` and
`/v1/chat/completions` accept the OpenAI request bodies (fields they do not use are
ignored, `stream` is refused). Concurrent requests are batched by the generator itself:
`submit` queues them and its worker merges those that arrive within a few ms into one
decode batch, so Serve's own `@serve.batch` is not needed. Binds to 127.0.0.1 by default.
"""

import asyncio
import time
import uuid
from typing import Any, Literal

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from pipeline.core.types import Completion, SamplingParams

api = FastAPI(title="ttc model server")

# OpenAI field -> SamplingParams field, to name the client's field in error messages.
OPENAI_NAMES = {"max_new_tokens": "max_tokens"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields we do not use

    model: str
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False


class CompletionRequest(_Body):
    prompt: str | list[str] = Field(description="one prompt or a list; n completions each")
    logprobs: int | None = Field(None, ge=0, le=20, description="any value returns the sampled token's logprob only")


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class ChatRequest(_Body):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = None
    logprobs: bool = False


def sampling_params(body: _Body, max_tokens: int | None, logprobs: bool) -> SamplingParams:
    """The body's sampling fields as SamplingParams; a 400 naming the client's field if invalid."""
    if body.stream:
        raise HTTPException(400, "stream: streaming is not supported; send stream=false")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    fields = dict(n=body.n, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
                  max_new_tokens=16 if max_tokens is None else max_tokens, stop=stop,
                  seed=body.seed, logprobs=logprobs)
    try:
        return SamplingParams(**fields)
    except ValidationError as error:
        problems = [f"{OPENAI_NAMES.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']} (got {e['input']!r})"
                    for e in error.errors()]
        raise HTTPException(400, "; ".join(problems)) from None


def chat_prompt(tokenizer: Any, messages: list[ChatMessage]) -> str:
    from pipeline.generators.chat import render_chat

    return render_chat(tokenizer, [message.model_dump() for message in messages])


def openai_finish(completion: Completion) -> dict[str, Any]:
    """finish_reason as OpenAI says it, plus vLLM's stop_reason (null after end-of-sequence)."""
    reason = "length" if completion.finish_reason == "length" else "stop"
    return {"finish_reason": reason, "stop_reason": "stop sequence" if completion.finish_reason == "stop" else None}


def usage(results: list[list[Completion]]) -> dict[str, int]:
    prompt = sum(per_prompt[0].prompt_tokens for per_prompt in results if per_prompt)
    completion = sum(c.completion_tokens for per_prompt in results for c in per_prompt)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_choice(index: int, completion: Completion, logprobs: bool, tokenizer: Any) -> dict:
    choice = {"index": index, "text": completion.text, **openai_finish(completion),
              "token_ids": completion.token_ids, "logprobs": None}
    if logprobs:
        tokens = tokenizer.convert_ids_to_tokens(completion.token_ids)
        choice["logprobs"] = {"tokens": tokens, "token_logprobs": completion.token_logprobs,
                              "top_logprobs": None, "text_offset": None}
    return choice


def chat_choice(index: int, completion: Completion, logprobs: bool, tokenizer: Any) -> dict:
    choice = {"index": index, "message": {"role": "assistant", "content": completion.text},
              **openai_finish(completion), "token_ids": completion.token_ids, "logprobs": None}
    if logprobs:
        tokens = tokenizer.convert_ids_to_tokens(completion.token_ids)
        choice["logprobs"] = {"content": [{"token": t, "logprob": lp, "top_logprobs": []}
                                          for t, lp in zip(tokens, completion.token_logprobs)]}
    return choice


@serve.deployment(max_ongoing_requests=64)
@serve.ingress(api)
class ModelServer:
    def __init__(self, model_path: str, model_name: str, generator_options: dict[str, Any],
                 api_key_sha256: str | None = None):
        from pipeline.generators.hf import HFGenerator

        self.model_name = model_name
        self.generator = HFGenerator(model_path, **generator_options)
        self.api_key_sha256 = api_key_sha256  # only the digest travels to the replica

    def _authorize(self, header: str | None) -> None:
        from pipeline.interfaces.serve import HttpError, authorize

        try:
            authorize(header, self.api_key_sha256)
        except HttpError as error:
            raise HTTPException(error.status, error.message) from None

    @api.get("/v1/models")
    def models(self, authorization: str | None = Header(None)) -> dict:
        self._authorize(authorization)
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "owned_by": "ttc"}]}

    @api.post("/v1/completions")
    async def completions(self, body: CompletionRequest, authorization: str | None = Header(None)) -> dict:
        self._authorize(authorization)
        params = sampling_params(body, body.max_tokens, body.logprobs is not None)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        results = await self._generate(body.model, prompts, params)
        tokenizer = self.generator.tokenizer
        choices = [completion_choice(i, c, params.logprobs, tokenizer)
                   for i, c in enumerate(c for per_prompt in results for c in per_prompt)]
        return self._response("text_completion", choices, results)

    @api.post("/v1/chat/completions")
    async def chat_completions(self, body: ChatRequest, authorization: str | None = Header(None)) -> dict:
        self._authorize(authorization)
        params = sampling_params(body, body.max_completion_tokens or body.max_tokens, body.logprobs)
        prompt = chat_prompt(self.generator.tokenizer, body.messages)
        results = await self._generate(body.model, [prompt], params)
        choices = [chat_choice(i, c, params.logprobs, self.generator.tokenizer) for i, c in enumerate(results[0])]
        return self._response("chat.completion", choices, results)

    async def _generate(self, model: str, prompts: list[str], params: SamplingParams) -> list[list[Completion]]:
        from pipeline.generators.hf import RequestTooLargeError

        if model != self.model_name:
            raise HTTPException(404, f"model {model!r} is not served here; this server serves {self.model_name!r}")
        if not prompts:
            raise HTTPException(400, "prompt: give at least one prompt")
        try:
            future = self.generator.submit(prompts, params)  # checks run here, before queueing
        except (RequestTooLargeError, ValueError) as error:
            raise HTTPException(400, str(error)) from None
        return await asyncio.wrap_future(future)

    def _response(self, kind: str, choices: list[dict], results: list[list[Completion]]) -> dict:
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                "model": self.model_name, "choices": choices, "usage": usage(results)}


def build_app(model_path: str, model_name: str | None = None, device: str = "auto", dtype: str = "auto",
              max_batch_size: int = 64, memory_budget_mb: float | None = None,
              num_replicas: int = 1, num_cpus: float = 1.0, num_gpus: float | None = None,
              api_key_sha256: str | None = None):
    """The Serve application; checks the model folder here so a bad path fails before Ray starts."""
    import torch

    from pipeline.generators.hf import check_model_folder

    path = check_model_folder(model_path).resolve()
    if num_gpus is None:  # a replica sees a GPU only if it asks Ray for one
        wants_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        num_gpus = 1.0 if wants_gpu else 0.0
    options = dict(device=device, dtype=dtype, max_batch_size=max_batch_size, memory_budget_mb=memory_budget_mb)
    deployment = ModelServer.options(
        num_replicas=num_replicas, ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus})
    return deployment.bind(str(path), model_name or path.name, options, api_key_sha256)


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

