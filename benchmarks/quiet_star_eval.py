"""Base model vs Quiet-STaR on the held-out arith_word test split; prints JSON lines.

    python -m benchmarks.quiet_star_eval --tasks 100 --n 8 --temperature 0.8

Three systems, each sampled n times per problem with the same SamplingParams and seeds:
  base          the base LM (models/tiny-math), hf backend, no thoughts;
  qs_no_thought the Quiet-STaR checkpoint's LM decoded without thoughts (separates the effect
                of the extra training from the effect of thinking);
  quiet_star    the Quiet-STaR checkpoint decoding with thoughts (quiet_star backend).
Per system: one-sample accuracy (mean over the n samples), majority vote over the n answers
(ties to the earliest), coverage, and tokens per answer: visible, and total incl. thoughts.
"""
from __future__ import annotations

import argparse
import json
import time

from benchmarks.tasks.arith_word import STOP_SEQUENCES, extract_answer, make_tasks
from models.eval_math import majority
from pipeline.core.types import SamplingParams


def score_task(task, completions) -> dict:
    answers = [extract_answer(c.text) for c in completions]
    return {"one_sample": sum(a == task.answer for a in answers) / len(answers),
            "vote": majority(answers) == task.answer, "coverage": task.answer in answers,
            "visible_tokens": sum(len(c.token_ids) for c in completions) / len(completions),
            "total_tokens": sum(c.completion_tokens for c in completions) / len(completions)}


def summarise(rows: list[dict], system: str, seconds: float, n: int) -> dict:
    mean = lambda key: round(sum(r[key] for r in rows) / len(rows), 4)  # noqa: E731
    return {"summary": system, "tasks": len(rows), "n": n, "one_sample_accuracy": mean("one_sample"),
            f"majority_vote@{n}": mean("vote"), "coverage": mean("coverage"),
            "visible_tokens_per_answer": mean("visible_tokens"), "tokens_per_answer_incl_thoughts": mean("total_tokens"),
            "seconds": round(seconds, 1)}


def make_system(name: str, args: argparse.Namespace):
    from pipeline.generators.hf import HFGenerator
    from pipeline.generators.quiet_star import QuietStarGenerator

    if name == "base":
        return HFGenerator(args.base, device="cpu", max_batch_size=args.n)
    if name == "qs_no_thought":
        return HFGenerator(args.quiet_star, device="cpu", max_batch_size=args.n)
    return QuietStarGenerator(args.quiet_star, device="cpu", max_batch_size=args.n)


def evaluate(name: str, args: argparse.Namespace, tasks) -> dict:
    generator = make_system(name, args)
    started, rows = time.time(), []
    for index, task in enumerate(tasks):
        params = SamplingParams(n=args.n, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                                stop=STOP_SEQUENCES, seed=args.seed + index)
        rows.append(score_task(task, generator.generate([task.prompt], params)[0]))
        print(json.dumps({"system": name, "task_id": task.id, "answer": task.answer, **rows[-1]}), flush=True)
    if hasattr(generator, "close"):
        generator.close()
    return summarise(rows, name, time.time() - started, args.n)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="models/tiny-math")
    parser.add_argument("--quiet-star", default="models/tiny-math-quietstar")
    parser.add_argument("--systems", default="base,qs_no_thought,quiet_star")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    tasks = make_tasks("test", args.tasks, seed=0)
    summaries = [evaluate(name, args, tasks) for name in args.systems.split(",")]
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return summaries


if __name__ == "__main__":
    main()
