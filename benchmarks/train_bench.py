"""Training for test-time compute, in miniature: does the coverage curve move, and which way?

tiny-math on arith_word. One `ttc run` samples the base model on TRAIN-split problems (the data
of sft_verified and dco); then, all under Ray Train (`pipeline.training.trainer.fit`):

- **CE vs DCO:** `sft_verified` (cross-entropy) and `dco` (N = --dco-n) on the same passing
  samples, same batches and learning rate, checkpoints every --every steps;
- **distillation vs RL at equal compute:** `rl_verifier` draws exactly as many fresh samples as
  the data run drew (--rl-prompts x --rl-group per step), rewarded by `exact_answer`; it is
  compared with the sft_verified checkpoint whose training tokens are closest to its own.

Every checkpoint (and the base model, step 0) is scored by pass@k, k = 1..--eval-n (unbiased
estimator over --eval-n samples per problem at temperature 0.8), on --test-tasks TEST-split
problems; the bench fails if any evaluated problem is a training problem (by problem identity).
Prints JSON lines, writes them to benchmarks/results/train_bench.jsonl and a plot to
benchmarks/results/train_bench.png.

    nice -n 10 python -m benchmarks.train_bench [--train-tasks 128] [--data-n 16] [--test-tasks 40]
        [--eval-n 64] [--steps 150] [--every 50] [--lr 2e-4] [--rl-lr LR] [--dco-n 64]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.tasks.arith_word import make_tasks
from pipeline.core.config import TasksConfig, load_config
from pipeline.core.types import Candidate, SamplingParams, Task
from pipeline.judging.evaluation import pass_at_k
from pipeline.training.config import build_train_config
from pipeline.training.data import check_disjoint, train_tasks_of

RESULTS = Path("benchmarks/results")
REPORT_KS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-tasks", type=int, default=128, help="train-split problems of the data run")
    parser.add_argument("--data-n", type=int, default=16, help="samples per problem in the data run")
    parser.add_argument("--test-tasks", type=int, default=40)
    parser.add_argument("--eval-n", type=int, default=64, help="samples per test problem; pass@k up to this")
    parser.add_argument("--steps", type=int, default=150, help="sft_verified / dco steps")
    parser.add_argument("--every", type=int, default=50, help="checkpoint every this many steps")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--dco-n", type=int, default=64)
    parser.add_argument("--rl-prompts", type=int, default=4)
    parser.add_argument("--rl-group", type=int, default=16)
    parser.add_argument("--rl-every", type=int, default=16)
    parser.add_argument("--rl-lr", type=float, default=None, help="rl_verifier's learning rate (default --lr)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/train_bench"))
    parser.add_argument("--out", type=Path, default=RESULTS / "train_bench.jsonl")
    return parser.parse_args(argv)


# ------------------------------------------------------------------ evaluation


def coverage(model_path: str, tasks: list[Task], n: int, seed: int) -> dict:
    """pass@k for every k in 1..n (mean over tasks), judged by exact_answer, and the samples' tokens."""
    from agents.base import candidate_content, task_params
    from pipeline.generators.hf import HFGenerator
    from pipeline.judging.verifiers import make_verifier

    verifier = make_verifier("exact_answer")
    params = SamplingParams(n=n, temperature=0.8, max_new_tokens=64)
    started = time.perf_counter()
    with HFGenerator(model_path, device="cpu", dtype="float32", max_batch_size=512) as generator:
        futures = [generator.submit([t.prompt], task_params(t, params).model_copy(update={"seed": seed * 7919 + i}))
                   for i, t in enumerate(tasks)]
        groups = [f.result()[0] for f in futures]
    correct = []
    for task, group in zip(tasks, groups):
        candidates = [Candidate(task_id=task.id, sample_index=i, content=candidate_content(task, c.text))
                      for i, c in enumerate(group)]
        distinct = list({c.key: c for c in candidates}.values())
        passed = {v.candidate_key: v.passed for v in verifier.verify(task, distinct)}
        correct.append(sum(passed[c.key] for c in candidates))
    curve = {k: round(sum(pass_at_k(n, c, k) for c in correct) / len(tasks), 4) for k in range(1, n + 1)}
    return {"pass_at": curve, "eval_wall_s": round(time.perf_counter() - started, 1)}


# ------------------------------------------------------------------ the runs


def data_run(args: argparse.Namespace) -> tuple[str, dict]:
    """`ttc run` of the base model on train-split problems; (run directory, its facts)."""
    from pipeline.engine.runner import run

    overrides = [f"tasks.limit={args.train_tasks}", f"sampling.n={args.data_n}", f"seed={args.seed}",
                 f"runner.output_dir={args.work}"]
    started = time.perf_counter()
    result = run(load_config("configs/train_tiny_math_data.yaml", overrides))
    samples = [json.loads(line) for line in (Path(result.run_dir) / "samples.jsonl").read_text().splitlines()]
    passed = sum(bool(s["passed"]) for s in samples)
    return result.run_dir, {"kind": "data_run", "run_dir": result.run_dir, "tasks": result.tasks,
                            "samples": len(samples), "passed": passed,
                            "tasks_with_a_pass": len({s["task_id"] for s in samples if s["passed"]}),
                            "wall_s": round(time.perf_counter() - started, 1)}


def train_config(args: argparse.Namespace, method: str, run_dir: str, **extra) -> dict:
    config = {"name": f"bench_{method}", "seed": args.seed, "method": method, "model": {"path": "models/tiny-math"},
              "data": {"run_dir": run_dir}, "dco": {"n": args.dco_n},
              "optim": {"steps": args.steps, "batch_size": args.batch, "lr": args.lr},
              "checkpoint_every": args.every, "out_dir": str(args.work / method)}
    return config | extra


def fit_and_curves(config: dict, tasks: list[Task], args: argparse.Namespace, emit) -> list[dict]:
    """Train, then one coverage line per checkpoint (cumulative compute spent up to it)."""
    from pipeline.training.trainer import fit

    started = time.perf_counter()
    out = fit(build_train_config(config))
    fit_wall = round(time.perf_counter() - started, 1)
    curve = json.loads((out / "training.json").read_text())["curve"]
    lines = []
    for folder in sorted((out / "checkpoints").iterdir()):
        step = int(folder.name.split("-")[1])
        spent = curve[:step]
        line = {"kind": "coverage", "method": config["method"], "step": step,
                "samples_drawn": sum(r["samples_drawn"] for r in spent),
                "train_tokens": sum(r["train_tokens"] for r in spent),
                "train_loss": round(sum(r["loss"] for r in spent[-10:]) / len(spent[-10:]), 4),
                "fit_wall_s": fit_wall, **coverage(str(folder), tasks, args.eval_n, args.seed)}
        lines.append(emit(line))
    return lines


def rl_config(args: argparse.Namespace, data_samples: int) -> dict:
    per_step = args.rl_prompts * args.rl_group
    rl = {"tasks": {"source": "arith_word", "split": "train", "limit": args.train_tasks, "seed": args.seed},
          "prompts_per_step": args.rl_prompts, "samples_per_prompt": args.rl_group}
    return train_config(args, "rl_verifier", "", rl=rl, data={"run_dir": None}, checkpoint_every=args.rl_every,
                        optim={"steps": max(1, data_samples // per_step), "batch_size": args.batch,
                               "lr": args.rl_lr or args.lr})


# ------------------------------------------------------------------ summary and plot


def nearest_by_tokens(lines: list[dict], tokens: int) -> dict:
    return min(lines, key=lambda line: abs(line["train_tokens"] - tokens))


def at(line: dict, k: int) -> float:
    return line["pass_at"][k]


def summary(base: dict, sft: list[dict], dco: list[dict], rl: list[dict], ks: list[int]) -> dict:
    big = ks[-1]
    matched = nearest_by_tokens(sft, rl[-1]["train_tokens"])
    return {
        "kind": "summary", "ks": ks,
        "base": {k: at(base, k) for k in ks},
        "sft_by_step": {line["step"]: {k: at(line, k) for k in ks} for line in sft},
        "dco_by_step": {line["step"]: {k: at(line, k) for k in ks} for line in dco},
        f"ce_pass@{big}_falls_below_base": at(sft[-1], big) < at(base, big),
        f"dco_keeps_pass@{big}": at(dco[-1], big) >= at(base, big),
        f"dco_minus_ce_pass@{big}_final": round(at(dco[-1], big) - at(sft[-1], big), 4),
        "equal_compute": {"rl_step": rl[-1]["step"], "rl_samples_drawn": rl[-1]["samples_drawn"],
                          "rl_train_tokens": rl[-1]["train_tokens"], "sft_step": matched["step"],
                          "sft_train_tokens": matched["train_tokens"],
                          "rl_minus_sft": {k: round(at(rl[-1], k) - at(matched, k), 4) for k in ks}},
    }


def plot(base: dict, sft: list[dict], dco: list[dict], rl: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ks = sorted(base["pass_at"])
    axes[0].plot(ks, [base["pass_at"][k] for k in ks], "k-", label="base (step 0)")
    for lines, colour, name in ((sft, "tab:red", "CE (sft_verified)"), (dco, "tab:blue", "DCO")):
        for i, line in enumerate(lines):
            axes[0].plot(ks, [line["pass_at"][k] for k in ks], color=colour, alpha=0.35 + 0.65 * (i + 1) / len(lines),
                         label=f"{name} step {line['step']}")
    matched = nearest_by_tokens(sft, rl[-1]["train_tokens"])
    axes[1].plot(ks, [base["pass_at"][k] for k in ks], "k-", label="base")
    axes[1].plot(ks, [matched["pass_at"][k] for k in ks], color="tab:red",
                 label=f"sft_verified step {matched['step']} ({matched['train_tokens']} tokens)")
    axes[1].plot(ks, [rl[-1]["pass_at"][k] for k in ks], color="tab:green",
                 label=f"rl_verifier step {rl[-1]['step']} ({rl[-1]['train_tokens']} tokens)")
    for axis, title in zip(axes, ("cross-entropy vs DCO", "distillation vs RL, equal samples drawn")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("k")
        axis.set_ylabel("pass@k (test split)")
        axis.set_title(title)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> dict:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started, sink = time.perf_counter(), args.out.open("w")

    def emit(line: dict) -> dict:
        text = json.dumps(line)
        print(text, flush=True)
        sink.write(text + "\n")
        sink.flush()
        return line

    test_tasks = make_tasks("test", args.test_tasks, seed=args.seed)
    train = train_tasks_of(TasksConfig(source="arith_word", split="train", limit=args.train_tasks, seed=args.seed),
                           "bench")
    check_disjoint(train, test_tasks)  # the curve is measured on problems no method trained on
    run_dir, facts = data_run(args)
    emit(facts)
    base = emit({"kind": "coverage", "method": "base", "step": 0, "samples_drawn": 0, "train_tokens": 0,
                 **coverage("models/tiny-math", test_tasks, args.eval_n, args.seed)})
    sft = fit_and_curves(train_config(args, "sft_verified", run_dir), test_tasks, args, emit)
    dco = fit_and_curves(train_config(args, "dco", run_dir), test_tasks, args, emit)
    rl = fit_and_curves(rl_config(args, facts["samples"]), test_tasks, args, emit)
    ks = [k for k in REPORT_KS if k <= args.eval_n]
    result = emit(summary(base, sft, dco, rl, ks) | {"test_tasks": args.test_tasks, "eval_n": args.eval_n,
                                                     "wall_s": round(time.perf_counter() - started, 1)})
    plot(base, sft, dco, rl, args.out.with_suffix(".png"))
    sink.close()
    return result


if __name__ == "__main__":
    main()
