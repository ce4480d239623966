"""prm_search: search over solution steps guided by a process reward model (search-and-learn's
beam search, DVTS and best-of-N, and particle filtering).

A step ends at `separator`. Each next step is sampled through the run's generator with the
problem and the path so far as the prompt and the separator as a stop (the hf backend prefills
a shared prompt once for all its samples); the partial solutions are scored in batches by the
run's verifier, which must score steps (`verifier: prm`; use `oracle: exact_answer` for ground
truth). `run` returns the N final paths, the pick first (`selector: agent_pick` takes it); a
candidate is the solution text, steps and answer line, so the verifier and the oracle both read
it. Each sample's completion_tokens is its share of all the tokens the search generated, pruned
steps included (`token_shares`). Keep `runner.chunk_size` >= `sampling.n`: each chunk runs a
search of its own size.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Literal

from agents.base import Generate, Tools, task_params
from agents.options import StrategyOptions, option
from agents.prm_search import methods
from agents.prm_search.paths import Path, Search, StepSample
from agents.prm_search.select import ranked
from pipeline.core.types import Candidate, Completion, SamplingParams, Task, Trajectory, Verdict
from pipeline.judging.answers import extract_answer, normalise_answer

NEEDS_PRM = ("prm_search needs a verifier that scores each step: set verifier: prm "
             "(verifier_options.model_path: models/tiny-math-prm) and oracle: exact_answer")


class PRMSearchOptions(StrategyOptions):
    task_kinds = ("math", "text")

    method: Literal["beam", "dvts", "particle_filter", "best_of_n"] = option("beam", "how the tree is searched")
    beam_width: int = option(4, "M: children of each kept path (beam) or of each subtree's path (dvts); "
                             "N/M paths are kept, N/M subtrees grown", cap="max_beam_width", ge=1, le=1024)
    max_steps: int = option(8, "steps a solution may take", cap="max_search_steps", ge=1, le=256)
    separator: str = option("\n", "what ends a step (tiny-math writes one step a line)", min_length=1, max_length=16)
    aggregation: Literal["last", "min", "prod"] = option("last", "a path's score from its step scores, in the search")
    select: Literal["last", "min", "prod", "weighted_vote"] = option(
        "weighted_vote", "the final pick: best path by last/min/prod step score, or the answer with the largest "
        "sum of path scores (by `aggregation`)")
    temperature: float = option(0.2, "particle_filter: softmax temperature over path scores when resampling",
                                gt=0.0, le=100.0)
    answer_marker: str = option("Answer:", "a step holding this ends its path ('' to wait for the model's end)",
                                max_length=64)

    def worst_case_tokens(self, n: int, max_new_tokens: int, chunk_size: int | None = None) -> int:
        """Every method samples at most N next steps a round, for max_steps rounds."""
        return n * self.max_steps * max_new_tokens


class PRMSearch:
    """See the module docstring; the options are PRMSearchOptions'."""

    name = "prm_search"
    Options = PRMSearchOptions

    def __init__(self, method: str = "beam", beam_width: int = 4, max_steps: int = 8, separator: str = "\n",
                 aggregation: str = "last", select: str = "weighted_vote", temperature: float = 0.2,
                 answer_marker: str = "Answer:"):
        PRMSearchOptions(method=method, beam_width=beam_width, max_steps=max_steps, separator=separator,
                         aggregation=aggregation, select=select, temperature=temperature, answer_marker=answer_marker)
        self.method, self.beam_width, self.max_steps, self.separator = method, beam_width, max_steps, separator
        self.aggregation, self.select, self.temperature = aggregation, select, temperature
        self.answer_marker = answer_marker

    def run(self, task: Task, generate: Generate, params: SamplingParams, start_index: int = 0,
            tools: Tools | None = None) -> list[Trajectory]:
        verify = tools.verify if tools else None
        check_scores_steps(task, verify)
        started = time.perf_counter()
        search = Search(expand=self.expander(task, generate, params), score=self.scorer(task, verify),
                        aggregation=self.aggregation, max_steps=self.max_steps, seed=params.seed or 0,
                        separator=self.separator, answer_marker=self.answer_marker)
        paths = self.search(search, params.n)
        order = ranked(paths, self.select, self.aggregation, self.answer_of)
        seconds = (time.perf_counter() - started) / max(len(paths), 1)
        log = {"kind": "search", "method": self.method, "generated_tokens": search.tokens, "generate_calls": search.calls,
               "trace": sorted(search.trace, key=lambda e: (e.get("subtree", -1), e["depth"]))}
        shares = token_shares(search.tokens, len(order))
        return [self.trajectory(task, start_index + rank, paths[i], shares[rank], params.seed, seconds,
                                [log] if rank == 0 else []) for rank, i in enumerate(order)]

    def search(self, search: Search, n: int) -> list[Path]:
        if self.method == "beam":
            return methods.beam(search, n, self.beam_width)
        if self.method == "dvts":
            return methods.dvts(search, n, self.beam_width)
        if self.method == "particle_filter":
            return methods.particle_filter(search, n, self.temperature)
        return methods.best_of_n(search, n)

    def expander(self, task: Task, generate: Generate, params: SamplingParams):
        """expand(requests, seed): one generate call per distinct sample count (concurrent, so
        the generator batches them), the prompt being the problem and the path so far."""
        whole = self.method == "best_of_n"
        base = task_params(task, params)
        stop = base.stop if whole else list(dict.fromkeys([self.separator, *base.stop]))

        def call(prompts: list[str], k: int, seed: int) -> list[list[StepSample]]:
            out = generate(prompts, base.model_copy(update={"n": k, "seed": seed, "stop": stop}))
            return [[StepSample(c.text, c.completion_tokens, c.finish_reason) for c in group] for group in out]

        def expand(requests: list[tuple[Path, int]], seed: int) -> list[list[StepSample]]:
            if not requests:
                return []
            by_count: dict[int, list[int]] = {}
            for index, (_, k) in enumerate(requests):
                by_count.setdefault(k, []).append(index)
            prompts = [self.prompt(task, path) for path, _ in requests]
            jobs = [(k, idx) for k, idx in by_count.items()]
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                found = list(pool.map(lambda job: call([prompts[i] for i in job[1]], job[0], seed + job[0]), jobs))
            samples: dict[int, list[StepSample]] = {}
            for (_, idx), groups in zip(jobs, found):
                samples.update(zip(idx, groups))
            return [samples[i] for i in range(len(requests))]

        return expand

    def prompt(self, task: Task, path: Path) -> str:
        return task.prompt + "".join(step + self.separator for step in path.steps)

    def scorer(self, task: Task, verify):
        def score(paths: list[Path]) -> list[tuple[float, ...]]:
            candidates = [Candidate(task_id=task.id, sample_index=i, content=p.text(self.separator))
                          for i, p in enumerate(paths)]
            return [step_scores_of(v, len(p.steps)) for p, v in zip(paths, verify(task, candidates))]

        return score

    def answer_of(self, path: Path) -> str | None:
        answer = extract_answer(path.text(self.separator))
        return normalise_answer(answer) if answer else None

    def trajectory(self, task: Task, index: int, path: Path, tokens: int, seed: int | None, seconds: float,
                   steps: list[dict]) -> Trajectory:
        completion = Completion(text=path.text(self.separator), completion_tokens=tokens,
                                finish_reason=path.finish if path.finish in ("stop", "eos", "length") else "length")
        mine = {"kind": "path", "step_scores": list(path.scores), "steps": len(path.steps), "path_tokens": path.tokens}
        return Trajectory(task_id=task.id, sample_index=index, completion=completion, seed=seed,
                          generation_s=seconds, steps=steps + [mine])

    def candidate(self, task: Task, trajectory: Trajectory) -> Candidate:
        """The whole solution: a process verifier reads its steps, an answer check its answer line."""
        return Candidate(task_id=task.id, sample_index=trajectory.sample_index, content=trajectory.completion.text)


def token_shares(total: int, count: int) -> list[int]:
    """`total` split over `count` samples: paths share prefixes and pruned steps belong to none,
    so each sample's completion_tokens is its share of what the search generated, and their
    sum (what the engine's metrics and token budgets add up) is exactly that."""
    base, extra = divmod(total, max(count, 1))
    return [base + (i < extra) for i in range(count)]


def check_scores_steps(task: Task, verify) -> None:
    """Fail before any generation when the run's verifier cannot score steps."""
    if verify is None:
        raise ValueError(NEEDS_PRM)
    probe = verify(task, [Candidate(task_id=task.id, sample_index=0, content="probe")])[0]
    if probe.error is None and not isinstance(probe.details.get("step_scores"), list):
        raise ValueError(f"{NEEDS_PRM}; the run's verifier {probe.verifier!r} gives no step scores")


def step_scores_of(verdict: Verdict, steps: int) -> tuple[float, ...]:
    """The verdict's step scores; a path the verifier could not score ranks last (zeros)."""
    scores = verdict.details.get("step_scores")
    if verdict.error or not isinstance(scores, list):
        return (0.0,) * steps
    if len(scores) != steps:
        raise ValueError(f"the verifier split a solution into {len(scores)} steps, prm_search into {steps}: "
                         f"give the verifier the strategy's separator (verifier_options.separator)")
    return tuple(float(s) for s in scores)
