"""Monitor-guided decoding on held-out repositories: with and without the Jedi monitor.

    python -m benchmarks.mgd.bench --model models/tiny-py --n 8 --seed 0 [--limit 40] [--out rows.jsonl]

Prints JSON lines: one per (monitor, n) with next-identifier exact match, identifier-exists rate
and compilation rate of the completed line (n = 1 greedy; n = 8 sampled, the majority-voted
identifier, plus pass@8 = any sample exact), then the per-token latency with and without it.
identifier exists = in Jedi's members at that point when Jedi infers the object, else among the
names the repository defines. Same prompts and seeds in both arms; the model is in-process (CPU).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

from benchmarks.mgd.metrics import score_completion, vote
from pipeline.core.types import SamplingParams, Task

ARMS = ((False, 1), (True, 1), (False, 8), (True, 8))


def valid_names(task: Task, repo_names: dict[str, set[str]]) -> tuple[set[str], bool]:
    """The members Jedi infers at the completion point (True), else the repository's names (False)."""
    from agents.mgd.jedi_monitor import jedi_names

    meta = task.metadata
    names = set(jedi_names(meta["file_prefix"], meta["repo_root"], f"{meta['repo_root']}/{meta['file_path']}"))
    return (names, True) if names else (repo_names[meta["project"]], False)


def repository_names(tasks: list[Task]) -> dict[str, set[str]]:
    from pathlib import Path

    from benchmarks.mgd.tasks import defined_names, parse_all, project_files

    roots = {t.metadata["project"]: t.metadata["repo_root"] for t in tasks}
    return {name: defined_names([tree for _, tree in parse_all(project_files(Path(root))).values()])
            for name, root in roots.items()}


def run_arm(generator, agent, task: Task, monitor: bool, n: int, seed: int, clock: dict) -> list[str]:
    params = SamplingParams(n=n, temperature=0.0 if n == 1 else 0.8, top_p=1.0 if n == 1 else 0.95,
                            max_new_tokens=24, stop=task.metadata.get("stop", []), seed=seed)
    processors = [agent.processor(task)] if monitor else None
    started = time.perf_counter()
    completions = generator.generate([task.prompt], params, processors)[0]
    clock["seconds"] += time.perf_counter() - started
    clock["tokens"] += sum(c.completion_tokens for c in completions)
    if processors:
        stats = processors[0].stats
        clock["monitor_s"] += stats["seconds"]
        clock["jedi_calls"] += stats["jedi_calls"]
        clock["jedi_s"] += stats["jedi_seconds"]
    return [c.text for c in completions]


def score_arm(task: Task, texts: list[str], valid: set[str]) -> dict:
    prefix, expected = task.metadata["file_prefix"], task.answer or ""
    scored = [score_completion(prefix, text, expected, valid) for text in texts]
    chosen = scored[vote(texts)]
    return {**chosen, "any_exact": any(s["exact_match"] for s in scored),
            "exists_per_sample": sum(s["exists"] for s in scored) / len(scored)}


def summarise(rows: list[dict], monitor: bool, n: int) -> dict:
    mine = [r for r in rows if r["monitor"] == monitor and r["n"] == n]
    mean = lambda key: round(sum(r[key] for r in mine) / max(len(mine), 1), 4)  # noqa: E731
    line = {"bench": "mgd", "monitor": monitor, "n": n, "select": "greedy" if n == 1 else "vote",
            "tasks": len(mine), "exact_match": mean("exact_match"), "identifier_exists": mean("exists"),
            "compiles": mean("compiles")}
    if n > 1:
        line |= {f"pass_at_{n}": mean("any_exact"), "identifier_exists_per_sample": mean("exists_per_sample")}
    return line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/tiny-py")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write one JSON line per task and arm here")
    args = parser.parse_args(argv)

    import torch

    from agents.monitor_guided import MonitorGuided
    from benchmarks.mgd.tasks import make_tasks
    from pipeline.generators.hf import HFGenerator

    torch.set_num_threads(1)
    started = time.perf_counter()
    tasks = make_tasks(limit=args.limit, seed=args.seed, tokenizer_path=args.model)
    repo_names = repository_names(tasks)
    agent = MonitorGuided(tokenizer_path=args.model)
    arms = [(monitor, n if n == 1 else args.n) for monitor, n in ARMS]
    clocks = {monitor: defaultdict(float) for monitor in (False, True)}
    rows, resolved = [], 0
    with HFGenerator(args.model, device="cpu") as generator:
        for index, task in enumerate(tasks):
            valid, by_jedi = valid_names(task, repo_names)
            resolved += by_jedi and (task.answer in valid)
            for monitor, n in arms:
                texts = run_arm(generator, agent, task, monitor, n, args.seed + index, clocks[monitor])
                rows.append({"task": task.id, "project": task.metadata["project"], "expected": task.answer,
                             "monitor": monitor, "n": n, "texts": texts, **score_arm(task, texts, valid)})
            if (index + 1) % 10 == 0:
                print(f"{index + 1}/{len(tasks)} tasks, {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    if args.out:
        with open(args.out, "w") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)
    print(json.dumps({"bench": "mgd", "model": args.model, "tasks": len(tasks),
                      "projects": sorted({t.metadata["project"] for t in tasks}),
                      "jedi_lists_expected": round(resolved / max(len(tasks), 1), 4)}), flush=True)
    for monitor, n in arms:
        print(json.dumps(summarise(rows, monitor, n)), flush=True)
    print(json.dumps(latency_line(clocks, time.perf_counter() - started)), flush=True)


def latency_line(clocks: dict, wall_s: float) -> dict:
    off, on = clocks[False], clocks[True]
    per_token = {arm: 1000 * c["seconds"] / max(c["tokens"], 1) for arm, c in clocks.items()}
    return {"bench": "mgd", "metric": "latency", "ms_per_token_without": round(per_token[False], 3),
            "ms_per_token_with": round(per_token[True], 3),
            "overhead_ms_per_token": round(per_token[True] - per_token[False], 3),
            "monitor_ms_per_token": round(1000 * on["monitor_s"] / max(on["tokens"], 1), 3),
            "of_which_jedi_ms_per_token": round(1000 * on["jedi_s"] / max(on["tokens"], 1), 3),
            "jedi_calls": int(on["jedi_calls"]), "tokens_with": int(on["tokens"]),
            "tokens_without": int(off["tokens"]), "wall_s": round(wall_s, 1)}


if __name__ == "__main__":
    main()
