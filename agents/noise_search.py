"""Noise search for diffusion models (Ma et al. 2025, "Inference-time scaling for diffusion
models beyond scaling denoising steps"): spend NFEs (UNet evaluations) searching over the
initial noise and the sampling path, scored by a verifier.

  random      best of N initial noises (N = budget // steps)
  zero_order  start from one noise; each round sample `neighbours` noises within `radius` of
              the pivot (sqrt(1 - r^2) * pivot + r * eps keeps them standard normal) and move
              the pivot to the best one if it beats the pivot
  paths       `width` noises denoised `stride` steps; the `keep` best (scored on the model's x0
              prediction, no extra NFE) are re-noised `backtrack` steps with fresh noise into
              width / keep branches each, and continued; repeat until the last step

The algorithms are plain functions of a `SearchContext` of callables (denoise, renoise,
score), so a test drives them with a local sampler; `NoiseSearch` backs them with the
generator actors (`tools.call_generator`) and the run's verifier (`tools.verify`).
"""
from __future__ import annotations

import inspect
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
from pydantic import model_validator

from agents.base import Generate, Tools
from agents.options import StrategyOptions, option
from pipeline.core.types import Candidate, Completion, SamplingParams, Task, Trajectory

# denoise(states, from_step, to_step, seed) -> (latents at to_step, images [N, H, W] uint8, nfe per image)
Denoise = Callable[[np.ndarray, int, int, int], tuple[np.ndarray, np.ndarray, int]]
Renoise = Callable[[np.ndarray, int, int, int], np.ndarray]
Score = Callable[[np.ndarray], list[float]]


@dataclass
class SearchContext:
    denoise: Denoise
    renoise: Renoise
    score: Score
    shape: tuple[int, ...]
    steps: int
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    nfe: int = 0

    def noise(self, count: int, stream: int) -> np.ndarray:
        """`count` standard normal initial noises from (seed, stream): same seed, same noises."""
        rng = np.random.default_rng([self.seed, stream])
        return rng.standard_normal((count, *self.shape)).astype(np.float32)

    def run(self, states: np.ndarray, from_step: int, to_step: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
        latents, images, nfe = self.denoise(states, from_step, to_step, self.seed * 1009 + stream)
        self.nfe += nfe * len(states)
        return latents, images

    def log(self, **entry: Any) -> None:
        self.history.append({"nfe": self.nfe, **entry})


@dataclass
class Found:
    image: np.ndarray
    score: float


def random_search(ctx: SearchContext, budget: int) -> Found:
    count = max(1, budget // ctx.steps)
    _, images = ctx.run(ctx.noise(count, 0), 0, ctx.steps, 0)
    scores = ctx.score(images)
    for k in sorted({2 ** i for i in range(int(math.log2(count)) + 1)} | {count}):  # best of the first k
        ctx.history.append({"nfe": k * ctx.steps, "best_score": max(scores[:k]), "samples": k})
    best = int(np.argmax(scores))
    return Found(images[best], scores[best])


def zero_order_search(ctx: SearchContext, budget: int, neighbours: int = 4, radius: float = 0.5) -> Found:
    if not 0 < radius <= 1:
        raise ValueError(f"zero_order radius {radius} must be in (0, 1]")
    pivot = ctx.noise(1, 0)
    _, images = ctx.run(pivot, 0, ctx.steps, 0)
    best = Found(images[0], ctx.score(images)[0])
    ctx.log(best_score=best.score, round=0)
    for round_ in range(1, budget):
        count = min(neighbours, (budget - ctx.nfe) // ctx.steps)  # the last round may be smaller
        if count < 1:
            break
        candidates = math.sqrt(1 - radius**2) * pivot + radius * ctx.noise(count, round_)
        _, images = ctx.run(candidates, 0, ctx.steps, round_)
        scores = ctx.score(images)
        top = int(np.argmax(scores))
        if scores[top] > best.score:
            pivot, best = candidates[top:top + 1], Found(images[top], scores[top])
        ctx.log(best_score=best.score, round=round_)
    return best


def path_plan(steps: int, stride: int, backtrack: int) -> list[tuple[int, int]]:
    """(from_step, to_step) of each round: forward `stride`, then back `backtrack` (re-noise)."""
    if not 0 < backtrack < stride:
        raise ValueError(f"paths needs 0 < backtrack ({backtrack}) < stride ({stride})")
    plan, start = [], 0
    while True:
        end = min(start + stride, steps)
        plan.append((start, end))
        if end == steps:
            return plan
        start = end - backtrack


def paths_search(ctx: SearchContext, budget: int, keep: int = 2, stride: int | None = None,
                 backtrack: int | None = None) -> Found:
    stride = stride or max(2, ctx.steps // 3)
    backtrack = backtrack or max(1, stride // 3)
    plan = path_plan(ctx.steps, stride, backtrack)
    walked = sum(end - start for start, end in plan)
    width = max(keep, budget // walked // keep * keep)  # paths per round, a multiple of keep
    states = ctx.noise(width, 0)
    for round_, (start, end) in enumerate(plan):
        latents, images = ctx.run(states, start, end, round_)
        scores = ctx.score(images)
        top = np.argsort(-np.asarray(scores), kind="stable")[:keep]
        ctx.log(best_score=float(scores[top[0]]), round=round_, step=end, width=len(states))
        if end == ctx.steps:
            return Found(images[top[0]], scores[top[0]])
        branches = np.repeat(latents[top], width // keep, axis=0)
        states = ctx.renoise(branches, end, plan[round_ + 1][0], ctx.seed * 1009 + round_)
    raise AssertionError("path_plan always ends at the last step")


ALGORITHMS: dict[str, Callable[..., Found]] = {
    "random": random_search,
    "zero_order": zero_order_search,
    "paths": paths_search,
}


def search(algorithm: str, ctx: SearchContext, budget: int, **options: Any) -> Found:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown noise search algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[algorithm](ctx, budget, **options)


# --- the agent: the same algorithms on generator actors, scored by the run's verifier --------


def sampler_callables(call: Callable[..., Any], label: int, steps: int, eta: float, shards: int
                      ) -> tuple[Denoise, Renoise]:
    """denoise/renoise backed by a generator's methods; `shards` > 1 splits a batch over
    that many concurrent calls (each `call` goes to the next generator actor)."""

    def denoise(states, from_step, to_step, seed):
        parts = np.array_split(np.asarray(states), min(shards, len(states)))
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])

        def one(part, offset):
            # a shard's rows keep their own noise: seed per shard offset
            return call("continue_from", part, [label] * len(part), from_step, to_step, steps, eta, seed + int(offset))

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            results = list(pool.map(one, parts, offsets))
        return (np.concatenate([r["latents"] for r in results]), np.concatenate([r["images"] for r in results]),
                results[0]["nfe"])

    def renoise(states, from_step, to_step, seed):
        return call("renoise", states, from_step, to_step, steps, seed)["latents"]

    return denoise, renoise


def verifier_score(task: Task, verify: Callable, index: int) -> Score:
    from pipeline.generators.diffusion import png_base64

    def score(images: np.ndarray) -> list[float]:
        candidates = [Candidate(task_id=task.id, sample_index=index, content=png_base64(image)) for image in images]
        return [-1.0 if v.error else v.score for v in verify(task, candidates)]  # below any real score

    return score


def algorithm_options(algorithm: str) -> set[str]:
    """The keyword options of one search algorithm (after ctx and budget)."""
    return set(list(inspect.signature(ALGORITHMS[algorithm]).parameters)[2:])


class NoiseSearchOptions(StrategyOptions):
    task_kinds = ("image",)
    backends = ("diffusers",)
    sends_prompt = False  # the prompt is a class label, not text for a language model

    algorithm: Literal["random", "zero_order", "paths"] = option("random", "how the NFEs are spent")
    nfe_budget: int = option(40, "UNet evaluations per trajectory", cap="max_nfe_budget", ge=1, le=10_000_000)
    steps: int | None = option(None, "DDIM steps per image (None: the generator's)", ge=1, le=10_000)
    eta: float = option(0.0, "DDIM noise", ge=0.0, le=1.0)
    shards: int = option(1, "concurrent generator calls per batch", ge=1, le=64)
    unconditional: bool = option(False, "sample without the class label: only the verifier steers")
    # the algorithms' own options (zero_order: neighbours, radius; paths: keep, stride, backtrack)
    neighbours: int | None = option(None, "zero_order: noises per round", ge=1, le=4096)
    radius: float | None = option(None, "zero_order: step size", gt=0.0, le=1.0)
    keep: int | None = option(None, "paths: paths kept per round", ge=1, le=4096)
    stride: int | None = option(None, "paths: steps forward per round", ge=2, le=10_000)
    backtrack: int | None = option(None, "paths: steps re-noised per round", ge=1, le=10_000)

    @model_validator(mode="after")
    def _options_of_the_algorithm(self) -> "NoiseSearchOptions":
        extras = {"neighbours", "radius", "keep", "stride", "backtrack"}
        given = {name for name in extras & self.model_fields_set if getattr(self, name) is not None}
        if given - algorithm_options(self.algorithm):
            raise ValueError(f"algorithm {self.algorithm!r} takes options {sorted(algorithm_options(self.algorithm))}, "
                             f"not {sorted(given - algorithm_options(self.algorithm))}")
        return self

    def worst_case_tokens(self, n: int, max_new_tokens: int, chunk_size: int | None = None) -> int:
        return 0  # images: its cost is NFEs, capped by nfe_budget


class NoiseSearch:
    """Agent: per trajectory, one search with `nfe_budget` NFEs; the best image is the candidate."""

    name = "noise_search"
    Options = NoiseSearchOptions

    def __init__(self, algorithm: str = "random", nfe_budget: int = 40, steps: int | None = None, eta: float = 0.0,
                 shards: int = 1, unconditional: bool = False, **options: Any):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown noise search algorithm {algorithm!r}; valid: {', '.join(ALGORITHMS)}")
        if nfe_budget < 1:
            raise ValueError(f"nfe_budget {nfe_budget} must be at least 1")
        allowed = algorithm_options(algorithm)
        if set(options) - allowed:
            raise ValueError(f"noise_search algorithm {algorithm!r} takes options {sorted(allowed)}, "
                             f"not {sorted(set(options) - allowed)}")
        self.algorithm, self.nfe_budget, self.steps, self.eta = algorithm, nfe_budget, steps, eta
        self.shards, self.options = max(1, shards), options
        self.unconditional = unconditional  # sample with the "no class" label: only the verifier steers

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        if tools is None or tools.call_generator is None or tools.verify is None:
            raise ValueError("noise_search needs tools.call_generator (a diffusers generator) and tools.verify")
        from pipeline.generators.diffusion import NULL_LABEL, parse_label

        facts = tools.call_generator("describe")
        label = NULL_LABEL if self.unconditional else parse_label(task.prompt)
        return [self._one(task, tools, facts, label, start_index + i, (params.seed or 0) * 7919 + i)
                for i in range(params.n)]

    def _one(self, task: Task, tools: Tools, facts: dict, label: int, index: int, seed: int) -> Trajectory:
        from pipeline.generators.diffusion import png_base64

        started = time.perf_counter()
        steps = self.steps or facts["steps"]
        denoise, renoise = sampler_callables(tools.call_generator, label, steps, self.eta, self.shards)
        ctx = SearchContext(denoise, renoise, verifier_score(task, tools.verify, index),
                            tuple(facts["shape"]), steps, seed)
        found = search(self.algorithm, ctx, self.nfe_budget, **self.options)
        summary = {"algorithm": self.algorithm, "nfe": ctx.nfe, "nfe_budget": self.nfe_budget,
                   "search_score": found.score, "final": True}
        return Trajectory(task_id=task.id, sample_index=index, seed=seed,
                          completion=Completion(text=png_base64(found.image), finish_reason="stop"),
                          generation_s=time.perf_counter() - started, steps=[*ctx.history, summary])

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index, content=trajectory.completion.text)
