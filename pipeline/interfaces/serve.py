"""`ttc serve`: best-of-N over HTTP, a Ray Serve app holding one SDK `Client` (warm actors).

    POST /v1/best_of_n   {"task": {...Task...}, "n": 8, "verifier": "unit_tests", ...}  -> BestOfN JSON
    GET  /healthz        {"status": "ok"}

The body is a Task plus the fields of `pipeline.interfaces.sdk.BestOfNRequest`; the answer is
`pipeline.interfaces.sdk.BestOfN` as JSON. Errors are JSON `{"error": "..."}` naming the field or limit.

What it protects against (issue 13): binding anything but loopback without an API key (it
refuses to start); requests without the key when one is set (401, compared in constant time,
never logged); oversized or overlong work (body size, n, max_new_tokens, task files, and the
strategy's own options: turns, parallel trajectories, NFEs, thoughts, total tokens) and too many
requests at once; paths on the server named by a task (tasks carry their files inline); tasks a
strategy or the model cannot take (4xx before any work starts). A run in which nothing
succeeded is a 500 naming its first error. What not: TLS (put a proxy in front), rate limits
per client, and the code a model writes, which the Docker sandbox contains.
"""
# No `from __future__ import annotations` here: FastAPI must see the real `Request` class on the
# ingress methods, which are defined inside build_app.
import hashlib
import hmac
import json
import logging
import os
import re
import signal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.config import ConfigError, format_validation_error
from pipeline.core.config import build_config
from pipeline.core.registry import UnknownNameError
from pipeline.interfaces.sdk import BestOfNRequest, RunFailed, RunRetention, request_options
from pipeline.core.types import Task

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MIN_KEY_CHARS = 16
log = logging.getLogger("ttc.serve")


class ServeError(ConfigError):
    """The server cannot start as asked (an exposed address without a key, say)."""


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class ServeLimits(BaseModel):
    """Checked before any work; the defaults fit one small GPU node."""

    model_config = ConfigDict(extra="forbid")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="request body size")
    max_n: int = Field(256, ge=1, le=4096, description="samples per request")
    max_new_tokens: int = Field(4096, ge=1, le=32768, description="tokens per sample")
    max_files: int = Field(64, ge=0, description="files in task.files")
    max_files_bytes: int = Field(512_000, ge=0, description="total size of task.files")
    max_concurrent: int = Field(4, ge=1, le=1024, description="requests worked on at once; more get 429")
    request_timeout_s: float = Field(600.0, gt=0, le=86_400, description="longer requests are answered 504")
    # the strategies' expensive options (each Options field names its cap: agents/options.py)
    max_turns: int = Field(8, ge=1, description="strategy_options.turns (codemonkeys)")
    max_parallel: int = Field(16, ge=1, description="strategy_options.parallel: trajectories (codemonkeys)")
    max_nfe_budget: int = Field(2000, ge=1, description="strategy_options.nfe_budget: NFEs per sample (noise_search)")
    max_thought_length: int = Field(32, ge=0, description="strategy_options.thought_length (quiet_star)")
    max_n_thoughts: int = Field(8, ge=1, description="strategy_options.n_thoughts (quiet_star)")
    max_beam_width: int = Field(16, ge=1, description="strategy_options.beam_width (prm_search)")
    max_search_steps: int = Field(32, ge=1, description="strategy_options.max_steps: steps a path may take (prm_search)")
    max_total_tokens: int = Field(1_048_576, ge=1, description="tokens one request may generate at most: samples "
                                  "x max_new_tokens x the strategy's turns, trajectories and thoughts")


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    config: dict[str, Any] = Field(default_factory=dict, description="the RunConfig every request starts from")
    api_key_sha256: str | None = Field(None, description="sha256 of the API key; the key itself never travels")
    limits: ServeLimits = Field(default_factory=ServeLimits)
    retention: RunRetention = Field(default_factory=RunRetention, description="how long request run dirs stay")


class BestOfNHttpRequest(BestOfNRequest):
    task: Task

    def sdk_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"task", "n"}, exclude_none=True)


# --- plain checks: no Ray, no web framework --------------------------------------------------

def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def resolve_api_key(key_file: str | None) -> str | None:
    """The key from --api-key-file, else TTC_API_KEY, else None."""
    if key_file:
        path = Path(key_file)
        if not path.is_file():
            raise ServeError(f"API key file {key_file!r} does not exist")
        key = path.read_text().strip()
    else:
        key = os.environ.get("TTC_API_KEY", "").strip()
    if key and len(key) < MIN_KEY_CHARS:
        raise ServeError(f"the API key has {len(key)} characters; use at least {MIN_KEY_CHARS}")
    return key or None


def check_bind(host: str, has_key: bool) -> None:
    if host not in LOOPBACK and not has_key:
        raise ServeError(f"refusing to bind {host!r} without an API key: anyone who reaches it could run work "
                         "on this cluster; set TTC_API_KEY or pass --api-key-file (or bind 127.0.0.1)")


def authorize(header: str | None, key_sha256: str | None) -> None:
    if key_sha256 is None:
        return
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HttpError(401, "missing API key: send the header 'Authorization: Bearer <key>'")
    if not hmac.compare_digest(key_digest(given.strip()), key_sha256):
        raise HttpError(401, "invalid API key")


def check_declared_size(content_length: str | None, limits: ServeLimits) -> None:
    if content_length and content_length.isdigit() and int(content_length) > limits.max_body_bytes:
        raise HttpError(413, f"body of {content_length} bytes exceeds max_body_bytes={limits.max_body_bytes}")


def json_object(raw: bytes) -> dict:
    """A request body as a JSON object; ValueError says why it is not one (`ttc serve` and
    `ttc serve-model` answer that with a 400)."""
    try:
        data = json.loads(raw)
    except ValueError as error:  # bad JSON, bad UTF-8, an integer of more than 4300 digits
        raise ValueError(f"body is not valid JSON: {str(error)[:200]}") from None
    except RecursionError:  # a deeply nested body must not take the server down
        raise ValueError("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"body must be a JSON object, got {type(data).__name__}")
    return data


def parse_request(body: bytes, limits: ServeLimits, base: dict | None = None) -> BestOfNHttpRequest:
    """The request, checked against `limits` and the server's run config `base`."""
    try:
        data = json_object(body)
    except ValueError as bad:
        raise HttpError(400, str(bad)) from None
    try:
        request = BestOfNHttpRequest.model_validate(data)
    except ValidationError as err:
        raise HttpError(422, format_validation_error(err)) from None
    check_limits(request, limits)
    check_server_paths(request.task)
    check_strategy_options(request, limits, base or {})
    return request


def check_limits(request: BestOfNHttpRequest, limits: ServeLimits) -> None:
    if request.n > limits.max_n:
        raise HttpError(422, f"n: {request.n} exceeds this server's max_n={limits.max_n}")
    if request.max_new_tokens and request.max_new_tokens > limits.max_new_tokens:
        raise HttpError(422, f"max_new_tokens: {request.max_new_tokens} exceeds this server's "
                             f"max_new_tokens={limits.max_new_tokens}")
    files = {**request.task.files, **inline_repo_files(request.task)}
    if len(files) > limits.max_files:
        raise HttpError(413, f"task.files: {len(files)} files exceed max_files={limits.max_files}")
    size = sum(len(text.encode()) for text in files.values())
    if size > limits.max_files_bytes:
        raise HttpError(413, f"task.files: {size} bytes exceed max_files_bytes={limits.max_files_bytes}")


def inline_repo_files(task: Task) -> dict[str, str]:
    """metadata.repo_files (monitor_guided's repository): files too, under the same limits."""
    repo = task.metadata.get("repo_files")
    if not isinstance(repo, dict):
        return {}
    return {f"repo_files/{path}": text if isinstance(text, str) else json.dumps(text) for path, text in repo.items()}


_SEPARATORS = re.compile(r"[/\\]")


def names_server_path(text: str) -> bool:
    """An absolute path or one with a '..' segment. Text with a line break is file content, not a path."""
    if "\n" in text or "\r" in text:
        return False
    return text.startswith(("/", "\\", "~/")) or ".." in _SEPARATORS.split(text)


def check_server_paths(task: Task) -> None:
    """HTTP tasks carry their files inline: nothing in task.metadata may point at the server's disk."""
    if "repo_root" in task.metadata:
        raise HttpError(422, "task.metadata.repo_root: a folder on the server is not accepted over HTTP; "
                             "send the repository's files inline in task.files")
    stack: list[tuple[str, Any]] = [("task.metadata", task.metadata)]
    while stack:  # iterative: a deeply nested value must not exhaust the stack
        where, value = stack.pop()
        if isinstance(value, str) and names_server_path(value):
            raise HttpError(422, f"{where}: {value[:80]!r} names a path on the server; over HTTP a task "
                                 "carries its files inline (task.files) and names them by relative path")
        if isinstance(value, dict):
            stack += [(f"{where} key", key) for key in value]
            stack += [(f"{where}.{key}", item) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", item) for i, item in enumerate(value)]


def check_strategy_options(request: BestOfNHttpRequest, limits: ServeLimits, base: dict) -> None:
    """The strategy's options against its Options model and this server's caps; the total
    tokens the request may generate against max_total_tokens."""
    from agents import options_model, parse_options

    try:
        model = options_model(request.strategy)
    except UnknownNameError as exc:
        raise HttpError(422, f"strategy: {exc}") from None
    own = request.strategy_options or {}
    if model is None:
        if own:
            raise HttpError(422, f"strategy_options: strategy {request.strategy!r} declares no options")
        return
    check_caps(own, model, limits)
    try:
        options = parse_options(request.strategy, request_options(base, request.strategy, request.strategy_options))
    except ValueError as exc:
        raise HttpError(422, str(exc)) from None
    for name in own:
        if model.field_extra(name).get("server_path") and own[name] is not None:
            raise HttpError(422, f"strategy_options.{name}: a path on the server is not accepted over HTTP")
    config = build_config(base, source="the server's config")
    max_new = request.max_new_tokens or config.sampling.max_new_tokens
    total = options.worst_case_tokens(request.n, max_new, config.runner.chunk_size)
    if total > limits.max_total_tokens:
        raise HttpError(422, f"strategy_options: n={request.n} x max_new_tokens={max_new} with these options may "
                             f"generate {total} tokens, over this server's max_total_tokens={limits.max_total_tokens}")


def check_caps(own: dict[str, Any], model, limits: ServeLimits) -> None:
    for name, value in own.items():
        cap = model.field_extra(name).get("cap") if name in model.model_fields else None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if cap and numeric and value > getattr(limits, cap):
            raise HttpError(422, f"strategy_options.{name}: {value} exceeds this server's "
                                 f"{cap}={getattr(limits, cap)}")


class Gate:
    """At most `limit` requests inside at once; the next one gets 429 at once, not a queue."""

    def __init__(self, limit: int):
        self.limit, self.active = limit, 0

    def __enter__(self) -> "Gate":
        if self.active >= self.limit:
            raise HttpError(429, f"server busy: max_concurrent={self.limit} requests already running")
        self.active += 1
        return self

    def __exit__(self, *exc) -> None:
        self.active -= 1


async def read_body(request, limits: ServeLimits) -> bytes:
    """The body, cut off as soon as it passes the limit (a missing Content-Length included)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise HttpError(413, f"body exceeds max_body_bytes={limits.max_body_bytes}")
    return bytes(body)


def sdk_error_status(exc: Exception) -> int:
    """Bad arguments the SDK found before any work (unknown verifier, a task without tests, a
    strategy that cannot take the task, a prompt over the context) are the caller's: 422. A run
    in which every chunk failed (RunFailed) and anything else are the server's: 500."""
    if isinstance(exc, RunFailed):
        return 500
    return 422 if isinstance(exc, ValueError) else 500


async def within(awaitable, seconds: float):
    """The awaitable's result, or a 504 naming the limit once `seconds` have passed. The run
    itself finishes in the background and stays on disk; the client is told at once."""
    import asyncio

    try:
        return await asyncio.wait_for(awaitable, timeout=seconds)
    except asyncio.TimeoutError:
        raise HttpError(504, f"request took longer than request_timeout_s={seconds:g}") from None


# --- the Ray Serve app ------------------------------------------------------------------------

def build_app(settings: ServeSettings):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from ray import serve

    api = FastAPI(title="ttc", description="best-of-N test-time compute")

    @serve.deployment(name="ttc", num_replicas=1, ray_actor_options={"num_cpus": 0},
                      max_ongoing_requests=settings.limits.max_concurrent + 4)
    @serve.ingress(api)
    class TtcIngress:
        def __init__(self, settings_data: dict):
            from pipeline.interfaces.sdk import Client

            self.settings = ServeSettings.model_validate(settings_data)
            self.gate = Gate(self.settings.limits.max_concurrent)
            self.client = Client(config=self.settings.config, retention=self.settings.retention)
            self.client.session.generate_fns()  # warm: ready means the model is loaded
            self.client.session.execute_fn()

        @api.get("/healthz")
        async def healthz(self) -> dict:
            return {"status": "ok"}

        @api.post("/v1/best_of_n")
        async def best_of_n(self, request: Request):
            try:
                return JSONResponse(await self.answer(request))
            except HttpError as exc:
                where = request.client.host if request.client else "?"
                log.warning("%s %s from %s: %s", exc.status, request.url.path, where, exc.message)
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

        async def answer(self, request) -> dict:
            limits = self.settings.limits
            authorize(request.headers.get("authorization"), self.settings.api_key_sha256)
            check_declared_size(request.headers.get("content-length"), limits)
            with self.gate:
                parsed = parse_request(await read_body(request, limits), limits, self.settings.config)
                try:
                    result = await within(self.client.abest_of_n(parsed.task, n=parsed.n, **parsed.sdk_kwargs()),
                                          limits.request_timeout_s)
                except HttpError:
                    raise
                except Exception as exc:  # noqa: BLE001 - answered as an error, logged with its traceback
                    log.exception("best_of_n failed for task %r", parsed.task.id)
                    raise HttpError(sdk_error_status(exc), f"{type(exc).__name__}: {exc}") from None
            return result.model_dump(mode="json")

        def __del__(self):  # Serve calls it on a graceful shutdown: close the sandbox containers
            self.client.close()

    return TtcIngress.bind(settings.model_dump())


def make_settings(config_path: str | None, overrides: list[str] | None = None, host: str = "127.0.0.1",
                  port: int = 8000, api_key_file: str | None = None, limits: list[str] | None = None,
                  retention: list[str] | None = None) -> ServeSettings:
    """Validate everything the server needs before Ray starts: config, key, limits, retention."""
    from pipeline.core.config import load_config

    config = load_config(config_path, overrides)
    key = resolve_api_key(api_key_file)
    check_bind(host, key is not None)
    return ServeSettings(host=host, port=port, config=config.model_dump(mode="json"),
                         api_key_sha256=key_digest(key) if key else None,
                         limits=parse_settings(ServeLimits, limits, "--limit"),
                         retention=parse_settings(RunRetention, retention, "--retention"))


def parse_settings(model, items: list[str] | None, flag: str):
    from pipeline.core.config import apply_overrides

    try:
        return model.model_validate(apply_overrides({}, items or []))
    except ValidationError as err:
        raise ServeError(f"invalid {flag}: {format_validation_error(err)}") from None


def deploy(settings: ServeSettings, ray_address: str | None = None) -> str:
    """Start Serve on `settings.host:port` with the ttc app; returns the base URL."""
    from ray import serve

    from pipeline.engine.runner import init_ray

    check_bind(settings.host, settings.api_key_sha256 is not None)
    init_ray(ray_address)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(build_app(settings), name="ttc", route_prefix="/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


class Stop(BaseException):
    """SIGTERM or SIGINT: leave whatever the main thread does (deploying, waiting) and shut down."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def raise_stop(signum: int, _frame) -> None:
    raise Stop(signal.Signals(signum).name)


def serve_forever(settings: ServeSettings, ray_address: str | None = None) -> None:
    """`ttc serve` until SIGTERM or SIGINT."""
    serve_until_stopped(lambda: deploy(settings, ray_address), "ttc serve", "POST /v1/best_of_n, GET /healthz",
                        ray_address)


def serve_until_stopped(deploy_app, name: str, endpoints: str, ray_address: str | None = None) -> None:
    """Start (or join) Ray, `deploy_app()` -> its URL, and serve until SIGTERM or SIGINT; then stop
    Serve (replicas close their sandboxes) and the Ray this process started, so none of its
    processes outlive it. `ttc serve` and `ttc serve-model` both run this way."""
    from pipeline.engine.runner import init_ray

    previous = {sig: signal.signal(sig, raise_stop) for sig in STOP_SIGNALS}
    try:
        init_ray(ray_address)
        for sig in STOP_SIGNALS:  # ray.init put its own in place: sys.exit, and Ray core's stack dump and abort
            signal.signal(sig, raise_stop)
        url = deploy_app()
        print(f"{name} serving on {url} ({endpoints}); Ctrl-C stops", flush=True)
        while True:
            signal.pause()
    except Stop as stop:
        print(f"{name}: {stop}, shutting down", flush=True)
    finally:
        for sig in STOP_SIGNALS:  # a second signal must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def shutdown() -> None:
    import ray
    from ray import serve

    try:
        if ray.is_initialized():
            serve.shutdown()
    finally:
        ray.shutdown()
