"""PRM-guided search vs sampling-and-voting at equal N, on arith_word's test split with tiny-math.

    python -m benchmarks.search_bench --tasks 100 --ns 4,16

Rows for each N: majority vote over N samples; best-of-N with the PRM (repeated sampling, the
`prm` verifier on each whole sample, the best_score selector); prm_search's beam search, DVTS
and particle filtering (tiny-math-prm in the loop, weighted vote at the end); the same three
with step_check's exact labels as the scorer (oracle_*: it reads the reference, so an upper
bound for a better PRM, not a method). Each row: accuracy
(the pick's answer against the task's), generated tokens per problem (every sampled step,
pruned ones included), wall time, and the seconds callers waited on generation and on PRM
scoring (summed over the problems worked on at once, so they can exceed the wall time).
Runs in-process on the same components the pipeline drives through Ray (HFGenerator,
PRMVerifier, the agents and selectors), `--parallel` problems at a time so the generator
batches across them as the engine's chunks do. Prints one JSON line per row; writes
benchmarks/results/search_bench.jsonl and search_bench.png (accuracy vs generated tokens).

With DeepConf in the tree (--deepconf auto, the default), two more rows: "deepconf_offline"
(repeated samples with their confidence, the confidence_vote selector; in-process like the
others) and "deepconf_online" (repeated_sampling's early_stop: confidence, through `ttc run`'s
engine on a local Ray, since the engine stops a settled task; its wall time includes the start
of Ray and the actors).
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from agents.base import Tools
from agents.prm_search import PRMSearch
from agents.repeated_sampling import RepeatedSampling
from benchmarks.tasks.arith_word import extract_answer, make_tasks
from pipeline.core.types import Candidate, SamplingParams, Task
from pipeline.judging.selectors import make_selector

RESULTS = Path(__file__).parent / "results"
SEARCHES = ("beam", "dvts", "particle_filter")


class Timed:
    """A callable wrapped to sum the seconds spent inside it (across threads)."""

    def __init__(self, fn: Callable):
        self.fn, self.seconds, self.lock = fn, 0.0, threading.Lock()

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            with self.lock:
                self.seconds += time.perf_counter() - started


def plain_sampling() -> RepeatedSampling:
    """Repeated sampling without DeepConf's confidence bookkeeping (where that option exists)."""
    off = {"confidence": False} if "confidence" in RepeatedSampling.Options.model_fields else {}
    return RepeatedSampling(**off)


def sampled(task: Task, generate, n: int, seed: int, max_new_tokens: int):
    params = SamplingParams(n=n, temperature=0.8, max_new_tokens=max_new_tokens, seed=seed)
    return plain_sampling().run(task, generate, params)


def majority_vote(task: Task, generate, verify, n: int, seed: int, args) -> tuple[str | None, int]:
    trajectories = sampled(task, generate, n, seed, args.solution_tokens)
    candidates = [plain_sampling().candidate(task, t) for t in trajectories]
    pick = make_selector("majority_vote").select(task, candidates, [])
    return pick.content, sum(t.completion.completion_tokens for t in trajectories)


def best_of_n_prm(task: Task, generate, verify, n: int, seed: int, args) -> tuple[str | None, int]:
    """repeated_sampling + verifier prm + best_score: the PRM reads each whole sample."""
    trajectories = sampled(task, generate, n, seed, args.solution_tokens)
    candidates = [Candidate(task_id=task.id, sample_index=t.sample_index, content=t.completion.text) for t in trajectories]
    pick = make_selector("best_score").select(task, candidates, verify(task, candidates))
    return extract_answer(pick.content or ""), sum(t.completion.completion_tokens for t in trajectories)


def prm_search(method: str):
    def run(task: Task, generate, verify, n: int, seed: int, args) -> tuple[str | None, int]:
        agent = PRMSearch(method=method, beam_width=args.beam_width, max_steps=8, select="weighted_vote")
        params = SamplingParams(n=n, temperature=0.8, max_new_tokens=args.step_tokens, seed=seed)
        trajectories = agent.run(task, generate, params, tools=Tools(verify=verify))
        return extract_answer(trajectories[0].completion.text), trajectories[0].steps[0]["generated_tokens"]
    return run


def oracle_scorer():
    """step_check as a perfect PRM (its prefix_correct as step scores): the search with a scorer
    that reads the reference solution, an upper bound on what a better PRM could give."""
    from pipeline.judging.step_check import StepCheckVerifier

    checker = StepCheckVerifier()

    def verify(task: Task, candidates: list[Candidate]):
        verdicts = checker.verify(task, candidates)
        return [v.model_copy(update={"details": {"step_scores": [float(f) for f in v.details["prefix_correct"]]},
                                     "error": None}) if "prefix_correct" in v.details else v for v in verdicts]

    return verify


def deepconf_offline(task: Task, generate, verify, n: int, seed: int, args) -> tuple[str | None, int]:
    """repeated_sampling (confidence recorded) + the confidence_vote selector."""
    params = SamplingParams(n=n, temperature=0.8, max_new_tokens=args.solution_tokens, seed=seed)
    agent = RepeatedSampling()
    trajectories = agent.run(task, generate, params)
    candidates = [agent.candidate(task, t) for t in trajectories]
    selector = make_selector("confidence_vote", keep_percent=args.deepconf_keep, measure="lowest_window")
    return selector.select(task, candidates, []).content, sum(t.completion.completion_tokens for t in trajectories)


def deepconf_available() -> bool:
    from pipeline.judging.selectors import SELECTORS

    return "confidence_vote" in SELECTORS and "early_stop" in RepeatedSampling.Options.model_fields


ROWS = {"majority_vote": majority_vote, "best_of_n_prm": best_of_n_prm,
        **{f"prm_{m}": prm_search(m) for m in SEARCHES}, "deepconf_offline": deepconf_offline,
        **{f"oracle_{m}": prm_search(m) for m in SEARCHES}}  # oracle_*: step_check scores the steps


def bench_row(name: str, tasks: list[Task], generator, prm, n: int, args) -> dict:
    generate = Timed(generator.generate)
    verify = Timed(oracle_scorer() if name.startswith("oracle_") else prm.verify)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        results = list(pool.map(lambda it: ROWS[name](it[1], generate, verify, n, 1000 * args.seed + it[0], args),
                                enumerate(tasks)))
    wall = time.perf_counter() - started
    correct = [answer == task.answer for (answer, _), task in zip(results, tasks)]
    return {"method": name, "n": n, "tasks": len(tasks), "accuracy": round(sum(correct) / len(tasks), 4),
            "generated_tokens_per_task": round(sum(t for _, t in results) / len(tasks), 1),
            "wall_s": round(wall, 2), "generate_wait_s": round(generate.seconds, 2), "prm_wait_s": round(verify.seconds, 2),
            "beam_width": args.beam_width if name.startswith(("prm_", "oracle_")) else None, "seed": args.seed}


# --- DeepConf rows, through the engine ----------------------------------------------------------


def deepconf_online(n: int, args) -> dict:
    """repeated_sampling with early_stop: confidence, through the engine (it stops the task)."""
    from pipeline.core.config import build_config
    from pipeline.engine.runner import run

    warmup = max(1, n // 2)
    config = {"name": "search_bench_deepconf_online", "seed": args.seed, "canaries": False,
              "tasks": {"source": "arith_word", "split": "test", "limit": args.tasks},
              "model": {"backend": "hf", "path": args.generator, "device": "cpu", "max_batch_size": 256},
              "sampling": {"n": n, "temperature": 0.8, "max_new_tokens": args.solution_tokens},
              "strategy": "repeated_sampling", "verifier": "exact_answer",
              "strategy_options": {"early_stop": "confidence", "warmup": warmup, "keep_percent": args.deepconf_keep},
              "selectors": ["confidence_vote"],
              "selector_options": {"confidence_vote": {"keep_percent": args.deepconf_keep, "measure": "lowest_window"}},
              "runner": {"chunk_size": warmup, "max_in_flight": 64, "output_dir": "/tmp/ttc_search_bench"}}
    started = time.perf_counter()
    summary = run(build_config(config, source="search_bench")).summary
    return {"method": "deepconf_online", "n": n, "tasks": args.tasks,
            "accuracy": round(summary["selectors"]["confidence_vote"]["accuracy"], 4),
            "generated_tokens_per_task": round(summary["tokens"] / args.tasks, 1),
            "wall_s": round(time.perf_counter() - started, 2), "generate_wait_s": None, "prm_wait_s": None,
            "beam_width": None, "seed": args.seed, "note": f"through the engine on a local Ray (wall includes "
            f"Ray and actor start); warmup {warmup}, keep_percent {args.deepconf_keep}"}


# --- output ---------------------------------------------------------------------------------------


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["n"])
        style = "--" if method.startswith("oracle_") else "-"  # an upper bound, not a method
        ax.plot([r["generated_tokens_per_task"] for r in mine], [r["accuracy"] for r in mine], style, marker="o",
                label=method)
        for r in mine:
            ax.annotate(f"N={r['n']}", (r["generated_tokens_per_task"], r["accuracy"]), fontsize=7)
    ax.set_xlabel("generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_title(f"arith_word test, tiny-math ({rows[0]['tasks']} problems); dashed: step_check as the PRM", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="arith_word test problems")
    parser.add_argument("--ns", default="4,16", help="N values, comma-separated")
    parser.add_argument("--methods", default=",".join(ROWS), help=f"in-process rows, of {', '.join(ROWS)}")
    parser.add_argument("--beam-width", type=int, default=4, help="M for beam search and DVTS")
    parser.add_argument("--step-tokens", type=int, default=24, help="max new tokens per step (searches)")
    parser.add_argument("--solution-tokens", type=int, default=96, help="max new tokens per whole sample")
    parser.add_argument("--parallel", type=int, default=8, help="problems worked on at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--generator", default="models/tiny-math")
    parser.add_argument("--prm", default="models/tiny-math-prm")
    parser.add_argument("--deepconf", choices=["auto", "on", "off"], default="auto",
                        help="the DeepConf offline and online rows (auto: when the confidence_vote selector and "
                             "repeated_sampling's early_stop option exist)")
    parser.add_argument("--deepconf-keep", type=float, default=90.0, help="DeepConf keep_percent (90: DeepConf-high)")
    parser.add_argument("--out", type=Path, default=RESULTS / "search_bench.jsonl")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    import torch

    from pipeline.generators.hf import HFGenerator
    from pipeline.judging.prm import PRMVerifier

    torch.set_num_threads(args.threads)
    tasks = make_tasks("test", args.tasks)
    deepconf = args.deepconf == "on" or (args.deepconf == "auto" and deepconf_available())
    names = [m for m in args.methods.split(",") if deepconf or not m.startswith("deepconf")]
    prm = PRMVerifier(args.prm, device="cpu")
    prm.model.step_scores([(tasks[0].prompt, ["1 + 1 = 2"])], "\n")  # load it now, not inside the first row's time
    rows = []
    with HFGenerator(args.generator, device="cpu", max_batch_size=256) as generator:
        for n in map(int, args.ns.split(",")):
            for name in names:
                rows.append(bench_row(name, tasks, generator, prm, n, args))
                print(json.dumps(rows[-1]), flush=True)
    if deepconf:
        for n in map(int, args.ns.split(",")):
            rows.append(deepconf_online(n, args))
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {args.out} and {plot(rows, args.out.with_suffix('.png'))}", flush=True)
    return rows


if __name__ == "__main__":
    main()
