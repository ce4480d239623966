"""Train Quiet-STaR on top of a causal LM: on CPU for the shipped tiny-math, or with Ray Train.

    python -m agents.quiet_star.train --base models/tiny-math --out models/tiny-math-quietstar \\
        --steps 400 --seed 0
    python -m agents.quiet_star.train ... --ray --workers 4 --gpu     # TorchTrainer, one GPU per worker

Data: the train split of the base model's task (arith_word), solution tokens only; thoughts are
inserted after `--positions` random solution positions per example (subsampled: thinking after
every position costs n * (L + 1 + J) extra token blocks). The output folder is a transformers
model (with the thought tokens added) + mixing_head.safetensors + quiet_star.json, and
training_log.json with the per-step curves.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from agents.quiet_star.loss import Batch, LossWeights, quiet_star_loss
from pipeline.generators.quiet_star_model import QuietStarModel, ThoughtSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="models/tiny-math", help="transformers folder of the base LM")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--task", default="arith_word", help="benchmarks.tasks module with make_tasks/reference_completion")
    parser.add_argument("--train-tasks", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--positions", type=int, default=12, help="thought positions per example")
    parser.add_argument("--n-thoughts", type=int, default=2)
    parser.add_argument("--thought-length", type=int, default=4)
    parser.add_argument("--lookahead", type=int, default=4, help="true tokens predicted after a thought")
    parser.add_argument("--lr", type=float, default=3e-4, help="LM and thought embeddings")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="mixing head")
    parser.add_argument("--reinforce-weight", type=float, default=1.0)
    parser.add_argument("--base-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop early after this much training wall time (the log says how many steps ran)")
    parser.add_argument("--ray", action="store_true", help="run the loop under Ray Train's TorchTrainer")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gpu", action="store_true", help="one GPU per Ray Train worker")
    return parser.parse_args(argv)


# ------------------------------------------------------------------ data


def load_examples(task: str, count: int, seed: int, tokenizer) -> list[tuple[list[int], int]]:
    """(prompt + solution + eos token ids, index of the first solution token) of train problems."""
    import importlib

    module = importlib.import_module(f"benchmarks.tasks.{task}")
    examples = []
    for problem in module.make_tasks("train", count, seed=seed):
        prompt = tokenizer.encode(problem.prompt, add_special_tokens=False)
        solution = tokenizer.encode(module.reference_completion(problem), add_special_tokens=False)
        examples.append((prompt + solution + [tokenizer.eos_token_id], len(prompt)))
    return examples


def make_batch(examples: list[tuple[list[int], int]], pad_id: int, positions: int, rng: random.Random) -> Batch:
    """Right-padded ids, labels on the solution, and `positions` random thought positions per row
    among those whose next token is a solution token."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id)
    labels = torch.full((len(examples), width), -100)
    chosen = torch.zeros((len(examples), positions), dtype=torch.long)
    valid = torch.zeros((len(examples), positions), dtype=torch.bool)
    for row, (ids, start) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, start: len(ids)] = torch.tensor(ids[start:])
        picked = sorted(rng.sample(range(start - 1, len(ids) - 1), min(positions, len(ids) - start)))
        chosen[row, : len(picked)] = torch.tensor(picked)
        chosen[row, len(picked):] = picked[0]
        valid[row, : len(picked)] = True
    return Batch(input_ids, labels, chosen, valid)


# ------------------------------------------------------------------ model and loop


def build_model(args: argparse.Namespace, device: torch.device):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    lm = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    settings = ThoughtSettings(n_thoughts=args.n_thoughts, thought_length=args.thought_length,
                               lookahead=args.lookahead)
    return QuietStarModel.from_base(lm, tokenizer, settings).to(device), tokenizer


class LossModule(torch.nn.Module):
    """The loss as a module's forward, so DistributedDataParallel can wrap it (Ray Train)."""

    def __init__(self, model: QuietStarModel, weights: LossWeights):
        super().__init__()
        self.model, self.weights = model, weights

    def forward(self, batch: Batch, generator: torch.Generator) -> dict:
        return quiet_star_loss(self.model, batch, weights=self.weights, generator=generator)


def optimizer_for(model: QuietStarModel, args: argparse.Namespace) -> torch.optim.Optimizer:
    return torch.optim.AdamW([{"params": model.lm.parameters(), "lr": args.lr},
                              {"params": model.head.parameters(), "lr": args.head_lr}],
                             weight_decay=0.0, betas=(0.9, 0.95))


def to_device(batch: Batch, device: torch.device) -> Batch:
    return Batch(*(t.to(device) for t in (batch.input_ids, batch.labels, batch.positions, batch.position_valid)))


def train_loop(model: QuietStarModel, loss_module: torch.nn.Module, examples, tokenizer,
               args: argparse.Namespace, rank: int = 0, report=None) -> list[dict]:
    """Runs `args.steps` steps; returns one record per step (the learning curve)."""
    device = next(model.parameters()).device
    rng = random.Random(args.seed * 1009 + rank)
    generator = torch.Generator(device=device).manual_seed(args.seed * 1009 + rank)
    optimizer = optimizer_for(model, args)
    curve, started = [], time.time()
    model.train()
    for step in range(args.steps):
        batch = to_device(make_batch(rng.sample(examples, args.batch), tokenizer.pad_token_id, args.positions, rng),
                          device)
        parts = loss_module(batch, generator)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        curve.append({"step": step, "loss": parts["loss"].item(), "seconds": round(time.time() - started, 2),
                      **{k: v for k, v in parts.items() if k != "loss"}})
        out_of_time = args.max_minutes is not None and time.time() - started > 60 * args.max_minutes
        if step % args.log_every == 0 or step == args.steps - 1 or out_of_time:
            log_progress(curve, args.log_every, report)
        if out_of_time:
            break
    model.eval()
    return curve


def log_progress(curve: list[dict], window: int, report=None) -> None:
    recent = curve[-window:]
    means = {k: round(sum(r[k] for r in recent) / len(recent), 4)
             for k in ("loss", "talk_nll", "base_nll", "reinforce", "mixing_weight")}
    print(json.dumps({"step": curve[-1]["step"], "seconds": curve[-1]["seconds"], **means}), flush=True)
    if report is not None:
        report(means | {"step": curve[-1]["step"]})


def training_info(args: argparse.Namespace, curve: list[dict], examples: int, wall_s: float) -> dict:
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return {"base_model": str(args.base), "options": options, "train_examples": examples,
            "wall_s": round(wall_s, 1), "torch_threads": torch.get_num_threads(), "curve": curve}


def train_local(args: argparse.Namespace) -> dict:
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    set_seed(args.seed)
    started = time.time()
    model, tokenizer = build_model(args, torch.device("cpu"))
    examples = load_examples(args.task, args.train_tasks, args.seed, tokenizer)
    weights = LossWeights(base=args.base_weight, reinforce=args.reinforce_weight)
    curve = train_loop(model, LossModule(model, weights), examples, tokenizer, args)
    info = training_info(args, curve, len(examples), time.time() - started)
    model.save(args.out, tokenizer, extra={"training": {k: v for k, v in info.items() if k != "curve"}})
    (args.out / "training_log.json").write_text(json.dumps(info) + "\n")
    write_curves(args.out, info["curve"])
    return info


def write_curves(out: Path, curve: list[dict], window: int = 25) -> None:
    """curves.json (moving averages over `window` steps) and curves.png beside the checkpoint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("loss", "talk_nll", "base_nll", "reinforce", "mixing_weight")
    smooth = {k: [round(sum(r[k] for r in curve[max(0, i - window + 1): i + 1]) / len(curve[max(0, i - window + 1): i + 1]), 5)
                  for i in range(len(curve))] for k in keys}
    (out / "curves.json").write_text(json.dumps({"window": window, "step": [r["step"] for r in curve], **smooth}) + "\n")
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for key in ("talk_nll", "base_nll"):
        axes[0].plot(smooth[key], label=key)
    axes[1].plot(smooth["reinforce"], label="reinforce")
    axes[2].plot(smooth["mixing_weight"], label="mixing weight")
    for axis in axes:
        axis.set_xlabel("step")
        axis.legend()
    figure.suptitle(f"Quiet-STaR training (moving average over {window} steps)")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=80)
    plt.close(figure)


# ------------------------------------------------------------------ Ray Train


def ray_worker_loop(config: dict) -> None:
    """One Ray Train worker: DDP-wrapped loss, rank 0 reports the checkpoint folder."""
    import tempfile

    import ray.train
    import ray.train.torch
    from transformers import set_seed

    args = argparse.Namespace(**config)
    args.out = Path(args.out)
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.set_num_threads(args.threads)
    set_seed(args.seed + rank)
    started = time.time()
    model, tokenizer = build_model(args, ray.train.torch.get_device())
    examples = load_examples(args.task, args.train_tasks, args.seed, tokenizer)
    weights = LossWeights(base=args.base_weight, reinforce=args.reinforce_weight)
    wrapped = ray.train.torch.prepare_model(LossModule(model, weights), move_to_device=False)
    curve = train_loop(model, wrapped, examples, tokenizer, args, rank, report=None)
    info = training_info(args, curve, len(examples), time.time() - started) | {"ray_workers": context.get_world_size()}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            model.save(folder, tokenizer, extra={"training": {k: v for k, v in info.items() if k != "curve"}})
            (Path(folder) / "training_log.json").write_text(json.dumps(info) + "\n")
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"loss": curve[-1]["loss"], "steps": len(curve)}, checkpoint=checkpoint)


def train_with_ray(args: argparse.Namespace) -> dict:
    """TorchTrainer with `args.workers` workers; the checkpoint is copied to `args.out`."""
    import shutil
    import tempfile

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if not ray.is_initialized():
        ray.init(include_dashboard=False)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config["base"] = str(Path(args.base).resolve())
    storage = tempfile.mkdtemp(prefix="quiet_star_ray_")
    trainer = TorchTrainer(ray_worker_loop, train_loop_config=config,
                           scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=args.gpu),
                           run_config=RunConfig(name="quiet_star", storage_path=storage))
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train finished without a checkpoint (error: {result.error})")
    with result.checkpoint.as_directory() as folder:
        shutil.copytree(folder, args.out, dirs_exist_ok=True)
    shutil.rmtree(storage, ignore_errors=True)
    info = json.loads((args.out / "training_log.json").read_text())
    write_curves(args.out, info["curve"])
    return info


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    info = train_with_ray(args) if args.ray else train_local(args)
    last = info["curve"][-1]
    print(json.dumps({"out": str(args.out), "steps": len(info["curve"]), "final_loss": last["loss"],
                      "wall_s": info["wall_s"]}), flush=True)
    return info


if __name__ == "__main__":
    main()
