"""CodeMonkeys on held-out repository tasks: coverage over a (P, T) grid and selection accuracy.

    python -m benchmarks.codemonkeys_grid --parallel 1,2,4,8 --turns 1,2,3 --limit 20 --seed 0

Per task, one run of the largest grid point (P_max editing trajectories of T_max turns, after
the context and testing steps); a smaller point (P, T) is the first P trajectories cut after T
turns, which is exactly what a run with those knobs makes (windows and seeds depend only on
the trajectory index and turn). Every distinct candidate patch is judged by the repo_tests
verifier (git apply + the hidden fail-to-pass and pass-to-pass tests). Per grid point:
coverage (any candidate passes) and the accuracy of the patch picked by the vote (model-written
reproduction tests, then the repository's visible tests as a regression filter, then how many
trajectories proposed it), the selection trajectory and a seeded random pick. JSON lines per task, then per grid point;
writes benchmarks/results/codemonkeys_grid.{jsonl,md,png}.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from agents.codemonkeys import CodeMonkeys
from agents.codemonkeys.editing import best_attempt
from agents.codemonkeys.selection import selection_trajectory, vote
from agents.codemonkeys.testing import regression_suite, testing_trajectory
from pipeline.core.types import Candidate, SamplingParams, Task

METHODS = ("vote", "selection", "random")


def judge(verifier, task: Task, diffs: list[str], cache: dict[str, bool]) -> None:
    todo = sorted({d for d in diffs if d and d not in cache})
    if todo:
        candidates = [Candidate(task_id=task.id, sample_index=i, content=d) for i, d in enumerate(todo)]
        for diff, verdict in zip(todo, verifier.verify(task, candidates)):
            cache[diff] = verdict.accepted


def grid_point(task, generate, params, execute, verifier, runs, tests, suite, p: int, t: int, seed: int,
               top_k: int, caches: dict, prompt_chars: int) -> dict:
    attempts = [best_attempt([a for a in r[0] if a.turn < t]) for r in runs[:p]]
    patches = [(a.diff, a.changed) if a else ("", {}) for a in attempts]
    diffs = [d for d, _ in patches if d]
    judge(verifier, task, diffs, caches["hidden"])
    ranked = vote(task, execute, patches, tests, caches["vote"], suite)
    picked = selection_trajectory(task, generate, params, ranked[:top_k], seed, [], prompt_chars)
    picks = {"vote": ranked[0].diff if ranked else "", "selection": picked.diff if picked else "",
             "random": random.Random(seed * 7919 + p * 31 + t).choice(diffs) if diffs else ""}
    return {"P": p, "T": t, "candidates": len(diffs), "distinct": len(set(diffs)),
            "covered": any(caches["hidden"][d] for d in diffs),
            **{m: bool(picks[m]) and caches["hidden"][picks[m]] for m in METHODS}}


def run_task(task, generate, params, execute, verifier, ps, ts, seed: int, agent: CodeMonkeys) -> dict:
    started = time.perf_counter()
    top_k = agent.top_k
    steps: list[dict] = []
    windows = agent.context(task, generate, params, steps)
    tests = testing_trajectory(task, generate, params, execute, agent.test_attempts, seed, steps, agent.prompt_chars)
    suite = regression_suite(task, execute, steps) if agent.regression else {}
    runs = agent.edit_all(task, generate, params, execute, windows, tests or suite, max(ps), seed)
    caches: dict = {"hidden": {}, "vote": {}}
    points = [grid_point(task, generate, params, execute, verifier, runs, tests, suite, p, t, seed, top_k, caches,
                         agent.prompt_chars)
              for p in ps for t in ts]
    applied = sum(1 for r in runs for a in r[0] if a.diff)
    return {"task": task.id, "project": task.metadata.get("project"), "bug_kind": task.metadata.get("bug_kind"),
            "repro_tests": len(tests), "regression_files": len(suite), "edits": sum(len(r[0]) for r in runs), "edits_applied": applied,
            "points": points, "wall_s": round(time.perf_counter() - started, 1)}


def summarise(rows: list[dict], ps, ts) -> list[dict]:
    out = []
    for p in ps:
        for t in ts:
            pts = [next(x for x in r["points"] if x["P"] == p and x["T"] == t) for r in rows]
            n = max(len(pts), 1)
            out.append({"P": p, "T": t, "tasks": len(pts), "coverage": sum(x["covered"] for x in pts) / n,
                        **{f"{m}_accuracy": sum(x[m] for x in pts) / n for m in METHODS},
                        "mean_candidates": sum(x["candidates"] for x in pts) / n})
    return out


def table(summary: list[dict]) -> str:
    head = "| P | T | coverage | vote | selection trajectory | random |\n|---|---|---|---|---|---|\n"
    return head + "".join(f"| {s['P']} | {s['T']} | {s['coverage']:.3f} | {s['vote_accuracy']:.3f} | "
                          f"{s['selection_accuracy']:.3f} | {s['random_accuracy']:.3f} |\n" for s in summary)


def plot(summary: list[dict], ps, ts, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for t in ts:
        left.plot(ps, [s["coverage"] for s in summary if s["T"] == t], marker="o", label=f"T={t}")
    left.set(xscale="log", xlabel="parallel trajectories P", ylabel="coverage", title="coverage (any candidate passes)")
    left.set_xticks(ps, [str(p) for p in ps])
    left.legend()
    last = [s for s in summary if s["T"] == max(ts)]
    right.plot(ps, [s["coverage"] for s in last], "k--", label="coverage")
    for m in METHODS:
        right.plot(ps, [s[f"{m}_accuracy"] for s in last], marker="o", label=m)
    right.set(xscale="log", xlabel="parallel trajectories P", ylabel="selected patch passes",
              title=f"selection at T={max(ts)}")
    right.set_xticks(ps, [str(p) for p in ps])
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


def earlier_rows(path: str | None) -> dict[str, dict]:
    """Per-task rows of an earlier run (seeds depend only on the task's index, so a task's row
    is what this run would make of it)."""
    if not path:
        return {}
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {row["task"]: row for row in rows if "task" in row}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/tiny-fixer")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--parallel", default="1,2,4,8")
    parser.add_argument("--turns", default="1,2,3")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--window-lines", type=int, default=10)
    parser.add_argument("--unconstrained", action="store_true", help="free decoding of edits (constrain.py off)")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/codemonkeys_grid")
    parser.add_argument("--reuse", default=None,
                        help="a JSONL of an earlier run with the same settings: its tasks are not run again")
    args = parser.parse_args(argv)

    import torch

    from pipeline.core.config import TasksConfig
    from pipeline.generators.hf import HFGenerator
    from pipeline.engine.tasks import load_tasks
    from pipeline.judging.verifiers import make_verifier
    from sandbox import Limits, SandboxPool

    torch.set_num_threads(args.threads)
    ps, ts = [int(x) for x in args.parallel.split(",")], [int(x) for x in args.turns.split(",")]
    tasks = load_tasks(TasksConfig(source="repo_tasks", split=args.split, limit=args.limit))
    params = SamplingParams(n=1, temperature=args.temperature, top_p=0.95, max_new_tokens=160, seed=args.seed)
    agent = CodeMonkeys(parallel=max(ps), turns=max(ts), top_k=args.top_k, window_lines=args.window_lines,
                        constrained=not args.unconstrained, model_path=args.model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with HFGenerator(args.model, device="cpu") as generator, \
            SandboxPool(size=2, limits=Limits(timeout_s=120, memory_mb=1024, tmpfs_mb=256)) as pool:
        execute = lambda cmd, files, timeout_s=None: pool.run(cmd, files, timeout_s=timeout_s)  # noqa: E731
        verifier = make_verifier("repo_tests", execute=execute)
        done = earlier_rows(args.reuse)
        for index, task in enumerate(tasks):
            row = done.get(task.id) or run_task(task, generator.generate, params, execute, verifier, ps, ts,
                                                args.seed + index, agent)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = summarise(rows, ps, ts)
    for line in summary:
        print(json.dumps({"summary": line} | {"model": args.model, "split": args.split}), flush=True)
    with open(out.with_suffix(".jsonl"), "w") as f:
        for row in rows + [{"summary": s} for s in summary]:
            f.write(json.dumps(row) + "\n")
    mode = "unconstrained" if args.unconstrained else "constrained to single-token edits"
    out.with_suffix(".md").write_text(f"{len(rows)} tasks ({args.split}), model {args.model} ({mode}), "
                                      f"temperature {args.temperature}, seed {args.seed}\n\n{table(summary)}")
    plot(summary, ps, ts, out.with_suffix(".png"))
    print(table(summary))


if __name__ == "__main__":
    main()
