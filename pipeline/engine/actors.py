"""Ray actors around plain components: generators, sandbox pools, model-based verifiers.

Placement follows resources: generator actors ask for a GPU when the cluster has one (else a
CPU), sandbox pools ask for the custom `sandbox` resource (one pool per node that offers it).
Actors restart after a crash and their calls are retried (Ray's own max_restarts and
max_task_retries), so a killed actor costs a retry, not a run.
"""
from __future__ import annotations

import time
from typing import Any

import ray

from pipeline.core.config import RunConfig
from pipeline.generators import make_generator
from pipeline.core.model_zoo import resolve_model_path
from pipeline.core.types import Candidate, Completion, SamplingParams, Task, Verdict


class StartupError(RuntimeError):
    """An actor could not start; the message is the root cause, without Ray's wrapping."""


def wait_started(what: str, refs: list) -> list:
    try:
        return ray.get(refs)
    except ray.exceptions.RayError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise StartupError(f"{what} failed to start: {lines[-1] if lines else exc}") from None


class GeneratorService:
    def __init__(self, backend: str, options: dict[str, Any]):
        self.generator = make_generator(backend, **options)

    def generate(self, prompts: list[str], params: SamplingParams,
                 logits_processors: list | None = None) -> tuple[list[list[Completion]], tuple[float, float]]:
        """Completions, and the wall-clock interval the call spent in this actor."""
        started = time.time()
        completions = self.generator.generate(prompts, params, logits_processors)
        return completions, (started, time.time())

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A backend's own public method (e.g. a diffusion model's `sample`), for non-text strategies."""
        if method.startswith("_") or not callable(getattr(self.generator, method, None)):
            raise AttributeError(f"generator backend {type(self.generator).__name__} has no method {method!r}")
        return getattr(self.generator, method)(*args, **kwargs)

    def ready(self) -> str:
        return ray.get_runtime_context().get_node_id()


class VerifierService:
    """Model-based verifiers (reward_model, llm_judge) hold a model: one actor, batched calls."""

    def __init__(self, name: str, options: dict[str, Any]):
        from pipeline.judging.verifiers import make_verifier

        self.verifier = make_verifier(name, **options)

    def verify(self, task: Task, candidates: list[Candidate]) -> list[Verdict]:
        return self.verifier.verify(task, candidates)

    def ready(self) -> bool:
        return True


REMOTE_BACKENDS = {"openai_compat"}  # the model runs in a server: the actor needs no GPU


def generator_options(config: RunConfig) -> dict[str, Any]:
    """The backend's keyword options from `model` (which ones each takes: config.BACKEND_OPTIONS)."""
    m = config.model
    if m.backend == "openai_compat":
        return {"model": m.path, "base_url": m.base_url, "concurrency": m.max_batch_size, **m.options}
    return {"model_path": resolve_model_path(m.path), "device": m.device, "dtype": m.dtype,
            "max_batch_size": m.max_batch_size, **m.options}


def start_generators(config: RunConfig) -> list[ray.actor.ActorHandle]:
    has_gpu = (ray.cluster_resources().get("GPU", 0) >= 1 and config.model.device != "cpu"
               and config.model.backend not in REMOTE_BACKENDS)
    resources = {"num_gpus": 1, "num_cpus": 1} if has_gpu else {"num_cpus": 1}
    actor_class = ray.remote(GeneratorService).options(
        **resources, max_restarts=-1, max_task_retries=config.runner.retries,
        max_concurrency=config.model.max_batch_size)
    actors = [actor_class.remote(config.model.backend, generator_options(config))
              for _ in range(config.runner.generator_actors)]
    wait_started("generator actor", [a.ready.remote() for a in actors])  # a bad model path fails now
    return actors


def sandbox_node_count() -> int:
    return sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("sandbox", 0) >= 1)


def pool_concurrency(pool_size: int) -> int:
    """Calls a pool actor takes at once: two per warm container, so every container has its next
    request waiting inside the pool (the class default, 32, would idle containers past 16)."""
    return max(32, 2 * pool_size)


def start_sandboxes(config: RunConfig) -> list[ray.actor.ActorHandle]:
    from sandbox.pool import SandboxActor

    count = min(config.runner.sandbox_actors, sandbox_node_count())
    if count == 0:
        raise RuntimeError("no Ray node offers the `sandbox` resource; start Ray with "
                           "--resources='{\"sandbox\": 1}' on nodes that run Docker")
    sb = config.sandbox
    actors = [SandboxActor.options(resources={"sandbox": 1}, max_restarts=-1,
                                   max_task_retries=config.runner.retries,
                                   max_concurrency=pool_concurrency(sb.pool_size))
              .remote(size=sb.pool_size, image=sb.image, limits=sb.limits.model_dump(), runtime=sb.runtime)
              for _ in range(count)]
    wait_started("sandbox pool actor", [a.pool_id.remote() for a in actors])  # e.g. a missing image
    return actors


def start_verifier(name: str, options: dict[str, Any]) -> ray.actor.ActorHandle:
    return ray.remote(VerifierService).options(num_cpus=1, max_restarts=-1, max_task_retries=2).remote(name, options)
